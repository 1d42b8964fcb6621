//! A full experiment: every seed × every strategy, each under its seed's failure
//! trace, run side by side on the available cores, then written out and compared.
//!
//! Runs are independent and each is deterministic, so the results (and the files)
//! are the same whatever the number of threads or the order they finish in.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::data::{self, DataError, RawData, SplitData};

use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::numerics::backend::cpu::CpuBackend;
use crate::numerics::backend::{Backend, BackendError};
use crate::numerics::device::Device;
use crate::numerics::model::Mlp;
use crate::scenario::{LoadedScenario, Scenario, Strategy};
use crate::timing::simulation::{RunSummary, StopReason};
use crate::training::driver::{drive_alone, drive_together_watched};
use crate::training::timeline::Timeline;
use crate::training::together::{self, Share};
use crate::training::{Divergence, RoundMetrics, Trainer, TrainerSettings};
use crate::weighting::WeightingStrategy;

/// One strategy under one seed.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunOutcome {
    /// The strategy's label.
    pub strategy: String,
    /// The seed.
    pub seed: u64,
    /// The center's metrics, round by round.
    pub metrics: Vec<RoundMetrics>,
    /// What the engine did.
    pub summary: RunSummary,
    /// The fingerprint of the event log.
    pub event_log: u64,
    /// Set when the run diverged.
    pub divergence: Option<Divergence>,
    /// Wall-clock seconds the run took (for the manifest; never in the CSVs,
    /// which stay bit-identical between runs).
    pub wall_s: f64,
    /// Whether intermediate evaluations used the test subset.
    pub test_subset: bool,
    /// The fingerprint of everything the run recorded for the backend
    /// ([`crate::numerics::program::Program::fingerprint`]). It depends only on
    /// the scenario and seed for strategies that read no computed number; for
    /// the others it also depends on the numbers, hence on the backend.
    pub program: u64,
}

impl RunOutcome {
    /// The final round's test accuracy (0 with no round).
    pub fn final_accuracy(&self) -> f64 {
        self.metrics.last().map_or(0.0, |m| m.evaluation.test_accuracy)
    }

    /// Rounds completed (the last row's round: the last round is always evaluated).
    pub fn rounds(&self) -> u64 {
        self.metrics.last().map_or(0, |m| m.round)
    }

    /// The best test accuracy of any evaluated round (subset estimates included).
    pub fn best_accuracy(&self) -> f64 {
        self.metrics.iter().map(|m| m.evaluation.test_accuracy).fold(0.0, f64::max)
    }

    /// The first evaluated round (and its end time) whose test accuracy reached
    /// `target`; with `evaluate_every` > 1 the target may have been reached in an
    /// unevaluated round before it, and with a test subset the subset estimate decides.
    pub fn reached(&self, target: f64) -> Option<(u64, SimTime)> {
        self.metrics.iter().find(|m| m.evaluation.test_accuracy >= target).map(|m| (m.round, m.time))
    }

    /// `ok`, `diverged`, or why the engine stopped early.
    pub fn status(&self) -> &'static str {
        match (&self.divergence, self.summary.reason) {
            (Some(_), _) => "diverged",
            (None, StopReason::Rounds) => "ok",
            (None, StopReason::TimeLimit) => "time-limit",
            (None, StopReason::EventLimit) => "event-limit",
            (None, StopReason::Stalled) => "stalled",
            (None, StopReason::Observer) => "stopped",
        }
    }
}

/// One run to train: a strategy under a seed's split data, trace and timeline.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    /// The seed's data split.
    pub data: &'a SplitData,
    /// The seed's failure trace.
    pub trace: &'a Trace,
    /// The seed's happenings under it.
    pub timeline: &'a Timeline,
    /// The seed.
    pub seed: u64,
    /// The strategy.
    pub strategy: &'a Strategy,
}

/// Trains one job on the CPU backend, one thread.
pub fn run_one(loaded: &LoadedScenario, job: Job) -> RunOutcome {
    run_one_on(loaded, job, 1)
}

/// Trains one job on the CPU backend, its ready worker steps spread over
/// `threads` threads (the same bits for every count).
pub fn run_one_on(loaded: &LoadedScenario, job: Job, threads: usize) -> RunOutcome {
    let t = &loaded.scenario.training;
    let mut backend = CpuBackend::new(model_of(loaded, job.data), &t.optimizer, t.data.batch as usize)
        .with_threads(threads);
    let mut outcomes = train_batch(loaded, &mut backend, &[job]).expect("the CPU backend never fails");
    outcomes.pop().expect("one outcome per job")
}

