//! Writing a results folder: staging it (saying what it replaces), manifest.json
//! last, and the message for a folder that could not be finished.

use std::path::Path;

use super::{Failure, Voice};
use crate::results::folder::{self as output, ResultsFolder};
use crate::scenario::LoadedScenario;
use crate::timing::schedule::Schedule;

/// Checks and stages the output folder, saying what it replaces.
pub(super) fn prepare_out(
    out: &Path,
    schedules: &[Schedule],
    runs: usize,
    voice: Voice,
) -> Result<ResultsFolder, Failure> {
    // About 200 bytes a round per run, a line per failure event, and the small files.
    let rounds: u64 = schedules.iter().map(|s| s.summary.rounds + 1).max().unwrap_or(1);
    let events: u64 = schedules.iter().map(|s| s.trace.events.len() as u64).sum();
    let needed = (runs as u64 * rounds * 200).saturating_add(events * 120).saturating_add(1 << 20);
    let folder = output::prepare(out, needed).map_err(Failure::BadInput)?;
    if let Some(previous) = folder.replaces()
        && voice.details()
    {
        voice.say(format_args!("{}: replacing {previous}", out.display()));
    }
    Ok(folder)
}

/// A results folder that could not be finished: the run failed, the earlier
/// results (if any) stand.
pub(super) fn write_failed(out: &Path, error: &std::io::Error) -> Failure {
    Failure::RunFailed(format!(
        "error: cannot write the results to {}: {error}\n  = note: nothing was replaced; what {} held before is untouched",
        out.display(),
        out.display()
    ))
}

/// Writes manifest.json, last: version and scenario identity, every file of the
/// folder, plus the run's `fields`.
pub(super) fn write_manifest(
    folder: &mut ResultsFolder,
    loaded: &LoadedScenario,
    fields: serde_json::Value,
) -> std::io::Result<()> {
    let mut manifest = serde_json::json!({
        "faultline": env!("CARGO_PKG_VERSION"),
        "scenario": loaded.name(),
        "scenario_source": loaded.origin,
        "scenario_hash": scenario_hash(&loaded.source),
        "overrides": loaded.overrides.iter().map(|o| o.argument()).collect::<Vec<_>>(),
        "git_commit": Some(env!("FAULTLINE_GIT_COMMIT")).filter(|c| !c.is_empty()),
        // What `faultline rerun` needs to run the very same scenario again.
        "scenario_text": loaded.source,
        "scenario_base_dir": std::path::absolute(&loaded.base_dir).unwrap_or_else(|_| loaded.base_dir.clone()),
    });
    if let (Some(all), serde_json::Value::Object(extra)) = (manifest.as_object_mut(), fields) {
        all.extend(extra);
        all.insert("files".into(), serde_json::json!(folder.files()));
    }
    folder.write("manifest.json", format!("{manifest:#}\n").as_bytes())
}

/// manifest.json's `scenario_hash` of a scenario's resolved text.
pub fn scenario_hash(source: &str) -> String {
    crate::fingerprint::hex(crate::fingerprint::fnv1a(source.as_bytes()))
}
