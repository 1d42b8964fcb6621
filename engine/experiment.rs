//! A full experiment: every seed × every strategy, each under its seed's failure
//! trace, run side by side on the available cores, then written out and compared.
//!
//! Runs are independent and each is deterministic, so the results (and the files)
//! are the same whatever the number of threads or the order they finish in.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::Backend;
use crate::backend::cpu::CpuBackend;
use crate::data::{self, DataError, RawData, SplitData};
use crate::model::Mlp;
use crate::observe::EventLog;
use crate::scenario::{LoadedScenario, Strategy};
use crate::simulation::{RunSummary, Simulation, StopReason};
use crate::time::SimTime;
use crate::trace::Trace;
use crate::training::{Divergence, RoundMetrics, Trainer, TrainerSettings};
use crate::weighting;

/// One strategy under one seed.
#[derive(Clone, Debug)]
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

/// Trains `strategy` under `trace` on the CPU backend.
pub fn run_one(
    loaded: &LoadedScenario,
    data: &SplitData,
    trace: &Trace,
    seed: u64,
    strategy: &Strategy,
) -> RunOutcome {
    let scenario = &loaded.scenario;
    let t = &scenario.training;
    let mlp = model_of(loaded, data);
    let initial = mlp.init(seed);
    let workers = scenario.workers as usize;
    let backend = CpuBackend::new(mlp, data, workers, &initial, &t.optimizer, t.data.batch as usize);
    train(loaded, backend, data, trace, seed, strategy)
}

/// The model a scenario trains on its data.
pub fn model_of(loaded: &LoadedScenario, data: &SplitData) -> Mlp {
    let model = &loaded.scenario.training.model;
    let hidden: Vec<usize> = model.hidden.iter().map(|&h| h as usize).collect();
    Mlp::new(data.inputs, &hidden, data.classes, model.activation)
}

/// Trains `strategy` under `trace` on any backend.
pub fn train<B: Backend>(
    loaded: &LoadedScenario,
    backend: B,
    data: &SplitData,
    trace: &Trace,
    seed: u64,
    strategy: &Strategy,
) -> RunOutcome {
    let scenario = &loaded.scenario;
    let t = &scenario.training;
    let settings = TrainerSettings {
        label: strategy.label(),
        seed,
        workers: scenario.workers,
        alpha: t.alpha(scenario.workers),
        batch: t.data.batch as usize,
        coupling: t.coupling,
        optimizer: t.optimizer.clone(),
        evaluate_every: u64::from(t.evaluate_every),
        last_round: scenario.stop.rounds,
        test_subset: data.test_subset.is_some(),
    };
    let indices = (0..scenario.workers as usize).map(|w| data.shards.of(w)).collect();
    let mut trainer = Trainer::new(backend, weighting::build(strategy), settings, indices, trace);
    let mut log = EventLog::hashing();
    let summary = Simulation::new(scenario, trace, seed).run(&mut (&mut log, &mut trainer));
    let (_, metrics, divergence) = trainer.finish();
    let test_subset = data.test_subset.is_some();
    RunOutcome {
        strategy: strategy.label(),
        seed,
        metrics,
        summary,
        event_log: log.hash(),
        divergence,
        wall_s: 0.0,
        test_subset,
    }
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
    /// Runs, seed-major then strategy order.
    pub runs: Vec<RunOutcome>,
}

/// Loads the data and runs every seed × strategy on up to `jobs` threads, seed
/// `seeds[i]` under `traces[i]` (see [`crate::schedule::realize`]).
/// `progress` is told each run as it finishes.
pub fn run_all(
    loaded: &LoadedScenario,
    seeds: &[u64],
    traces: &[Trace],
    strategies: &[Strategy],
    jobs: usize,
    progress: &(dyn Fn(&RunOutcome) + Sync),
) -> Result<Experiment, DataError> {
    let raw: RawData = data::load(&loaded.scenario.training.data, &loaded.base_dir)?;
    let workers = loaded.scenario.workers as usize;
    let splits: Vec<SplitData> = seeds
        .iter()
        .map(|&seed| raw.split(&loaded.scenario.training.data, workers, seed))
        .collect::<Result<_, _>>()
        .map_err(|e| DataError { path: format!("{}: training.data", loaded.origin), ..e })?;
    assert_eq!(seeds.len(), traces.len(), "one trace per seed");
    let total = seeds.len() * strategies.len();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunOutcome>>> = Mutex::new(vec![None; total]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, total.max(1)) {
            scope.spawn(|| {
                loop {
                    let job = next.fetch_add(1, Ordering::Relaxed);
                    if job >= total {
                        break;
                    }
                    let (s, k) = (job / strategies.len(), job % strategies.len());
                    let started = std::time::Instant::now();
                    let mut outcome = run_one(loaded, &splits[s], &traces[s], seeds[s], &strategies[k]);
                    outcome.wall_s = started.elapsed().as_secs_f64();
                    progress(&outcome);
                    results.lock().unwrap_or_else(|e| e.into_inner())[job] = Some(outcome);
                }
            });
        }
    });
    let runs = results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect();
    Ok(Experiment { seeds: seeds.to_vec(), strategies: strategies.to_vec(), traces: traces.to_vec(), runs })
}

/// The header of metrics.csv.
pub const METRICS_HEADER: &str = "round,virtual_time_s,test_accuracy,test_loss,train_loss,master_updates,mean_master_weight,workers_down\n";

/// One run's metrics.csv: a row per evaluated round. When the scenario has a test
/// subset a last column, `test_set`, says whether the row measured the `full` test
/// set or the `subset` (without one every row is `full` and the column is left
/// out, so such files stay as they were).
pub fn metrics_csv(run: &RunOutcome) -> String {
    let mut csv = String::from(METRICS_HEADER);
    if run.test_subset {
        csv.insert_str(csv.len() - 1, ",test_set");
    }
    for m in &run.metrics {
        let e = &m.evaluation;
        let _ = write!(
            csv,
            "{},{},{},{},{},{},{},{}",
            m.round,
            m.time.as_secs_f64(),
            e.test_accuracy,
            e.test_loss,
            e.train_loss,
            m.updates,
            m.mean_master_weight,
            m.workers_down
        );
        if run.test_subset {
            let _ = write!(csv, ",{}", m.test_set.name());
        }
        csv.push('\n');
    }
    csv
}

/// summary.csv: a row per strategy × seed.
pub fn summary_csv(experiment: &Experiment, target: f64) -> String {
    let mut csv = String::from(
        "strategy,seed,status,rounds,virtual_time_s,final_test_accuracy,best_test_accuracy,final_test_loss,\
         final_train_loss,rounds_to_target,time_to_target_s,event_log\n",
    );
    for run in &experiment.runs {
        let last = run.metrics.last().map(|m| m.evaluation);
        let (rounds_to, time_to) = match run.reached(target) {
            Some((round, time)) => (round.to_string(), time.as_secs_f64().to_string()),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{:016x}",
            run.strategy,
            run.seed,
            run.status(),
            run.rounds(),
            run.summary.end.as_secs_f64(),
            run.final_accuracy(),
            run.best_accuracy(),
            last.map_or(f64::NAN, |e| e.test_loss),
            last.map_or(f64::NAN, |e| e.train_loss),
            rounds_to,
            time_to,
            run.event_log
        );
    }
    csv
}

/// Where a run's metrics go inside the results folder.
pub fn metrics_path(run: &RunOutcome) -> String {
    format!("{}/seed-{}/metrics.csv", run.strategy, run.seed)
}
