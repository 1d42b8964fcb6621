//! Real training on the quickstart on the CPU: learning happens, strategies share
//! the schedule, and the CPU's numbers are pinned. (Determinism, replay,
//! divergence and every coupling are in the behaviour suite of every backend.)

use faultline::base::trace::Trace;
use faultline::numerics::device::Device;
use faultline::results::run_files;
use faultline::scenario::{LoadedScenario, Strategy};
use faultline::timing::schedule;
use faultline::training::experiment::{self, Experiment, RunOutcome};

fn quickstart_with(edit: impl Fn(String) -> String) -> LoadedScenario {
    let text = edit(faultline::scenario::QUICKSTART.to_string());
    LoadedScenario::from_bytes(text.as_bytes(), "edited-quickstart.ron", ".".as_ref(), Some("q".into()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn all_strategies(text: String) -> String {
    text.replace("strategies: [Uniform, Dynamic()]", "strategies: [Uniform, Dynamic(), Staleness(), Oracle]")
}

fn run(loaded: &LoadedScenario, seeds: &[u64]) -> Experiment {
    let strategies = loaded.scenario.training.strategies.clone();
    run_on(loaded, seeds, &strategies, 2)
}

/// Every seed × strategy on `jobs` threads, each seed under its realized trace.
fn run_on(loaded: &LoadedScenario, seeds: &[u64], strategies: &[Strategy], jobs: usize) -> Experiment {
    let traces: Vec<Trace> =
        seeds.iter().map(|&seed| schedule::realize(loaded, seed).unwrap().trace).collect();
    experiment::run_all(loaded, seeds, &traces, strategies, jobs, &Device::Cpu, &|_: &RunOutcome| {}).unwrap()
}

#[test]
fn every_strategy_learns_the_quickstart() {
    let loaded = quickstart_with(all_strategies);
    let result = run(&loaded, &[1, 2]);
    assert_eq!(result.runs.len(), 8);
    for run in &result.runs {
        assert_eq!(run.status(), "ok");
        assert!(run.final_accuracy() >= 0.90, "{} seed {}: {}", run.strategy, run.seed, run.final_accuracy());
        assert_eq!(run.metrics.len(), 100);
        // Learning, not luck: the first round is far below the last.
        assert!(run.metrics[0].evaluation.test_accuracy < 0.6);
    }
    // The crash is really in the run: worker 2 is down for some rounds.
    assert!(result.runs[0].metrics.iter().any(|m| m.workers_down == 1));
    // Every strategy of a seed ran on exactly the same schedule.
    for seed_runs in result.runs.chunks(4) {
        assert!(seed_runs.iter().all(|r| r.event_log == seed_runs[0].event_log));
        assert!(seed_runs.iter().all(|r| r.summary == seed_runs[0].summary));
    }
}

#[test]
fn without_failures_dynamic_and_uniform_agree_within_a_point() {
    let loaded =
        quickstart_with(|t| t.replace(r#"Crash(worker: 2, at: "40ms", recover_after: "60ms"),"#, ""));
    assert!(loaded.scenario.failures.events.is_empty());
    for seed in [1, 2, 3] {
        let result = run(&loaded, &[seed]);
        let (uniform, dynamic) = (&result.runs[0], &result.runs[1]);
        assert_eq!((uniform.strategy.as_str(), dynamic.strategy.as_str()), ("uniform", "dynamic"));
        let difference = (uniform.final_accuracy() - dynamic.final_accuracy()).abs();
        assert!(
            difference <= 0.01,
            "seed {seed}: {} vs {}",
            uniform.final_accuracy(),
            dynamic.final_accuracy()
        );
    }
}

/// A golden fingerprint of the CPU's numbers: the quickstart's metrics, every bit.
/// The CPU's matrix products keep one summation order whatever kernel the CPU
/// runs (see `numerics::model::gemm`), so this holds on any x86-64 Linux machine;
/// `exp` and `ln` come from the platform's libm, so other platforms may differ
/// in the last bits. When this changes, the change to the numerics must be
/// deliberate and said so in the commit: results written before no longer
/// reproduce bit for bit.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[test]
fn golden_quickstart_metrics_on_the_cpu() {
    let loaded = quickstart_with(|t| t);
    let result = run(&loaded, &[1]);
    let csv: String = result.runs.iter().map(run_files::metrics_csv).collect();
    let hash = faultline::fingerprint::fnv1a(csv.as_bytes());
    assert_eq!(format!("{hash:016x}"), GOLDEN_QUICKSTART, "the CPU's numbers changed");
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const GOLDEN_QUICKSTART: &str = "844f44c4d42219c1";