/// The model a scenario trains on its data.
pub fn model_of(loaded: &LoadedScenario, data: &SplitData) -> Mlp {
    let model = &loaded.scenario.training.model;
    let hidden: Vec<usize> = model.hidden.iter().map(|&h| h as usize).collect();
    Mlp::new(data.inputs, &hidden, data.classes, model.activation)
}

/// The trainer's settings for one job.
pub fn settings(loaded: &LoadedScenario, job: &Job) -> TrainerSettings {
    let scenario = &loaded.scenario;
    let t = &scenario.training;
    TrainerSettings {
        label: job.strategy.label(),
        seed: job.seed,
        workers: scenario.workers,
        alpha: t.alpha(scenario.workers),
        batch: t.data.batch as usize,
        coupling: t.coupling,
        optimizer: t.optimizer.clone(),
        evaluate_every: u64::from(t.evaluate_every),
        last_round: scenario.stop.rounds,
        test_subset: job.data.test_subset.is_some(),
    }
}

/// Trains every job on `backend`, all recorded side by side and executed in
/// shared batches ([`drive_together`]). A run that diverged is replayed alone up
/// to the happening where it diverged, so its metrics, summary and event log are
/// those of a run stopped right there.
pub fn train_batch<'d, B: Backend<'d>>(
    loaded: &LoadedScenario,
    backend: &mut B,
    jobs: &[Job<'d>],
) -> Result<Vec<RunOutcome>, BackendError> {
    train_batch_with(loaded, backend, jobs, &|job| job.strategy.build())
}

/// [`train_batch`] with the weighting strategy of each job made by `strategy`
/// (a strategy no scenario can name, in tests and experiments of your own).
pub fn train_batch_with<'d, B: Backend<'d>>(
    loaded: &LoadedScenario,
    backend: &mut B,
    jobs: &[Job<'d>],
    strategy: &dyn Fn(&Job) -> Box<dyn WeightingStrategy + Send>,
) -> Result<Vec<RunOutcome>, BackendError> {
    let of_scenario: Vec<(&LoadedScenario, Job<'d>)> = jobs.iter().map(|job| (loaded, *job)).collect();
    train_mixed(backend, &of_scenario, strategy, &|_| {})
}

/// [`train_batch_with`] for jobs of several scenarios (a sweep's grid points),
/// each with its own: one backend, so their models, optimizers and batch sizes
/// must be the backend's. `watch` is told, as training goes, how many jobs'
/// worth of work is done.
pub(crate) fn train_mixed<'d, B: Backend<'d>>(
    backend: &mut B,
    jobs: &[(&LoadedScenario, Job<'d>)],
    strategy: &dyn Fn(&Job) -> Box<dyn WeightingStrategy + Send>,
    watch: &dyn Fn(f64),
) -> Result<Vec<RunOutcome>, BackendError> {
    let start =
        |backend: &mut B, loaded: &LoadedScenario, job: &Job<'d>| -> Result<Trainer<'d>, BackendError> {
            let mlp = model_of(loaded, job.data);
            let run = backend.add_run(job.data, loaded.scenario.workers as usize, &mlp.init(job.seed))?;
            let indices = (0..loaded.scenario.workers as usize).map(|w| job.data.shards.of(w)).collect();
            Ok(Trainer::new(run, job.timeline, strategy(job), settings(loaded, job), indices, job.trace))
        };
    let mut trainers = Vec::with_capacity(jobs.len());
    for (loaded, job) in jobs {
        trainers.push(start(backend, loaded, job)?);
    }
    drive_together_watched(&mut trainers, backend, watch)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for ((loaded, job), trainer) in jobs.iter().zip(trainers) {
        backend.remove_run(trainer.run());
        let (trainer, summary, event_log) = match trainer.diverged_at() {
            None => (trainer, job.timeline.summary.clone(), job.timeline.event_log),
            Some(index) => {
                let mut replay = start(backend, loaded, job)?.stopping_after(index);
                drive_alone(&mut replay, backend)?;
                backend.remove_run(replay.run());
                let (summary, event_log) = Timeline::stopped_at(&loaded.scenario, job.trace, job.seed, index);
                (replay, summary, event_log)
            }
        };
        let program = trainer.program().fingerprint();
        let (metrics, divergence) = trainer.finish();
        outcomes.push(RunOutcome {
            strategy: job.strategy.label(),
            seed: job.seed,
            metrics,
            summary,
            event_log,
            divergence,
            wall_s: 0.0,
            test_subset: job.data.test_subset.is_some(),
            program,
        });
    }
    Ok(outcomes)
}

/// Everything an experiment produced.
#[derive(Debug)]
pub struct Experiment {
    /// Seeds, in order.
    pub seeds: Vec<u64>,
    /// Strategies, in order.
    pub strategies: Vec<Strategy>,
    /// One trace per seed.
    pub traces: Vec<Trace>,
    /// One timeline per seed: the happenings every strategy of the seed follows.
    pub timelines: Vec<Timeline>,
    /// Runs, seed-major then strategy order.
    pub runs: Vec<RunOutcome>,
}

/// Why an experiment could not run.
#[derive(Debug)]
pub enum ExperimentError {
    /// The data could not be loaded or split (bad input).
    Data(DataError),
    /// The backend failed (device lost, out of memory, kernel failure).
    Backend(BackendError),
}

impl std::fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExperimentError::Data(e) => write!(f, "{e}"),
            ExperimentError::Backend(e) => write!(f, "error: {e}"),
        }
    }
}

impl From<DataError> for ExperimentError {
    fn from(e: DataError) -> Self {
        ExperimentError::Data(e)
    }
}

impl From<BackendError> for ExperimentError {
    fn from(e: BackendError) -> Self {
        ExperimentError::Backend(e)
    }
}

/// Loads the data and runs every seed × strategy, seed `seeds[i]` under
/// `traces[i]` (see [`crate::timing::schedule::realize`]): on the CPU, on up to
/// `jobs` threads, one run per thread; on a GPU, all runs together on one backend,
/// their programs executed in shared batches. `progress` is told each run as it
/// finishes (on a GPU, all at the end). The results do not depend on `jobs` or on
/// how runs are batched.
pub fn run_all(
    loaded: &LoadedScenario,
    seeds: &[u64],
    traces: &[Trace],
    strategies: &[Strategy],
    jobs: usize,
    device: &Device,
    progress: &(dyn Fn(&RunOutcome) + Sync),
) -> Result<Experiment, ExperimentError> {
    run_all_resuming(loaded, (seeds, traces), strategies, Vec::new(), (jobs, device), progress)
}

/// [`run_all`] with the outcomes of runs already `done` (by an interrupted
/// invocation of the same scenario, seeds and device): those are taken as they
/// are, not trained again, nor told to `progress`.
pub fn run_all_resuming(
    loaded: &LoadedScenario,
    (seeds, traces): (&[u64], &[Trace]),
    strategies: &[Strategy],
    done: Vec<RunOutcome>,
    (jobs, device): (usize, &Device),
    progress: &(dyn Fn(&RunOutcome) + Sync),
) -> Result<Experiment, ExperimentError> {
    if let Device::Gpu(context) = device {
        let share = Share { loaded, seeds, traces, strategies, done, progress };
        let mut experiment = None;
        together::run_on_gpu(context, vec![share], &|_| {}, &mut |_, result| experiment = Some(result));
        return experiment.expect("every share gets its experiment");
    }
    let prepared = prepare(loaded, seeds, traces)?;
    let (slots, pending) = slots(&prepared, strategies, done);
    let job = |index: usize| prepared[index / strategies.len()].job(&strategies[index % strategies.len()]);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunOutcome>>> = Mutex::new(slots);
    // Cores the runs in parallel leave idle go to each run's worker steps.
    let parallel = jobs.clamp(1, pending.len().max(1));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / parallel).max(1);
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                loop {
                    let at = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = pending.get(at) else { break };
                    let started = std::time::Instant::now();
                    let mut outcome = run_one_on(loaded, job(index), threads);
                    outcome.wall_s = started.elapsed().as_secs_f64();
                    progress(&outcome);
                    results.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(outcome);
                }
            });
        }
    });
    let runs = results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect();
    Ok(Experiment::of(prepared, strategies, runs))
}

