//! Resuming an interrupted `run` (or sweep point): each finished run's outcome is
//! recorded in the staging folder as it finishes, and the next run into the same
//! `--out` takes the recorded outcomes instead of training them again, when they
//! have the same [`Identity`]: the very same scenario text, input files (a
//! replayed trace, the dataset), faultline build, backend and device.
//! Outcomes are recorded exactly (JSON numbers round-trip every f64), so resumed
//! results are byte-identical to uninterrupted ones.

use std::fs;
use std::path::{Path, PathBuf};

use crate::base::input::read_bounded;
use crate::fingerprint::fnv1a;
use crate::results::folder::{ResultsFolder, write_atomic};
use crate::results::identity::Identity;
use crate::training::experiment::RunOutcome;

/// The records of one results folder's finished runs (none when the staging
/// folder cannot hold them).
pub struct Finished {
    dir: Option<PathBuf>,
}

const KEY: &str = "key.json";

impl Finished {
    /// Opens the folder's records: those of an interrupted run with the same
    /// key are returned; any others are removed.
    pub fn open(folder: &ResultsFolder, identity: &Identity) -> (Finished, Vec<RunOutcome>) {
        let Ok(dir) = folder.done() else { return (Finished { dir: None }, Vec::new()) };
        let key = identity.json();
        let recorded: Option<serde_json::Value> =
            read_bounded(&dir.join(KEY), 1 << 20).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if recorded.as_ref() == Some(&key) {
            let runs = read(&dir);
            return (Finished { dir: Some(dir) }, runs);
        }
        // Another scenario, input, build or device: start afresh.
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
        let _ = write_atomic(&dir.join(KEY), format!("{key:#}\n").as_bytes());
        (Finished { dir: Some(dir) }, Vec::new())
    }

    /// Records `run` (best effort: a record that cannot be written only means
    /// the run is trained again after an interruption).
    pub fn record(&self, run: &RunOutcome) {
        let Some(dir) = &self.dir else { return };
        let name = format!("{:016x}.run.json", fnv1a(format!("{}\n{}", run.strategy, run.seed).as_bytes()));
        if let Ok(bytes) = serde_json::to_vec(run) {
            let _ = write_atomic(&dir.join(name), &bytes);
        }
    }
}

/// Every readable record in `dir`.
fn read(dir: &Path) -> Vec<RunOutcome> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut runs: Vec<RunOutcome> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".run.json"))
        .filter_map(|e| read_bounded(&e.path(), 1 << 30).ok())
        // A record that does not parse is simply trained again.
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect();
    runs.sort_by(|a, b| (a.seed, &a.strategy).cmp(&(b.seed, &b.strategy)));
    runs
}
