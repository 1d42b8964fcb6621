//! manifest.json, the record of a results folder, in one typed form: written last
//! by `run` and `--dry-run`, read back strictly (errors name the file and the
//! field path) by `plot`, `rerun`, resume, `sweep` and `merge`.
//!
//! Format 2 (this build) writes `format: 2`, and `seeds` is always a list of
//! seeds; a dry run's event-log fingerprints are in `event_logs`. Format 1 (no
//! `format` field) is still read: its dry runs listed `{seed, event_log}` objects
//! under `seeds`, and older runs lack the fields added since (each is optional
//! here, and the readers say what they do without it).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::identity::Identity;
use crate::base::diagnostic::Diagnostic;
use crate::numerics::gpu::Counts;

/// The file's name in a results folder.
pub const FILE: &str = "manifest.json";

/// The format this build writes.
pub const FORMAT: u32 = 2;

/// Manifests are small; a bigger file is not one and is not read whole.
const MAX_BYTES: u64 = 64 << 20;

/// What a results folder holds and how it was made.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The faultline version that wrote it (what makes a JSON file a manifest).
    pub faultline: String,
    /// The file format (1 when absent).
    #[serde(default = "format_one")]
    pub format: u32,
    /// `dry-run` for the timing-only results of `--dry-run`; absent for a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The scenario's name.
    #[serde(default)]
    pub scenario: Option<String>,
    /// The scenario file it was loaded from.
    #[serde(default)]
    pub scenario_source: Option<String>,
    /// FNV-1a of `scenario_text`.
    #[serde(default)]
    pub scenario_hash: Option<String>,
    /// The resolved scenario text (overrides applied): what `rerun` runs.
    #[serde(default)]
    pub scenario_text: Option<String>,
    /// The folder relative paths in the scenario are resolved from.
    #[serde(default)]
    pub scenario_base_dir: Option<PathBuf>,
    /// The `--set` overrides, as given.
    #[serde(default)]
    pub overrides: Vec<String>,
    /// The git commit the binary was built from (none outside a checkout).
    #[serde(default)]
    pub git_commit: Option<String>,
    /// The seeds, in the order they ran.
    #[serde(default, deserialize_with = "seed_list")]
    pub seeds: Option<Vec<u64>>,
    /// A dry run's event-log fingerprint per seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_logs: Vec<SeedEventLog>,
    /// The strategy labels that ran (the control arm as `control`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategies: Option<Vec<String>>,
    /// The accuracy "rounds to target" counts to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_accuracy: Option<f64>,
    /// N of the AUC over the first N rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_rounds: Option<u64>,
    /// Whether a failure-free control arm ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<bool>,
    /// The strategy the others were compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The seed whose failures the time plots shade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shaded_seed: Option<u64>,
    /// `cpu` or `gpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The device the runs used (`cpu`, or the GPU adapter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Per seed and worker, the failures' severity in failure-free rounds
    /// ([`super::report::severity_json`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<serde_json::Value>,
    /// What the results were computed from (absent before faultline recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// On the GPU: what the device context was handed while these results were
    /// computed (see `numerics::gpu::Counters`), shared with every run trained
    /// in the same batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_counters: Option<GpuCounters>,
    /// One record per run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunRecord>,
    /// Every file of the folder, manifest.json aside, in the order written.
    #[serde(default)]
    pub files: Vec<String>,
    /// Fields this build does not know (from a newer version), kept as they are
    /// when the manifest is updated in place.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

fn format_one() -> u32 {
    1
}

/// What kind of results a manifest describes, besides a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Timing only: traces and timing.csv, no training.
    #[serde(rename = "dry-run")]
    DryRun,
}

/// A dry run's fingerprint of one seed's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedEventLog {
    /// The seed.
    pub seed: u64,
    /// 16 hex digits.
    pub event_log: String,
}

/// A GPU run's counts of driver work, and the rounds they were spent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuCounters {
    /// Submissions, waits, read-backs, dispatches, copies, buffers, writes.
    #[serde(flatten)]
    pub counts: Counts,
    /// The most rounds any of the runs completed: divide by it for per round.
    pub rounds: u64,
}

