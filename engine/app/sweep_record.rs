//! sweep.json, the record that makes a folder a sweep folder: which grid (its
//! file, text and id), which points, which shard, and whether `merge` mixed
//! builds. Written by `sweep` and `merge`, read back strictly by both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::diagnostic::Diagnostic;
use crate::results::folder as output;

/// The file's name in a sweep folder.
pub const FILE: &str = "sweep.json";

/// Sweep records are small; a bigger file is not one.
const MAX_BYTES: u64 = 64 << 20;

/// What a sweep folder is a sweep of.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    /// The faultline version that made the folder.
    pub faultline: String,
    /// The grid file, absolute, so that `merge` finds it from anywhere.
    pub grid: PathBuf,
    /// FNV-1a of the grid's text and its base scenario's bytes
    /// ([`super::sweep::grid_id`]): folders of one grid have the same.
    pub grid_id: String,
    /// The grid file's text.
    #[serde(default)]
    pub grid_text: String,
    /// The grid's base scenario file.
    #[serde(default)]
    pub scenario: PathBuf,
    /// Every point's folder name, in grid order.
    #[serde(default)]
    pub points: Vec<String>,
    /// The shard (`I/N`) the folder was made for; none for a whole grid or a merge.
    #[serde(default)]
    pub shard: Option<String>,
    /// The builds, backends and devices a `merge --allow-mixed` joined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mixed: Vec<String>,
    /// Fields this build does not know, kept as they are.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl SweepRecord {
    /// The sweep.json of the folder `dir`, read strictly: the error names the
    /// file and the place or field.
    pub fn read_in(dir: &Path) -> Result<SweepRecord, Diagnostic> {
        let path = dir.join(FILE);
        let shown = path.display();
        let bytes = crate::base::input::read_bounded(&path, MAX_BYTES)
            .map_err(|e| Diagnostic::bad_input(format!("cannot read it: {e}")).at(&shown))?;
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.to_string();
            let message =
                message.trim_end_matches(&format!(" at line {} column {}", inner.line(), inner.column()));
            let problem =
                Diagnostic::bad_input(format!("{message}; expected the sweep.json of a faultline sweep"))
                    .at(format!("{shown}:{}:{}", inner.line(), inner.column()));
            if path == "." { problem } else { problem.field(path) }
        })
    }

    /// Writes it into `dir` atomically.
    pub fn write_in(&self, dir: &Path) -> Result<(), Diagnostic> {
        let path = dir.join(FILE);
        // Through a Value, whose maps sort their keys, as manifest.json.
        let value = serde_json::to_value(self).expect("a sweep record is plain data");
        output::write_atomic(&path, format!("{value:#}\n").as_bytes())
            .map_err(|e| Diagnostic::failed(format!("cannot write {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_and_errors_name_the_field() {
        let dir = std::env::temp_dir().join(format!("faultline-sweep-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let record = SweepRecord {
            faultline: "1".into(),
            grid: "/g.ron".into(),
            grid_id: "00ff".into(),
            points: vec!["000_workers=4".into()],
            shard: Some("0/2".into()),
            ..SweepRecord::default()
        };
        record.write_in(&dir).unwrap();
        assert_eq!(SweepRecord::read_in(&dir).unwrap(), record);
        std::fs::write(dir.join(FILE), r#"{"faultline": "1", "grid": "g", "grid_id": 7}"#).unwrap();
        let error = SweepRecord::read_in(&dir).unwrap_err().to_string();
        assert!(error.contains("sweep.json:1:") && error.contains(": grid_id: invalid type"), "{error}");
        std::fs::write(dir.join(FILE), "{\"faultline\": ").unwrap();
        assert!(SweepRecord::read_in(&dir).unwrap_err().to_string().contains("sweep.json:1:14"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
