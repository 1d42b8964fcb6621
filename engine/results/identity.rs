//! What a result was computed from, as one record: the resolved scenario text,
//! the content of every file the run reads (a replayed trace, the dataset's
//! files), the faultline build, and the backend and device.
//!
//! Run resume, sweep resume and `merge` all decide with it whether a result on
//! disk may stand for one about to be computed, so that no paired comparison ever
//! mixes two traces, two datasets or two builds. Files are identified by content
//! (FNV-1a of their bytes), not by path or date: an edited trace with the same
//! name is another input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::fingerprint::{fnv1a, hex};
use crate::numerics::device::Chosen;
use crate::scenario::LoadedScenario;

/// The identity of a result, as manifest.json records it (`identity`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// FNV-1a of the resolved scenario text (overrides applied).
    pub scenario: String,
    /// Every file the run reads, by role (`replay trace`, `dataset <file>`), with
    /// the FNV-1a of its content.
    pub inputs: BTreeMap<String, String>,
    /// The faultline version and the git commit it was built from.
    pub build: String,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// The device (the adapter's name and driver on a GPU).
    pub adapter: String,
}

/// The build this binary is: version and git commit.
pub fn build() -> String {
    match env!("FAULTLINE_GIT_COMMIT") {
        "" => env!("CARGO_PKG_VERSION").to_string(),
        commit => format!("{} ({commit})", env!("CARGO_PKG_VERSION")),
    }
}

impl Identity {
    /// The identity of results of `loaded` computed here on `chosen`.
    pub fn of(loaded: &LoadedScenario, chosen: &Chosen) -> Identity {
        Identity {
            scenario: hex(fnv1a(loaded.source.as_bytes())),
            inputs: inputs(loaded),
            build: build(),
            backend: chosen.device.backend().to_string(),
            adapter: chosen.device.adapter(),
        }
    }

    /// The identity of results computed under these traces (a rerun's, from its
    /// folder) rather than the ones the scenario realizes or replays.
    pub fn replaying<'a>(&mut self, traces: impl Iterator<Item = &'a crate::base::trace::Trace>) {
        let mut hash = crate::fingerprint::FNV_OFFSET;
        for trace in traces {
            hash = crate::fingerprint::extend(hash, trace.to_ron().as_bytes());
        }
        self.inputs.remove("replay trace");
        self.inputs.insert("recorded traces".to_string(), hex(hash));
    }

    /// The record as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an identity is plain data")
    }

    /// Reads a recorded identity (None: absent or not one, as in manifests
    /// written before faultline recorded it).
    pub fn from_json(value: &serde_json::Value) -> Option<Identity> {
        serde_json::from_value(value.clone()).ok()
    }

    /// What differs between `self` and `other`, in words (empty: the same).
    pub fn differences(&self, other: &Identity) -> Vec<String> {
        let mut changed = Vec::new();
        if self.scenario != other.scenario {
            changed.push("the scenario text".to_string());
        }
        let roles: std::collections::BTreeSet<&String> =
            self.inputs.keys().chain(other.inputs.keys()).collect();
        for role in roles {
            match (self.inputs.get(role), other.inputs.get(role)) {
                (Some(a), Some(b)) if a != b => changed.push(format!("the {role} (content)")),
                (Some(_), None) | (None, Some(_)) => changed.push(format!("whether it reads the {role}")),
                _ => {}
            }
        }
        if self.build != other.build {
            changed.push(format!("the faultline build ({} against {})", self.build, other.build));
        }
        if (&self.backend, &self.adapter) != (&other.backend, &other.adapter) {
            changed.push(format!(
                "the backend or device ({} {} against {} {})",
                self.backend, self.adapter, other.backend, other.adapter
            ));
        }
        changed
    }
}

/// Every file `loaded` makes a run read, with its content hash.
fn inputs(loaded: &LoadedScenario) -> BTreeMap<String, String> {
    let mut inputs = BTreeMap::new();
    if let Some(trace) = &loaded.replay {
        // The trace as parsed and checked: what the run replays.
        inputs.insert("replay trace".to_string(), hex(fnv1a(trace.to_ron().as_bytes())));
    }
    for file in crate::data::input_files(&loaded.scenario.training.data, &loaded.base_dir) {
        let name = file.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        if let Some(hash) = file_hash(&file) {
            inputs.insert(format!("dataset file {name}"), hash);
        }
    }
    inputs
}

/// A file's content hash, remembered per (path, length, modification time) for
/// the life of the process: a sweep names the same dataset at every point.
fn file_hash(path: &Path) -> Option<String> {
    /// A file as last seen: path, length and modification time.
    type Seen = (PathBuf, u64, Option<std::time::SystemTime>);
    static SEEN: Mutex<BTreeMap<Seen, String>> = Mutex::new(BTreeMap::new());
    let meta = std::fs::metadata(path).ok().filter(std::fs::Metadata::is_file)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(hash) = SEEN.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Some(hash.clone());
    }
    // In pieces: a dataset file may be large, and is hashed before it is checked.
    let mut file = std::fs::File::open(path).ok()?;
    let (mut hash, mut buffer) = (crate::fingerprint::FNV_OFFSET, vec![0u8; 1 << 20]);
    loop {
        match std::io::Read::read(&mut file, &mut buffer) {
            Ok(0) => break,
            Ok(n) => hash = crate::fingerprint::extend(hash, &buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let hash = hex(hash);
    SEEN.lock().unwrap_or_else(|e| e.into_inner()).insert(key, hash.clone());
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            scenario: "01".into(),
            inputs: BTreeMap::from([("replay trace".to_string(), "aa".to_string())]),
            build: "0.1.0 (abc)".into(),
            backend: "cpu".into(),
            adapter: "cpu".into(),
        }
    }

    #[test]
    fn every_difference_is_named() {
        let a = identity();
        assert!(a.differences(&a).is_empty());
        let mut b = identity();
        b.inputs.insert("replay trace".into(), "bb".into());
        b.build = "0.1.0 (def)".into();
        let changed = b.differences(&a);
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert!(changed[0].contains("replay trace") && changed[1].contains("build"), "{changed:?}");
        assert_eq!(Identity::from_json(&a.json()), Some(a));
        assert_eq!(Identity::from_json(&serde_json::json!({"scenario": "01"})), None);
    }
}
