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
//! (every run advancing one round), the totals divided by 20.
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

use std::path::Path;

use faultline::app::{Plan, Voice, execute_on, select_strategies};
use faultline::numerics::device::{BackendChoice, Chosen, Device};
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
        set("stop.rounds", &ROUNDS.to_string()),
        set("seeds", "[1, 2, 3, 4, 5, 6]"),
        set("training.control", "false"),
    ];
    let loaded = LoadedScenario::from_file_with(&scenario, &overrides).unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<String> = ["uniform", "dynamic", "staleness", "oracle"].map(String::from).to_vec();
    let strategies = select_strategies(&loaded, &labels).unwrap_or_else(|e| panic!("{e}"));
    let out = std::env::temp_dir().join(format!("faultline-counters-{}", std::process::id()));
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
    let chosen = Chosen { device: Device::Gpu(context.clone()), why: "the counters bench".into() };
    let before = context.counts();
    execute_on(plan, &chosen).unwrap_or_else(|e| panic!("{e}"));
    let counted = context.counts().since(before);
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "GPU driver work per round: 24 runs, k = 8, tau = 1, {ROUNDS} rounds, hidden {hidden}, on {}",
        context.adapter().name
    );
    println!("| per round | counted |\n|---|---:|\n{}", counted.per_round_table(ROUNDS));
}