/// What one run of a strategy under a seed did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The strategy's label.
    pub strategy: String,
    /// The seed.
    pub seed: u64,
    /// `ok` or `diverged`.
    pub status: String,
    /// Rounds completed.
    pub rounds: u64,
    /// The event log's fingerprint, 16 hex digits.
    pub event_log: String,
    /// Wall-clock seconds, to the millisecond.
    pub wall_s: f64,
}

impl Manifest {
    /// The common part of every manifest this build writes; the caller fills in
    /// the rest, and [`ResultsFolder`](super::folder::ResultsFolder) the files.
    pub fn new() -> Manifest {
        Manifest { faultline: env!("CARGO_PKG_VERSION").into(), format: FORMAT, ..Manifest::default() }
    }

    /// Reads `path` strictly: a syntax error is reported at `file:line:col`, a
    /// field of the wrong type by its path (`seeds[1]`).
    pub fn read(path: &Path) -> Result<Manifest, Diagnostic> {
        let shown = path.display();
        let bytes = crate::base::input::read_bounded(path, MAX_BYTES)
            .map_err(|e| Diagnostic::bad_input(format!("cannot read it: {e}")).at(&shown))?;
        Manifest::parse(&bytes, &shown.to_string())
    }

    /// The manifest.json of the results folder `dir`.
    pub fn read_in(dir: &Path) -> Result<Manifest, Diagnostic> {
        Manifest::read(&dir.join(FILE))
    }

    /// Parses manifest bytes; `shown` names the file in errors.
    pub fn parse(bytes: &[u8], shown: &str) -> Result<Manifest, Diagnostic> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            let message = e.to_string();
            let message = message.trim_end_matches(&format!(" at line {} column {}", e.line(), e.column()));
            Diagnostic::bad_input(format!("{message}; expected the JSON manifest of a faultline run"))
                .at(format!("{shown}:{}:{}", e.line(), e.column()))
        })?;
        if value.get("faultline").is_none() {
            return Err(Diagnostic::bad_input("not a faultline manifest (no `faultline` field)").at(shown));
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let problem = Diagnostic::bad_input(in_words(&e.into_inner().to_string())).at(shown);
            if path == "." { problem } else { problem.field(path) }
        })
    }

    /// The manifest as written: pretty JSON, keys sorted, a final newline.
    pub fn to_text(&self) -> String {
        // Through a Value, whose maps sort their keys: the field order of the
        // struct never shows in the file.
        let value = serde_json::to_value(self).expect("a manifest is plain data");
        format!("{value:#}\n")
    }

    /// Whether these are a dry run's results.
    pub fn is_dry_run(&self) -> bool {
        self.mode == Some(Mode::DryRun)
    }

    /// The seeds, required: the error names the field.
    pub fn required_seeds(&self, shown: &str) -> Result<&[u64], Diagnostic> {
        let bad = |message: String| Diagnostic::bad_input(message).at(shown);
        let seeds = self.seeds.as_deref().ok_or_else(|| bad("no `seeds` field".into()))?;
        if let Some(i) = (0..seeds.len()).find(|&i| seeds[..i].contains(&seeds[i])) {
            return Err(bad(format!("seed {} is listed twice", seeds[i])).field(format!("seeds[{i}]")));
        }
        if seeds.is_empty() {
            return Err(bad("is empty".into()).field("seeds"));
        }
        Ok(seeds)
    }

    /// The strategy labels, distinct (none in a dry run's manifest).
    pub fn distinct_strategies(&self, shown: &str) -> Result<&[String], Diagnostic> {
        let strategies = self.strategies.as_deref().unwrap_or_default();
        if let Some(i) = (0..strategies.len()).find(|&i| strategies[..i].contains(&strategies[i])) {
            return Err(Diagnostic::bad_input(format!("`{}` is listed twice", strategies[i]))
                .at(shown)
                .field(format!("strategies[{i}]")));
        }
        Ok(strategies)
    }

    /// The seeds of a manifest read leniently, for describing a folder (empty
    /// when it records none).
    pub fn seed_list(&self) -> &[u64] {
        self.seeds.as_deref().unwrap_or_default()
    }
}