/// What every run of one seed shares: its data split, failure trace and timeline.
pub struct SeedInputs {
    /// The seed.
    pub seed: u64,
    /// The data split for this seed.
    pub data: SplitData,
    /// Its failure trace.
    pub trace: Trace,
    /// Its happenings under the trace, recorded once for every strategy.
    pub timeline: Timeline,
    /// The failure-free control arm's empty trace and its happenings, when the
    /// scenario trains one (`training.control`).
    pub control: Option<(Trace, Timeline)>,
}

impl SeedInputs {
    /// The job of training `strategy` on this seed: under the seed's failure
    /// trace, or, for the control arm, under none.
    pub fn job<'a>(&'a self, strategy: &'a Strategy) -> Job<'a> {
        let (trace, timeline) = match strategy {
            Strategy::Control => {
                let control =
                    self.control.as_ref().expect("a control arm only where the scenario asks for one");
                (&control.0, &control.1)
            }
            _ => (&self.trace, &self.timeline),
        };
        Job { data: &self.data, trace, timeline, seed: self.seed, strategy }
    }
}

/// Loads the scenario's data once and prepares seed `seeds[i]` under `traces[i]`
/// (see [`crate::timing::schedule::realize`]).
pub fn prepare(
    loaded: &LoadedScenario,
    seeds: &[u64],
    traces: &[Trace],
) -> Result<Vec<SeedInputs>, DataError> {
    let raw: RawData = data::load(&loaded.scenario.training.data, &loaded.base_dir)?;
    prepare_from(&raw, loaded, seeds, traces)
}

