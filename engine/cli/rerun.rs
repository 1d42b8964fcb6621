//! `faultline rerun DIR/manifest.json`: runs the very scenario, seeds and
//! strategies a results folder was made from, again, into another folder. On the
//! same backend and device the CSVs and traces come out bit-identical.

use std::path::{Path, PathBuf};

use super::Diagnostic;
use crate::app::{Plan, Voice, execute, select_strategies};
use crate::base::trace::Trace;
use crate::numerics::device::BackendChoice;
use crate::results::manifest::Manifest;
use crate::scenario::LoadedScenario;

/// Reruns what `manifest` describes into `out` (default: the folder beside it,
/// named `<folder>-rerun`).
pub fn rerun(
    manifest: &Path,
    out: Option<PathBuf>,
    jobs: Option<std::num::NonZeroUsize>,
    backend: Option<BackendChoice>,
    quiet: bool,
) -> Result<(), Diagnostic> {
    let shown = manifest.display().to_string();
    let bad = |message: String| Diagnostic::bad_input(message).at(&shown);
    let record = Manifest::read(manifest)?;
    let text = |field: &str, value: Option<&str>| -> Result<String, Diagnostic> {
        value.map(str::to_string).ok_or_else(|| {
            bad(format!("field `{field}` is missing")).note(
                "manifests written before faultline could rerun (or by a dry run of an older version) lack it; \
                 rerun the original command instead",
            )
        })
    };
    let source = text("scenario_text", record.scenario_text.as_deref())?;
    let origin = text("scenario_source", record.scenario_source.as_deref())?;
    let base_dir =
        record.scenario_base_dir.clone().ok_or_else(|| bad("field `scenario_base_dir` is missing".into()))?;
    let name = text("scenario", record.scenario.as_deref())?;
    // The text must be the one the results came from.
    if let Some(recorded) = &record.scenario_hash {
        let hash = crate::results::manifest::scenario_hash(&source);
        if *recorded != hash {
            return Err(bad(format!(
                "`scenario_text` does not match `scenario_hash` ({recorded} recorded, {hash} of the text): \
                 the manifest was edited; it no longer says what these results were made from"
            )));
        }
    }
    let loaded = LoadedScenario::from_bytes(source.as_bytes(), &origin, &base_dir, Some(name))?;
    crate::timing::severity::check_units(&loaded)?;
    let seeds = record.required_seeds(&shown)?.to_vec();
    let dry_run = record.is_dry_run();
    let labels = record.distinct_strategies(&shown)?.to_vec();
    if labels.is_empty() && !dry_run {
        return Err(bad("field `strategies` is missing or empty".into()));
    }
    let strategies = select_strategies(&loaded, &labels)?;
    // The backend the results came from, unless told otherwise.
    let recorded_backend = match record.backend.as_deref() {
        None | Some("cpu") => BackendChoice::Cpu,
        Some("gpu") => BackendChoice::Gpu,
        Some(other) => {
            return Err(bad(format!(
                "field `backend`: {other:?} is not a backend; expected \"cpu\" or \"gpu\""
            )));
        }
    };
    let backend = backend.unwrap_or(recorded_backend);
    let folder = manifest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // The failures the folder recorded, not those its scenario's replay path
    // (or generators) would give today.
    let traces = recorded_traces(folder, &seeds, loaded.scenario.workers)?;
    let out = out.unwrap_or_else(|| {
        let folder = std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf());
        let name =
            folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "results".into());
        folder.with_file_name(format!("{name}-rerun"))
    });
    // Presented as the original was.
    let choices = crate::results::Choices::from_manifest(&record);
    let traces = Some(traces);
    execute(Plan {
        loaded,
        seeds,
        strategies,
        out,
        jobs,
        backend,
        voice: Voice::quiet_if(quiet),
        dry_run,
        choices,
        on_run: None,
        traces,
    })
}

/// Each seed's `trace-seed-N.ron` beside the manifest, checked against the
/// scenario's workers.
fn recorded_traces(folder: &Path, seeds: &[u64], workers: u32) -> Result<Vec<Trace>, Diagnostic> {
    seeds
        .iter()
        .map(|seed| {
            let path = folder.join(format!("trace-seed-{seed}.ron"));
            crate::scenario::read_trace_file(&path, workers).map_err(|e| {
                Diagnostic::from(e).note("rerun replays the failure trace its folder recorded for each seed")
            })
        })
        .collect()
}
