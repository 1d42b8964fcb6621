//! The execution model's anchor: a run's recorded program is pinned. (That
//! batching and when a run's numbers are read change no bit is part of the
//! behaviour suite, tests/support/behaviour.rs, run on every backend.)

use faultline::scenario::Strategy;
use faultline::training::experiment;

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
