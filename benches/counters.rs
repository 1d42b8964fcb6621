//! What the GPU path hands the driver per round, counted, not timed: submissions,
//! blocking waits and read-backs, dispatches, buffer-to-buffer copies, buffers
//! created and host writes, with their bytes (`numerics::gpu::Counters`). The
//! counts do not depend on the hardware, so this runs the same on lavapipe as on
//! an H100 and tells whether a change cut the overheads.
//!
//! The configuration is the paper's (`scenarios/paper/base.ron`: Fashion-MNIST,
//! 784-256-256-10, AdaHessian, its mild failures) at k = 8, τ = 1, 20 rounds,
//! with 24 runs trained together in one batch: seeds 1-6 × uniform, dynamic,
//! staleness and oracle (no control arm). Per round means per round of the batch
//! (every run advancing one round): the totals of a 20-round batch divided by
//! 20 (setup included: each run's buffers, the first flushes), and the steady
//! state, the difference between a 40-round and a 20-round batch divided by 20.
//!
//! `cargo bench --bench counters` prints the table (it trains for real: on
//! lavapipe with 2 cores that takes over ten minutes). `-- --test`, as CI runs
//! every bench, uses hidden layers of 16 instead of 256: the same passes, so the
//! same numbers of submissions, waits, dispatches, copies and buffers per round
//! up to the few exchanges the faster virtual compute moves, in a minute or two,
//! with smaller bytes.
//! Without an adapter it is skipped with one line on stderr, and with
//! `FAULTLINE_REQUIRE_GPU=1` that is a panic instead.

#[allow(dead_code)] // the helpers the other benches use
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use faultline::app::{Plan, Voice, execute_on, select_strategies};
use faultline::numerics::device::{BackendChoice, Chosen, Device};
use faultline::numerics::gpu::{Counts, GpuContext};
use faultline::scenario::{LoadedScenario, Override};

const ROUNDS: u64 = 20;

fn main() {
    let Some(context) = common::gpu_context() else { return };
    // From the repository root (where cargo runs benches, and where
    // benches/device/measure.sh runs this one on another machine), else the
    // checkout it was built in.
    let relative = Path::new("scenarios/paper/base.ron");
    let scenario = match relative.is_file() {
        true => relative.to_path_buf(),
        false => Path::new(env!("CARGO_MANIFEST_DIR")).join(relative),
    };
    let smoke = std::env::args().any(|a| a == "--test");
    let hidden = if smoke { "[16, 16]" } else { "[256, 256]" };
    let set = |path: &str, value: &str| Override { path: path.into(), value: value.into() };
    let overrides = [
        set("training.model.hidden", hidden),
        set("workers", "8"),
        set("training.tau", "1"),
        set("seeds", "[1, 2, 3, 4, 5, 6]"),
        set("training.control", "false"),
    ];
    let labels: Vec<String> = ["uniform", "dynamic", "staleness", "oracle"].map(String::from).to_vec();
    // Two batches, of ROUNDS and 2 · ROUNDS rounds: their difference is ROUNDS
    // rounds of steady state, the runs' own buffers and first flushes cancelled.
    // Each batch on a fresh context: a context keeps buffers for reuse, so a
    // second batch on the same one would create fewer than it needs alone.
    let fresh = || common::gpu_context().expect("an adapter, as a moment ago");
    let (short, short_names) = counted(&fresh(), (&scenario, &overrides), &labels, ROUNDS);
    let (long, long_names) = counted(&fresh(), (&scenario, &overrides), &labels, 2 * ROUNDS);
    println!(
        "GPU driver work per round: 24 runs, k = 8, tau = 1, hidden {hidden}, on {}",
        context.adapter().name
    );
    let all = short.per_round_table(ROUNDS);
    let steady = long.since(short).per_round_table(ROUNDS);
    println!(
        "| per round | {ROUNDS} rounds, setup included | steady state ({} - {ROUNDS} rounds) |",
        2 * ROUNDS
    );
    println!("|---|---:|---:|");
    for (a, b) in all.lines().zip(steady.lines()) {
        let cells = |line: &str| {
            line.split('|').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect::<Vec<_>>()
        };
        let (a, b) = (cells(a), cells(b));
        println!("| {} | {} | {} |", a[0], a[1], b[1]);
    }
    println!("\nSteady-state dispatches per kernel and copies per source → destination, per round:");
    println!("| kernel or copy | per round |");
    println!("|---|---:|");
    let mut steady: Vec<(String, f64)> = long_names
        .iter()
        .map(|(name, &n)| {
            let before = short_names.get(name).copied().unwrap_or(0);
            (name.clone(), (n - before) as f64 / ROUNDS as f64)
        })
        .filter(|&(_, per)| per > 0.0)
        .collect();
    steady.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (name, per) in steady {
        println!("| {name} | {per:.1} |");
    }
}

/// What training the 24 runs of the scenario for `rounds` rounds hands the driver.
fn counted(
    context: &Arc<GpuContext>,
    (scenario, overrides): (&Path, &[Override]),
    labels: &[String],
    rounds: u64,
) -> (Counts, BTreeMap<String, u64>) {
    let mut overrides = overrides.to_vec();
    overrides.push(Override { path: "stop.rounds".into(), value: rounds.to_string() });
    let loaded = LoadedScenario::from_file_with(scenario, &overrides).unwrap_or_else(|e| panic!("{e}"));
    let strategies = select_strategies(&loaded, labels).unwrap_or_else(|e| panic!("{e}"));
    let out = std::env::temp_dir().join(format!("faultline-counters-{}-{rounds}", std::process::id()));
    let plan = Plan {
        seeds: loaded.scenario.seeds.clone(),
        loaded,
        strategies,
        out: out.clone(),
        jobs: None,
        backend: BackendChoice::Gpu,
        voice: Voice::Silent,
        dry_run: false,
        choices: Default::default(),
        on_run: None,
        traces: None,
    };
    let chosen = Chosen { device: Device::Gpu(Arc::clone(context)), why: "the counters bench".into() };
    let before = context.counts();
    execute_on(plan, &chosen).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&out);
    (context.counts().since(before), context.counts_by_name())
}
