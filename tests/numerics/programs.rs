//! The execution model's anchor: a run's recorded program is pinned. (That
//! batching and when a run's numbers are read change no bit is part of the
//! behaviour suite, tests/support/behaviour.rs, run on every backend.)

use faultline::data::SplitData;
use faultline::numerics::backend::cpu::CpuBackend;
use faultline::numerics::backend::{Backend, BackendError, Program, RunId};
use faultline::scenario::Strategy;
use faultline::training::experiment::{self, Job};
use faultline::weighting::{Dynamic, DynamicConfig, ExchangeContext, Reads, WeightingStrategy, Weights};

use crate::behaviour::{prepare, quickstart};

#[test]
fn a_recorded_program_is_pinned() {
    // Uniform reads no computed number, so what it records depends only on the
    // scenario and the seed: any change here changes what every run computes.
    // Update the constant only for a change that means to do that, and say so.
    let loaded = quickstart(100, |t| t);
    let seeds = prepare(&loaded, &[1]);
    let run = experiment::run_one(&loaded, seeds[0].job(&Strategy::Uniform));
    assert_eq!(format!("{:016x}", run.program), "802b2ea822c2a69b");
}

/// A run's ready worker steps spread over threads give the very bits of one
/// thread: every metrics row, every recorded scalar (the program fingerprint),
/// for every strategy. The model is made big enough to be spread (a small one
/// stays on one thread, see `CpuBackend::with_threads`).
#[test]
fn worker_steps_on_many_threads_change_no_bit() {
    let loaded = quickstart(12, |t| {
        t.replace("hidden: [32]", "hidden: [256, 256]").replace("batch: 32", "batch: 128")
    });
    let seeds = prepare(&loaded, &[1, 2]);
    let strategies = &loaded.scenario.training.strategies;
    let jobs: Vec<_> = seeds.iter().flat_map(|s| strategies.iter().map(move |k| s.job(k))).collect();
    let t = &loaded.scenario.training;
    let on = |threads: usize| -> Vec<(String, u64)> {
        let model = experiment::model_of(&loaded, jobs[0].data);
        let mut backend = faultline::numerics::backend::cpu::CpuBackend::new(model, &t.optimizer, 128)
            .with_threads(threads);
        let runs = experiment::train_batch(&loaded, &mut backend, &jobs).unwrap();
        runs.iter().map(|r| (faultline::results::run_files::metrics_csv(r), r.program)).collect()
    };
    let one = on(1);
    assert!(one.iter().all(|(csv, _)| csv.lines().count() > 1));
    assert_eq!(on(2), one);
    assert_eq!(on(3), one);
}

/// A backend that counts its flushes.
struct Counting<'d> {
    inner: CpuBackend<'d>,
    flushes: usize,
}

impl<'d> Backend<'d> for Counting<'d> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn add_run(
        &mut self,
        data: &'d SplitData,
        workers: usize,
        initial: &[f32],
    ) -> Result<RunId, BackendError> {
        self.inner.add_run(data, workers, initial)
    }
    fn execute(&mut self, work: &mut [(RunId, &mut Program)]) -> Result<(), BackendError> {
        self.flushes += 1;
        self.inner.execute(work)
    }
    fn remove_run(&mut self, run: RunId) {
        self.inner.remove_run(run)
    }
    fn worker_parameters(&mut self, run: RunId, worker: usize) -> Vec<f32> {
        self.inner.worker_parameters(run, worker)
    }
    fn center_parameters(&mut self, run: RunId) -> Vec<f32> {
        self.inner.center_parameters(run)
    }
}

/// Dynamic with its formula hidden from the backend: the host decides every
/// exchange, waiting for its gap.
struct OnTheHost(Dynamic);

impl WeightingStrategy for OnTheHost {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        self.0.weights(ctx)
    }
    fn reads(&self) -> Reads {
        self.0.reads()
    }
}

/// A strategy whose weights are a formula of the gap ratio is weighed by the
/// backend: its run flushes no more often than uniform's, and gives the very
/// bits of the same formula decided on the host after a flush per exchange.
#[test]
fn a_ratio_rule_never_waits_for_a_gap_and_changes_no_bit() {
    let loaded = quickstart(30, |t| t);
    let seeds = prepare(&loaded, &[3]);
    let t = &loaded.scenario.training;
    let run = |strategy: &dyn Fn(&Job) -> Box<dyn WeightingStrategy + Send>, kind: &Strategy| {
        let job = seeds[0].job(kind);
        let model = experiment::model_of(&loaded, job.data);
        let mut backend = Counting { inner: CpuBackend::new(model, &t.optimizer, 32), flushes: 0 };
        let outcome =
            experiment::train_batch_with(&loaded, &mut backend, &[job], strategy).unwrap().remove(0);
        (faultline::results::run_files::metrics_csv(&outcome), backend.flushes)
    };
    let dynamic = Strategy::Dynamic(DynamicConfig::default());
    let uniform = run(&|job| job.strategy.build(), &Strategy::Uniform);
    let on_backend = run(&|job| job.strategy.build(), &dynamic);
    let on_host = run(&|_| Box::new(OnTheHost(Dynamic { gamma_m: 1.0, gamma_w: 1.0 })), &dynamic);
    assert_eq!(on_backend.0, on_host.0, "the same weights wherever they are computed");
    assert_ne!(on_backend.0, uniform.0);
    assert!(on_backend.1 <= uniform.1, "{} flushes against uniform's {}", on_backend.1, uniform.1);
    assert!(
        on_host.1 > 10 * on_backend.1,
        "{} flushes on the host, {} on the backend",
        on_host.1,
        on_backend.1
    );
    eprintln!("flushes: uniform {}, dynamic {}, dynamic on the host {}", uniform.1, on_backend.1, on_host.1);
}
