//! `faultline rerun DIR/manifest.json`: runs the very scenario, seeds and
//! strategies a results folder was made from, again, into another folder. On the
//! same backend and device the CSVs and traces come out bit-identical.

use std::path::{Path, PathBuf};

use super::Failure;
use crate::app::{Plan, Voice, execute, select_strategies};
use crate::base::trace::Trace;
use crate::numerics::device::BackendChoice;
use crate::scenario::LoadedScenario;

/// Manifests are small; anything bigger is not one.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// Reruns what `manifest` describes into `out` (default: the folder beside it,
/// named `<folder>-rerun`).
pub fn rerun(
    manifest: &Path,
    out: Option<PathBuf>,
    jobs: Option<std::num::NonZeroUsize>,
    backend: Option<BackendChoice>,
    quiet: bool,
) -> Result<(), Failure> {
    let shown = manifest.display();
    let bad = |message: String| Failure::BadInput(format!("error: {shown}: {message}"));
    let bytes = crate::base::input::read_bounded(manifest, MAX_MANIFEST_BYTES)
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::BadInput(format!(
            "error: {shown}:{}:{}: not a faultline manifest: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let text = |field: &str| -> Result<&str, Failure> {
        json.get(field).and_then(|v| v.as_str()).ok_or_else(|| {
            bad(format!(
                "field `{field}` is missing or not text\n  = note: manifests written before faultline could rerun \
                 (or by a dry run of an older version) lack it; rerun the original command instead"
            ))
        })
    };
    let source = text("scenario_text")?;
    let origin = text("scenario_source")?;
    let base_dir = PathBuf::from(text("scenario_base_dir")?);
    let name = text("scenario")?.to_string();
    // The text must be the one the results came from.
    if let Some(recorded) = json.get("scenario_hash") {
        let hash = crate::fingerprint::hex(crate::fingerprint::fnv1a(source.as_bytes()));
        if recorded.as_str() != Some(hash.as_str()) {
            return Err(bad(format!(
                "`scenario_text` does not match `scenario_hash` ({recorded} recorded, {hash} of the text): \
                 the manifest was edited; it no longer says what these results were made from"
            )));
        }
    }
    let loaded = LoadedScenario::from_bytes(source.as_bytes(), origin, &base_dir, Some(name))?;
    crate::timing::severity::check_units(&loaded)?;
    let seeds = seeds(&json).map_err(bad)?;
    let dry_run = json.get("mode").and_then(|m| m.as_str()) == Some("dry-run");
    let labels = strategies(&json).map_err(bad)?;
    if labels.is_empty() && !dry_run {
        return Err(bad("field `strategies` is missing or empty".into()));
    }
    let strategies = select_strategies(&loaded, &labels)?;
    // The backend the results came from, unless told otherwise.
    let recorded_backend = match json.get("backend") {
        None | Some(serde_json::Value::Null) => BackendChoice::Cpu,
        Some(value) => match value.as_str() {
            Some("cpu") => BackendChoice::Cpu,
            Some("gpu") => BackendChoice::Gpu,
            _ => {
                return Err(bad(format!(
                    "field `backend`: {value} is not a backend; expected \"cpu\" or \"gpu\""
                )));
            }
        },
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
    let choices = crate::results::Choices::from_manifest(&json);
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

/// The manifest's seeds: a list of distinct seeds, each a number or (dry runs)
/// an object with a `seed` number.
fn seeds(json: &serde_json::Value) -> Result<Vec<u64>, String> {
    let list =
        json.get("seeds").and_then(|s| s.as_array()).ok_or("field `seeds` is missing or not a list")?;
    let mut seeds = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let seed = entry.get("seed").unwrap_or(entry).as_u64().ok_or_else(|| {
            format!("field `seeds[{i}]`: {entry} is not a seed (expected a whole number from 0 to 2^64 - 1)")
        })?;
        if seeds.contains(&seed) {
            return Err(format!("field `seeds[{i}]`: seed {seed} is listed twice"));
        }
        seeds.push(seed);
    }
    if seeds.is_empty() {
        return Err("field `seeds` is empty".into());
    }
    Ok(seeds)
}

/// The manifest's strategy labels (none in a dry run's manifest).
fn strategies(json: &serde_json::Value) -> Result<Vec<String>, String> {
    let Some(value) = json.get("strategies") else { return Ok(Vec::new()) };
    let list = value.as_array().ok_or_else(|| format!("field `strategies`: {value} is not a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("field `strategies[{i}]`: {s} is not a label"))
        })
        .collect()
}

/// Each seed's `trace-seed-N.ron` beside the manifest, checked against the
/// scenario's workers.
fn recorded_traces(folder: &Path, seeds: &[u64], workers: u32) -> Result<Vec<Trace>, Failure> {
    seeds
        .iter()
        .map(|seed| {
            let path = folder.join(format!("trace-seed-{seed}.ron"));
            crate::scenario::read_trace_file(&path, workers).map_err(|e| {
                Failure::BadInput(format!(
                    "{}\n  = note: rerun replays the failure trace its folder recorded for each seed",
                    e.to_string().trim_end()
                ))
            })
        })
        .collect()
}
