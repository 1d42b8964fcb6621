//! The scenario file: what to simulate, written in RON and validated field by field.
//!
//! Every field has a default (see docs/scenario.md), so `()` is a valid scenario.
//! Loading a file parses it with unknown fields rejected, then checks every value;
//! any problem is reported as `file:line:col`, the field path, the offending text and
//! what was expected ([`ScenarioError`]).

mod budget;
mod error;

mod maps;
mod overrides;
mod spans;
#[cfg(test)]
mod tests;
mod training;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub(crate) use budget::nominal_samples;
pub use budget::{MAX_RUN_BYTES, MemoryEstimate, human_bytes};
pub use error::{ScenarioError, ScenarioErrors};

pub use overrides::Override;
pub use training::{Coupling, ModelConfig, Recovery, Training};

// The data and numerics settings are scenario fields too; they are defined beside
// the code that uses them, below the scenario in the stack.
pub use crate::data::spec::{CLASSES, Data, Dataset, DirichletConfig, LabelSortedConfig, Partition};
pub use crate::numerics::config::{Activation, AdaHessianConfig, Optimizer, SgdConfig};
pub use crate::weighting::{CONTROL, DynamicConfig, StalenessConfig, Strategy};
pub use validate::is_folder_name;

use crate::base::faults::{FailureEvent, Generator};
use crate::base::time::SimTime;
use crate::base::trace::Trace;

/// The quickstart scenario, embedded in the binary: what `faultline run` runs with
/// no scenario argument.
pub const QUICKSTART: &str = include_str!("../scenarios/quickstart.ron");
/// The name the embedded quickstart is reported under.
pub const QUICKSTART_PATH: &str = "scenarios/quickstart.ron";

/// A whole scenario: the cluster, its timing models, its failures and its training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Name used for the default output folder; default: the file's stem.
    pub name: Option<String>,
    /// Seeds to run when `--seed` is not given.
    pub seeds: Vec<u64>,
    /// Number of workers k.
    pub workers: u32,
    /// When a run ends.
    pub stop: Stop,
    /// How long local steps take.
    pub compute: Compute,
    /// How long messages take.
    pub network: Network,
    /// How long the master takes per update.
    pub master: Master,
    /// What goes wrong, and when.
    pub failures: Failures,
    /// What is trained, and how.
    pub training: Training,
}

impl Scenario {
    /// What one training run of this scenario needs in memory (an estimate that
    /// errs high; see [`MemoryEstimate`]).
    pub fn estimate_memory(&self) -> MemoryEstimate {
        budget::estimate(self)
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: None,
            seeds: vec![1],
            workers: 4,
            stop: Stop::default(),
            compute: Compute::default(),
            network: Network::default(),
            master: Master::default(),
            failures: Failures::default(),
            training: Training::default(),
        }
    }
}

/// When a run ends: after `rounds` communication rounds, at `time_limit` of virtual
/// time, or after `max_events` events (a guard against scenarios that make no
/// progress, e.g. a timeout shorter than any round trip), whichever comes first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stop {
    /// Communication rounds to run.
    pub rounds: u64,
    /// Virtual time after which the run stops even if rounds remain.
    pub time_limit: SimTime,
    /// Events the engine may process before it gives up.
    pub max_events: u64,
}

impl Default for Stop {
    fn default() -> Self {
        Stop { rounds: 100, time_limit: SimTime::from_secs(3600), max_events: 1_000_000_000 }
    }
}

/// The compute model: a step costs the model's FLOPs divided by the worker's speed,
/// times a lognormal jitter of median 1, times any straggler factor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Compute {
    /// Speed of a worker, in FLOP/s.
    pub flops_per_second: f64,
    /// Relative speed of particular workers (worker id → factor; 0.5 = half speed).
    #[serde(deserialize_with = "maps::worker_map")]
    pub speed: BTreeMap<u32, f64>,
    /// Log-space standard deviation of the per-step jitter; 0 = none.
    pub jitter: f64,
    /// A fixed step time instead of the FLOP-based one (still scaled by speed,
    /// jitter and stragglers).
    pub step_time: Option<SimTime>,
}

impl Default for Compute {
    fn default() -> Self {
        Compute { flops_per_second: 2e9, speed: BTreeMap::new(), jitter: 0.0, step_time: None }
    }
}

