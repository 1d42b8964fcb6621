//! The execution model: runs are recorded as programs and executed in batches,
//! and neither the batching nor when a run's numbers are read changes a bit.

use std::sync::atomic::{AtomicU64, Ordering};

use faultline::base::trace::Trace;
use faultline::data::SplitData;
use faultline::numerics::backend::cpu::CpuBackend;
use faultline::scenario::{LoadedScenario, Strategy};
use faultline::timing::schedule;
use faultline::timing::simulation::StopReason;
use faultline::training::experiment::{self, Job, RunOutcome, SeedInputs};
use faultline::weighting::{ExchangeContext, Reads, Uniform, WeightingStrategy, Weights};

/// Each seed's split, trace and timeline, as `run` prepares them.
fn prepare(loaded: &LoadedScenario, seeds: &[u64]) -> Vec<SeedInputs> {
    let traces: Vec<Trace> =
        seeds.iter().map(|&seed| schedule::realize(loaded, seed).unwrap().trace).collect();
    experiment::prepare(loaded, seeds, &traces).unwrap()
}

fn backend<'d>(loaded: &LoadedScenario, data: &SplitData) -> CpuBackend<'d> {
    let t = &loaded.scenario.training;
    CpuBackend::new(experiment::model_of(loaded, data), &t.optimizer, t.data.batch as usize)
}

fn quickstart() -> LoadedScenario {
    let text = faultline::scenario::QUICKSTART
        .replace("strategies: [Uniform, Dynamic()]", "strategies: [Uniform, Dynamic(), Staleness(), Oracle]");
    LoadedScenario::from_bytes(text.as_bytes(), "q.ron", ".".as_ref(), None).unwrap()
}

/// Everything a run's files are made of.
fn files(run: &RunOutcome) -> (String, String, u64, Option<String>, StopReason) {
    let divergence = run.divergence.as_ref().map(ToString::to_string);
    (run.strategy.clone(), experiment::metrics_csv(run), run.event_log, divergence, run.summary.reason)
}

#[test]
fn batching_is_invisible() {
    let loaded = quickstart();
    let seeds = prepare(&loaded, &[1, 2, 3]);
    let strategies = loaded.scenario.training.strategies.clone();
    let jobs: Vec<Job> = seeds.iter().flat_map(|s| strategies.iter().map(move |k| s.job(k))).collect();
    let mut shared = backend(&loaded, &seeds[0].data);
    let together = experiment::train_batch(&loaded, &mut shared, &jobs).unwrap();
    assert_eq!(together.len(), 12);
    for (job, batched) in jobs.iter().zip(&together) {
        let alone = experiment::run_one(&loaded, *job);
        assert_eq!(files(&alone), files(batched), "{} seed {}", job.strategy.label(), job.seed);
        assert_eq!(alone.program, batched.program);
        assert_eq!(batched.status(), "ok");
    }
}

#[test]
fn a_recorded_program_is_pinned() {
    // Uniform reads no computed number, so what it records depends only on the
    // scenario and the seed: any change here changes what every run computes.
    // Update the constant only for a change that means to do that, and say so.
    let loaded = quickstart();
    let seeds = prepare(&loaded, &[1]);
    let run = experiment::run_one(&loaded, seeds[0].job(&Strategy::Uniform));
    assert_eq!(format!("{:016x}", run.program), "802b2ea822c2a69b");
}

/// Uniform weights, except that exchange number `at` (counting from 1) gets an
/// infinite a_m, which makes the center infinite from there on.
struct Sabotage {
    at: u64,
    seen: AtomicU64,
    reads: Reads,
}

impl WeightingStrategy for Sabotage {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let weights = Uniform.weights(ctx);
        if n == self.at { Weights { master: f64::INFINITY, ..weights } } else { weights }
    }

    fn reads(&self) -> Reads {
        self.reads
    }
}

#[test]
fn a_run_that_diverges_mid_run_ends_where_it_diverged_however_its_numbers_are_read() {
    let loaded = quickstart();
    let seeds = prepare(&loaded, &[2]);
    let uniform = Strategy::Uniform;
    let jobs = [seeds[0].job(&uniform)];
    let sabotaged = |at: u64, reads: Reads| {
        let mut backend = backend(&loaded, &seeds[0].data);
        let make = |_: &Job| -> Box<dyn WeightingStrategy + Send> {
            Box::new(Sabotage { at, seen: AtomicU64::new(0), reads })
        };
        experiment::train_batch_with(&loaded, &mut backend, &jobs, &make).unwrap().remove(0)
    };
    let healthy = experiment::run_one(&loaded, jobs[0]);
    for at in [1, 37, 150] {
        // Read as recorded (uniform never waits) and read at every exchange.
        let deferred = sabotaged(at, Reads::NOTHING);
        let eager = sabotaged(at, Reads::ALL);
        assert_eq!(files(&deferred), files(&eager), "sabotage at exchange {at}");
        let divergence = deferred.divergence.as_ref().expect("an infinite center diverges");
        assert_eq!(deferred.status(), "diverged");
        assert_eq!(deferred.summary.reason, StopReason::Observer);
        // It stopped at the divergence: every metrics row is from before, and
        // equal to the healthy run's row (the center was fine until then).
        let last = deferred.metrics.last().map_or(0, |m| m.round);
        assert!(last < divergence.round, "{at}: row {last}, diverged in round {}", divergence.round);
        assert_eq!(deferred.metrics[..], healthy.metrics[..deferred.metrics.len()], "{at}");
        assert!(deferred.summary.rounds < healthy.summary.rounds);
        assert!(deferred.summary.end < healthy.summary.end);
        let text = divergence.to_string();
        assert!(text.contains("is NaN") || text.contains("is inf"), "{text}");
    }
}
