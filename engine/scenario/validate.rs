//! Checks every value of a parsed scenario (and of a replayed trace), collecting all
//! problems with their positions rather than stopping at the first.

mod checker;
mod integers;
mod trace;
mod training;

use std::path::Path;

pub use integers::{IntegerRange, SCENARIO_INTEGERS, TRACE_INTEGERS, integer_range};
pub use trace::{TraceLoadError, load_trace};

use super::Scenario;
use super::budget::{self, MAX_RUN_BYTES};
use super::error::{Positioner, ScenarioErrors};
use super::spans::index;
use crate::base::trace::Trace;
use checker::Checker;
use training::check_training;

/// Most workers a scenario may have.
pub const MAX_WORKERS: u32 = 100_000;
/// Most seeds one scenario may list.
const MAX_SEEDS: usize = 10_000;
/// Most parameters a model may have (400 MB of f32 per copy).
const MAX_PARAMETERS: u64 = 100_000_000;
/// Longest scenario name in bytes: it names the results folder, and file names
/// stop at 255 bytes (a staging suffix is added while a run writes).
pub const MAX_NAME_BYTES: usize = 200;
/// Largest slowdown factor of a straggler.
const MAX_FACTOR: f64 = 1e6;
/// Largest log-space spread of a lognormal.
const MAX_SIGMA: f64 = 10.0;

/// Checks a parsed scenario; returns the replayed trace when `failures.replay` names one.
pub fn validate(
    scenario: &Scenario,
    source: &str,
    file: &str,
    base_dir: &Path,
) -> Result<Option<Trace>, ScenarioErrors> {
    let mut c = Checker {
        at: Positioner::new(file, source),
        problems: Vec::new(),
        workers: scenario.workers,
        integers: SCENARIO_INTEGERS,
    };
    check_identity(&mut c, scenario);
    check_stop_and_models(&mut c, scenario);
    check_training(&mut c, scenario, base_dir);
    if c.problems.is_empty() {
        check_memory(&mut c, scenario);
    }
    check_failures(&mut c, scenario);
    let replay = check_replay(&mut c, scenario, base_dir);

    if c.problems.is_empty() { Ok(replay) } else { Err(ScenarioErrors::sorted(c.problems)) }
}

/// The worker count, the seeds and the name.
fn check_identity(c: &mut Checker, scenario: &Scenario) {
    c.integer("workers", u64::from(scenario.workers));
    if scenario.seeds.is_empty() || scenario.seeds.len() > MAX_SEEDS {
        c.fail("seeds", format!("{} seeds listed", scenario.seeds.len()), format!("1 to {MAX_SEEDS} seeds"));
    }
    for (i, seed) in scenario.seeds.iter().enumerate() {
        if scenario.seeds[..i].contains(seed) {
            c.fail(&index("seeds", i), format!("seed {seed} is listed twice"), "distinct seeds");
        }
    }
    if let Some(name) = &scenario.name
        && !is_folder_name(name)
    {
        c.fail(
            "name",
            if name.len() > MAX_NAME_BYTES {
                format!("the name is {} bytes long, too long for a folder name", name.len())
            } else {
                format!("{:?} cannot name an output folder", truncated(name, 60))
            },
            format!(
                "a name of 1 to {MAX_NAME_BYTES} bytes without slashes or control characters, \
                 not starting with `.`"
            ),
        );
    }
}

/// The stop conditions and the compute, network and master models.
fn check_stop_and_models(c: &mut Checker, scenario: &Scenario) {
    c.integer("stop.rounds", scenario.stop.rounds);
    c.nonzero_time("stop.time_limit", scenario.stop.time_limit);
    c.integer("stop.max_events", scenario.stop.max_events);

    let compute = &scenario.compute;
    c.positive("compute.flops_per_second", compute.flops_per_second);
    for (&worker, &factor) in &compute.speed {
        let path = index("compute.speed", worker);
        c.worker(&path, worker);
        c.positive(&path, factor);
    }
    c.within("compute.jitter", compute.jitter, 0.0, MAX_SIGMA, true);
    if let Some(step) = compute.step_time {
        c.nonzero_time("compute.step_time", step);
    }

    c.latency("network.uplink", &scenario.network.uplink);
    c.latency("network.downlink", &scenario.network.downlink);
    c.positive("network.bandwidth", scenario.network.bandwidth);
    c.integer("network.header_bytes", scenario.network.header_bytes);
    c.positive("master.bytes_per_second", scenario.master.bytes_per_second);
}