/// serde's names of the expected types, in the words of the rest of faultline's messages.
fn in_words(message: &str) -> String {
    message
        .replace("expected f64", "expected a number")
        .replace("expected u64", "expected a whole number from 0 to 2^64 - 1")
        .replace("expected a boolean", "expected true or false")
}

/// manifest.json's `scenario_hash` of a scenario's resolved text.
pub fn scenario_hash(source: &str) -> String {
    crate::fingerprint::hex(crate::fingerprint::fnv1a(source.as_bytes()))
}

/// `seeds`: a list of seeds; format 1's dry runs listed `{seed, event_log}`
/// objects, read as their seeds.
fn seed_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u64>>, D::Error> {
    let entries: Option<Vec<SeedEntry>> = Option::deserialize(deserializer)?;
    Ok(entries.map(|list| list.into_iter().map(|SeedEntry(seed)| seed).collect()))
}

/// One entry of `seeds`: a seed, or format 1's `{seed, event_log}`.
struct SeedEntry(u64);

impl<'de> Deserialize<'de> for SeedEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<SeedEntry, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = SeedEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a seed (a whole number from 0 to 2^64 - 1)")
            }
            fn visit_u64<E: de::Error>(self, seed: u64) -> Result<SeedEntry, E> {
                Ok(SeedEntry(seed))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<SeedEntry, M::Error> {
                let logged = SeedEventLog::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(SeedEntry(logged.seed))
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(text.as_bytes(), "m.json").map_err(|e| e.to_string())
    }

    #[test]
    fn a_written_manifest_reads_back_the_same() {
        let mut manifest = Manifest::new();
        manifest.scenario = Some("quickstart".into());
        manifest.seeds = Some(vec![3, 1]);
        manifest.strategies = Some(vec!["uniform".into(), "dynamic".into()]);
        manifest.target_accuracy = Some(0.85);
        manifest.runs.push(RunRecord {
            strategy: "uniform".into(),
            seed: 3,
            status: "ok".into(),
            rounds: 20,
            event_log: "00000000000000ff".into(),
            wall_s: 0.125,
        });
        manifest.files = vec!["summary.csv".into()];
        let text = manifest.to_text();
        assert_eq!(parse(&text).unwrap(), manifest);
        // Keys sorted, whatever the struct's order.
        let keys: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("  \"")?.split('"').next()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn format_one_dry_runs_and_unknown_fields_are_read() {
        let old = r#"{"faultline": "0.1.0", "mode": "dry-run", "seeds": [{"seed": 4, "event_log": "ab"}],
                      "future": [1, 2]}"#;
        let manifest = parse(old).unwrap();
        assert_eq!((manifest.format, manifest.is_dry_run()), (1, true));
        assert_eq!(manifest.seeds, Some(vec![4]));
        assert_eq!(manifest.other["future"], serde_json::json!([1, 2]));
        assert!(manifest.to_text().contains("\"future\""), "kept when written again");
    }

    #[test]
    fn errors_name_the_place_and_the_field() {
        let cases = [
            ("{\"faultline\": \"0\",\n \"seeds\": [1,", "m.json:2:"),
            ("{\"scenario\": \"q\"}", "not a faultline manifest"),
            (
                r#"{"faultline": "0", "seeds": [1, "2"]}"#,
                "m.json: seeds[1]: invalid type: string \"2\", expected a seed",
            ),
            (r#"{"faultline": "0", "runs": [{"strategy": 1}]}"#, "m.json: runs[0].strategy: invalid type"),
            (r#"{"faultline": "0", "mode": "wet"}"#, "m.json: mode: unknown variant `wet`"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.starts_with("error: m.json") && error.contains(expected), "{error}");
        }
        let twice = parse(r#"{"faultline": "0", "seeds": [1, 1]}"#).unwrap();
        let error = twice.required_seeds("m.json").unwrap_err().to_string();
        assert_eq!(error, "error: m.json: seeds[1]: seed 1 is listed twice");
        let none = parse(r#"{"faultline": "0"}"#).unwrap();
        assert_eq!(none.required_seeds("m.json").unwrap_err().to_string(), "error: m.json: no `seeds` field");
    }
}