/// One direction's latency distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Latency {
    /// Always the same latency.
    Constant(SimTime),
    /// Uniform between `min` and `max`.
    Uniform {
        /// Smallest latency.
        min: SimTime,
        /// Largest latency.
        max: SimTime,
    },
    /// Lognormal with the given median and log-space standard deviation.
    LogNormal {
        /// Median latency.
        median: SimTime,
        /// Log-space standard deviation.
        sigma: f64,
    },
    /// `base` plus an exponential tail with mean `mean`.
    ExponentialTail {
        /// The fixed part.
        base: SimTime,
        /// Mean of the exponential part.
        mean: SimTime,
    },
}

/// The network model: message time = latency + bytes / bandwidth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// Latency of worker → master messages.
    pub uplink: Latency,
    /// Latency of master → worker messages.
    pub downlink: Latency,
    /// Link bandwidth in bytes per second.
    pub bandwidth: f64,
    /// Bytes added to every message on top of the parameters (4 bytes each).
    pub header_bytes: u64,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            uplink: Latency::Constant(SimTime::from_micros(200)),
            downlink: Latency::Constant(SimTime::from_micros(200)),
            bandwidth: 1.25e9,
            header_bytes: 64,
        }
    }
}

/// The master's service time for one request: `update_time + bytes / bytes_per_second`.
/// Requests are served one at a time, first come first served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Master {
    /// Fixed cost of one update.
    pub update_time: SimTime,
    /// Memory throughput of the update, in bytes per second.
    pub bytes_per_second: f64,
}

impl Default for Master {
    fn default() -> Self {
        Master { update_time: SimTime::from_micros(20), bytes_per_second: 2e10 }
    }
}

/// Failures: explicit events, stochastic generators, or a trace file to replay.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Failures {
    /// Explicit events.
    pub events: Vec<FailureEvent>,
    /// Stochastic models, realized per seed.
    pub generate: Option<Generator>,
    /// A trace file (relative to the scenario file) to replay instead.
    pub replay: Option<String>,
}

/// Parses RON text of any other faultline input (a sweep grid), with the same
/// located errors as scenarios.
pub fn parse_ron_text<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, ScenarioErrors> {
    error::parse_ron(text, origin, error::FileKind::Scenario)
}

/// Where values sit in a RON text, by field path, for errors found after parsing.
pub struct SpanLookup(spans::SpanIndex);

impl SpanLookup {
    /// Indexes `source` (which parsed).
    pub fn new(source: &str) -> Self {
        SpanLookup(spans::SpanIndex::build(source))
    }

    /// The byte range of `path`'s value, or of its nearest written ancestor.
    pub fn find(&self, path: &str) -> (usize, usize) {
        self.0.find(path).unwrap_or((0, 0))
    }
}

/// Parses the text of a trace file (as written by `faultline trace`), without the
/// checks against a scenario that `failures.replay` adds.
pub fn parse_trace_text(text: &str, origin: &str) -> Result<Trace, ScenarioErrors> {
    error::parse_ron(text, origin, error::FileKind::Trace)
}

/// Reads and checks a trace file (as written by `faultline trace` or beside a
/// run's results) for a scenario of `workers` workers.
pub fn read_trace_file(path: &Path, workers: u32) -> Result<Trace, ScenarioErrors> {
    validate::load_trace(path, workers).map_err(|e| match e {
        validate::TraceLoadError::Unreadable(e) => ScenarioErrors::single(ScenarioError::whole_file(
            &path.display().to_string(),
            format!("cannot read the trace: {e}"),
        )),
        validate::TraceLoadError::Invalid(errors) => errors,
    })
}

/// A scenario read from a file (or the embedded quickstart), validated, with what it
/// refers to already loaded.
#[derive(Clone, Debug)]
pub struct LoadedScenario {
    /// The scenario itself.
    pub scenario: Scenario,
    /// Where it came from, as the user named it (used in messages).
    pub origin: String,
    /// The folder relative paths inside it are resolved against.
    pub base_dir: PathBuf,
    /// The replayed trace, when `failures.replay` names one.
    pub replay: Option<Trace>,
    /// The text the scenario was read from: the file with any `--set` overrides
    /// applied (what the manifest hashes).
    pub source: String,
    /// The `--set` overrides applied to the file, in order.
    pub overrides: Vec<Override>,
    /// The file's own text, before overrides (where errors point).
    file_text: String,
}

