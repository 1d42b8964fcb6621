//! Writing a results folder: staging it (saying what it replaces), manifest.json
//! last, and the message for a folder that could not be finished.

use std::path::Path;

use super::{Diagnostic, Voice};
use crate::results::folder::{self as output, ResultsFolder};
use crate::results::manifest::{self, Manifest};
use crate::scenario::LoadedScenario;
use crate::timing::schedule::Schedule;

/// Checks and stages the output folder, saying what it replaces.
pub(super) fn prepare_out(
    out: &Path,
    schedules: &[Schedule],
    runs: usize,
    voice: Voice,
) -> Result<ResultsFolder, Diagnostic> {
    // About 200 bytes a round per run, a line per failure event, and the small files.
    let rounds: u64 = schedules.iter().map(|s| s.summary.rounds + 1).max().unwrap_or(1);
    let events: u64 = schedules.iter().map(|s| s.trace.events.len() as u64).sum();
    let needed = (runs as u64 * rounds * 200).saturating_add(events * 120).saturating_add(1 << 20);
    let folder = output::prepare(out, needed)?;
    if let Some(previous) = folder.replaces()
        && voice.details()
    {
        voice.say(format_args!("{}: replacing {previous}", out.display()));
    }
    Ok(folder)
}

/// A results folder that could not be finished: the run failed, the earlier
/// results (if any) stand.
pub(super) fn write_failed(out: &Path, error: &std::io::Error) -> Diagnostic {
    Diagnostic::failed(format!("cannot write the results to {}: {error}", out.display()))
        .note(format!("nothing was replaced; what {} held before is untouched", out.display()))
}

/// Writes manifest.json, last: `manifest` with the version, the scenario's
/// identity and text, and every file of the folder filled in.
pub(super) fn write_manifest(
    folder: &mut ResultsFolder,
    loaded: &LoadedScenario,
    mut manifest: Manifest,
) -> std::io::Result<()> {
    manifest.scenario = Some(loaded.name().to_string());
    manifest.scenario_source = Some(loaded.origin.clone());
    manifest.scenario_hash = Some(manifest::scenario_hash(&loaded.source));
    manifest.overrides = loaded.overrides.iter().map(|o| o.argument()).collect();
    manifest.git_commit = Some(env!("FAULTLINE_GIT_COMMIT")).filter(|c| !c.is_empty()).map(str::to_string);
    // What `faultline rerun` needs to run the very same scenario again.
    manifest.scenario_text = Some(loaded.source.clone());
    manifest.scenario_base_dir =
        Some(std::path::absolute(&loaded.base_dir).unwrap_or_else(|_| loaded.base_dir.clone()));
    manifest.files = folder.files().to_vec();
    folder.write(manifest::FILE, manifest.to_text().as_bytes())
}
