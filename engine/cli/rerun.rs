//! `faultline rerun DIR/manifest.json`: runs the very scenario, seeds and
//! strategies a results folder was made from, again, into another folder. On the
//! same backend and device the CSVs and traces come out bit-identical.

use std::path::{Path, PathBuf};

use super::Failure;
use super::run::{Plan, execute, select_strategies};
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
    let bytes = crate::scenario::read_input(manifest, MAX_MANIFEST_BYTES)
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
    let loaded = LoadedScenario::from_bytes(source.as_bytes(), origin, &base_dir, Some(name))?;
    let seeds: Vec<u64> = json
        .get("seeds")
        .and_then(|s| s.as_array())
        .map(|list| list.iter().filter_map(|s| s.get("seed").unwrap_or(s).as_u64()).collect())
        .filter(|seeds: &Vec<u64>| !seeds.is_empty())
        .ok_or_else(|| bad("field `seeds` is missing or empty".into()))?;
    let dry_run = json.get("mode").and_then(|m| m.as_str()) == Some("dry-run");
    let labels: Vec<String> = json
        .get("strategies")
        .and_then(|s| s.as_array())
        .map(|list| list.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if labels.is_empty() && !dry_run {
        return Err(bad("field `strategies` is missing or empty".into()));
    }
    let strategies = select_strategies(&loaded, &labels)?;
    // The backend the results came from, unless told otherwise.
    let backend = backend.unwrap_or(match json.get("backend").and_then(|b| b.as_str()) {
        Some("gpu") => BackendChoice::Gpu,
        _ => BackendChoice::Cpu,
    });
    let out = out.unwrap_or_else(|| {
        let folder = manifest.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let folder = std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf());
        let name =
            folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "results".into());
        folder.with_file_name(format!("{name}-rerun"))
    });
    // Presented as the original was.
    let choices = crate::results::Choices::from_manifest(&json);
    execute(Plan { loaded, seeds, strategies, out, jobs, backend, quiet, dry_run, choices, on_run: None })
}