impl LoadedScenario {
    /// Reads, parses and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<LoadedScenario, ScenarioErrors> {
        Self::from_file_with(path, &[])
    }

    /// Reads a scenario file with `--set` overrides applied, then checks it.
    pub fn from_file_with(path: &Path, overrides: &[Override]) -> Result<LoadedScenario, ScenarioErrors> {
        let origin = path.display().to_string();
        let bytes =
            crate::base::input::read_bounded(path, crate::base::input::MAX_SCENARIO_BYTES).map_err(|e| {
                ScenarioErrors::single(ScenarioError::whole_file(
                    &origin,
                    format!("cannot read the file: {e}"),
                ))
            })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        Self::from_bytes_with(&bytes, &origin, &base_dir, stem, overrides)
    }

    /// The embedded quickstart scenario with `--set` overrides applied.
    pub fn quickstart_with(overrides: &[Override]) -> Result<LoadedScenario, ScenarioErrors> {
        Self::from_bytes_with(
            QUICKSTART.as_bytes(),
            QUICKSTART_PATH,
            Path::new("."),
            Some("quickstart".into()),
            overrides,
        )
    }

    /// The embedded quickstart scenario.
    pub fn quickstart() -> LoadedScenario {
        Self::from_bytes(QUICKSTART.as_bytes(), QUICKSTART_PATH, Path::new("."), Some("quickstart".into()))
            .expect("the embedded quickstart scenario is valid (tested)")
    }

    /// Parses and validates scenario text; `origin` names it in messages and
    /// `base_dir` anchors relative paths.
    pub fn from_bytes(
        bytes: &[u8],
        origin: &str,
        base_dir: &Path,
        default_name: Option<String>,
    ) -> Result<LoadedScenario, ScenarioErrors> {
        Self::from_bytes_with(bytes, origin, base_dir, default_name, &[])
    }

    /// [`LoadedScenario::from_bytes`] with `--set` overrides applied to the text
    /// first; errors point into the file or into the offending `--set`.
    pub fn from_bytes_with(
        bytes: &[u8],
        origin: &str,
        base_dir: &Path,
        default_name: Option<String>,
        overrides: &[Override],
    ) -> Result<LoadedScenario, ScenarioErrors> {
        let file_text = error::utf8_text(bytes, origin, error::FileKind::Scenario)?;
        let patched = overrides::apply(&file_text, overrides).map_err(|(which, message)| {
            ScenarioErrors::single(ScenarioError::whole_file(
                &format!("--set {}", overrides[which].argument()),
                message,
            ))
        })?;
        let relocate = |errors: ScenarioErrors| {
            if overrides.is_empty() {
                return errors;
            }
            let moved =
                errors.0.into_iter().map(|e| overrides::relocate(e, &patched, overrides, origin, &file_text));
            ScenarioErrors::sorted(moved.collect())
        };
        let source = patched.text.clone();
        let mut scenario: Scenario =
            error::parse_ron(&source, origin, error::FileKind::Scenario).map_err(relocate)?;
        let replay = validate::validate(&scenario, &source, origin, base_dir).map_err(relocate)?;
        if scenario.name.is_none() {
            scenario.name = default_name;
        }
        Ok(LoadedScenario {
            scenario,
            origin: origin.to_string(),
            base_dir: base_dir.to_path_buf(),
            replay,
            source,
            overrides: overrides.to_vec(),
            file_text,
        })
    }

    /// The scenario's name, for output folders.
    pub fn name(&self) -> &str {
        self.scenario.name.as_deref().unwrap_or("scenario")
    }

    /// An error located at the value of `path` in this scenario's source, for
    /// problems found after loading (e.g. while realizing its failures).
    pub fn error_at(&self, path: &str, message: String, expected: &str) -> ScenarioErrors {
        let at = error::Positioner::new(&self.origin, &self.source);
        let error = at.error(path, message, Some(expected.to_string()));
        if self.overrides.is_empty() {
            return ScenarioErrors::single(error);
        }
        let patched = overrides::apply(&self.file_text, &self.overrides).expect("applied once already");
        ScenarioErrors::single(overrides::relocate(
            error,
            &patched,
            &self.overrides,
            &self.origin,
            &self.file_text,
        ))
    }
}