/// The failure events and generators.
fn check_failures(c: &mut Checker, scenario: &Scenario) {
    let failures = &scenario.failures;
    c.events("failures.events", &failures.events);
    if let Some(generator) = &failures.generate {
        let horizon = generator.until.unwrap_or(scenario.stop.time_limit);
        c.nonzero_time("failures.generate.until", horizon);
        if let Some(m) = &generator.crashes {
            c.nonzero_span("failures.generate.crashes.mean_time_to_failure", m.mean_time_to_failure);
            if let Some(repair) = m.mean_time_to_repair {
                c.nonzero_span("failures.generate.crashes.mean_time_to_repair", repair);
            }
            c.worker_list("failures.generate.crashes.workers", &m.workers);
        }
        if let Some(m) = &generator.stragglers {
            c.nonzero_span("failures.generate.stragglers.mean_interval", m.mean_interval);
            c.nonzero_span("failures.generate.stragglers.mean_duration", m.mean_duration);
            c.within("failures.generate.stragglers.factor", m.factor, 1.0, MAX_FACTOR, true);
            c.worker_list("failures.generate.stragglers.workers", &m.workers);
        }
        if let Some(m) = &generator.partitions {
            c.nonzero_span("failures.generate.partitions.mean_interval", m.mean_interval);
            c.nonzero_span("failures.generate.partitions.mean_duration", m.mean_duration);
            c.worker_list("failures.generate.partitions.workers", &m.workers);
        }
    }
}

/// The trace named by `failures.replay`, read and checked, if one is named.
fn check_replay(c: &mut Checker, scenario: &Scenario, base_dir: &Path) -> Option<Trace> {
    let failures = &scenario.failures;
    let mut replay = None;
    if let Some(file) = &failures.replay {
        if !failures.events.is_empty() || failures.generate.is_some() {
            c.fail(
                "failures.replay",
                "`replay` cannot be combined with `events` or `generate`",
                "either a trace to replay, or events and generators",
            );
        }
        match load_trace(&base_dir.join(file), scenario.workers) {
            Ok(trace) => replay = Some(trace),
            Err(TraceLoadError::Unreadable(e)) => c.fail(
                "failures.replay",
                format!("cannot read the trace {}: {e}", base_dir.join(file).display()),
                "a trace file written by `faultline trace`, relative to the scenario",
            ),
            Err(TraceLoadError::Invalid(errors)) => {
                let at = c.at.error("failures.replay", String::new(), None);
                let note = format!("in the trace replayed by {}:{}:{}", at.file, at.line, at.col);
                c.problems.extend(errors.0.into_iter().map(|mut e| {
                    e.note = Some(note.clone());
                    e
                }));
            }
        }
    }
    replay
}

/// Refuses a scenario whose runs could not fit in [`MAX_RUN_BYTES`], before
/// anything is allocated.
fn check_memory(c: &mut Checker, scenario: &Scenario) {
    let estimate = budget::estimate(scenario);
    if estimate.total() > MAX_RUN_BYTES {
        let (path, what) = estimate.culprit(scenario.workers);
        c.fail(
            path,
            format!(
                "a run would need about {} of memory, most of it for {what} ({})",
                budget::human_bytes(estimate.total()),
                budget::human_bytes(match path {
                    "training.data.batch" => estimate.activations,
                    "training.data" => estimate.data,
                    "training.data.overlap" => estimate.shards,
                    _ => estimate.model_state,
                })
            ),
            format!(
                "a scenario whose run fits in {} (a smaller model, batch or fewer workers)",
                budget::human_bytes(MAX_RUN_BYTES)
            ),
        );
    }
}

/// At most `chars` characters of `text`, with `…` when cut.
fn truncated(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// Whether `name` can name a results folder: 1 to [`MAX_NAME_BYTES`] bytes, no
/// slash or control character, not starting with `.` (hidden, or `..`).
pub fn is_folder_name(name: &str) -> bool {
    !(name.is_empty()
        || name.len() > MAX_NAME_BYTES
        || name.starts_with('.')
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control))
}