/// [`prepare`] on data already loaded (the scenario's, as [`data::load`] gives it).
pub fn prepare_from(
    raw: &RawData,
    loaded: &LoadedScenario,
    seeds: &[u64],
    traces: &[Trace],
) -> Result<Vec<SeedInputs>, DataError> {
    assert_eq!(seeds.len(), traces.len(), "one trace per seed");
    let workers = loaded.scenario.workers as usize;
    seeds
        .iter()
        .zip(traces)
        .map(|(&seed, trace)| {
            let data = raw
                .split(&loaded.scenario.training.data, workers, seed)
                .map_err(|e| DataError { path: format!("{}: training.data", loaded.origin), ..e })?;
            // The happenings depend only on the scenario and the seed: once per seed.
            let timeline = Timeline::record(&loaded.scenario, trace, seed);
            let control = loaded.scenario.training.control.then(|| {
                let calm = Trace::new(loaded.name(), seed, loaded.scenario.workers, Vec::new());
                let timeline = Timeline::record(&control_scenario(&loaded.scenario), &calm, seed);
                (calm, timeline)
            });
            Ok(SeedInputs { seed, data, trace: trace.clone(), timeline, control })
        })
        .collect()
}

/// The scenario the failure-free control arm runs: no failure (its trace is
/// empty) and every worker at the scenario's base speed, since a persistently
/// slow worker is a disruption too.
pub fn control_scenario(scenario: &Scenario) -> Scenario {
    let mut calm = scenario.clone();
    calm.failures = Default::default();
    calm.compute.speed.clear();
    calm
}

/// Every run's place (seed-major, then strategy order): the outcome of a run
/// already `done`, or none; and the places of the runs still to train.
pub(crate) fn slots(
    prepared: &[SeedInputs],
    strategies: &[Strategy],
    done: Vec<RunOutcome>,
) -> (Vec<Option<RunOutcome>>, Vec<usize>) {
    let total = prepared.len() * strategies.len();
    let slots: Vec<Option<RunOutcome>> = (0..total)
        .map(|index| {
            let (seed, label) =
                (prepared[index / strategies.len()].seed, strategies[index % strategies.len()].label());
            done.iter().find(|d| d.seed == seed && d.strategy == label).cloned()
        })
        .collect();
    let pending = (0..total).filter(|&i| slots[i].is_none()).collect();
    (slots, pending)
}

impl Experiment {
    pub(crate) fn of(prepared: Vec<SeedInputs>, strategies: &[Strategy], runs: Vec<RunOutcome>) -> Self {
        let mut experiment = Experiment {
            seeds: Vec::new(),
            strategies: strategies.to_vec(),
            traces: Vec::new(),
            timelines: Vec::new(),
            runs,
        };
        for p in prepared {
            experiment.seeds.push(p.seed);
            experiment.traces.push(p.trace);
            experiment.timelines.push(p.timeline);
        }
        experiment
    }
}
