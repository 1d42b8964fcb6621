//! Simulated worker-steps per second in the seed paper's setting: a 784-256-256-10
//! ReLU MLP, batch 128, one AdaHessian step with one Hutchinson probe per worker,
//! for k ∈ {4, 8, 32, 128} workers in each of 1 or 24 concurrent runs. One
//! iteration steps every worker of every run once, through the backend the way a
//! run does: recorded programs, executed together.
//!
//! CPU: 24 runs are spread over all cores, one backend per thread (as `faultline
//! run` does); one run is measured on one thread and on all of them, its ready
//! worker steps spread over the cores (as `faultline run` does when fewer runs
//! than cores train at once): `workers/cpu/k=8/runs=1/threads=2`. GPU: all runs on one GPU backend, one `execute` for all of them per
//! iteration (as `faultline run --backend gpu` does), on the adapter `--backend
//! gpu` would take (see `benches/gpu.rs`). Ids name the backend and the adapter:
//! `workers/cpu/k=8/runs=24`, `workers/gpu:<adapter>/k=8/runs=24`. Settings whose
//! parameters and optimizer state would take more than 2 GiB (of host or of GPU
//! memory) are left out, and so, on a software adapter such as lavapipe, are those
//! of more than 8 worker-steps an iteration (there k ∈ {4, 8} with 1 run). Without
//! a GPU adapter the GPU half is skipped with one line on stderr, or panics under
//! `FAULTLINE_REQUIRE_GPU=1` (as in CI).
//!
//! The peer script is `benches/peers_workers.py` (PyTorch, a loop over workers and
//! `torch.func.vmap`); the README compares the two.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use common::{BATCH, adapter_id, data, gpu_context, record_tick};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline::numerics::backend::cpu::CpuBackend;
use faultline::numerics::backend::gpu::GpuBackend;
use faultline::numerics::backend::{Backend, Program, RunId};
use faultline::numerics::model::Mlp;
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::{Activation, AdaHessianConfig, Optimizer};

/// Parameters and optimizer state above this are not benchmarked.
const MEMORY_LIMIT: usize = 2 << 30;

/// The most worker-steps per iteration benchmarked on a software adapter: a
/// worker-step of this model takes lavapipe about a second on 2 cores, and
/// criterion times at least eleven iterations.
const SOFTWARE_STEPS: usize = 8;

/// Parameters, m, v and D of every worker.
fn state_bytes(mlp: &Mlp, runs: usize, k: usize) -> usize {
    runs * k * mlp.parameter_count() * 4 * size_of::<f32>()
}

/// One thread's share of the runs, on its own CPU backend.
struct Share<'d> {
    backend: CpuBackend<'d>,
    runs: Vec<(RunId, Program, SimRng)>,
}

/// The runs spread over the cores, one CPU backend per thread.
fn workers(c: &mut Criterion) {
    let mlp = Mlp::new(784, &[256, 256], 10, Activation::Relu);
    let data = data(&mlp);
    let optimizer = Optimizer::AdaHessian(AdaHessianConfig { lr: 0.01, ..Default::default() });
    let initial = mlp.init(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("workers/cpu");
    group.sample_size(10);
    // One run on 1 thread and on all of them (its ready worker steps spread
    // over the cores, `CpuBackend::with_threads`); 24 runs, one backend per core.
    let settings = [(1usize, 1usize), (1, threads), (24, 1)];
    for (runs, per_run) in settings.into_iter().filter(|&(runs, t)| runs > 1 || t == 1 || threads > 1) {
        for k in [4usize, 8, 32, 128] {
            if state_bytes(&mlp, runs, k) > MEMORY_LIMIT {
                continue;
            }
            let mut shares: Vec<Share> = (0..threads.min(runs))
                .map(|_| Share {
                    backend: CpuBackend::new(mlp.clone(), &optimizer, BATCH).with_threads(per_run),
                    runs: Vec::new(),
                })
                .collect();
            for run in 0..runs {
                let share = &mut shares[run % threads.min(runs)];
                let id = share.backend.add_run(&data, k, &initial).unwrap();
                share.runs.push((id, Program::new(), SimRng::new(run as u64, Purpose::Minibatch, 1)));
            }
            let mut step = 0;
            group.throughput(Throughput::Elements((runs * k) as u64));
            let id = match runs {
                1 => format!("k={k}/runs=1/threads={per_run}"),
                _ => format!("k={k}/runs={runs}"),
            };
            group.bench_function(BenchmarkId::from_parameter(id), |b| {
                b.iter(|| {
                    step += 1;
                    std::thread::scope(|scope| {
                        for share in shares.iter_mut() {
                            scope.spawn(move || {
                                for (run, (id, program, rng)) in share.runs.iter_mut().enumerate() {
                                    record_tick(program, run, k, step, rng);
                                    share.backend.execute(&mut [(*id, program)]).unwrap();
                                }
                            });
                        }
                    });
                    black_box(&shares);
                })
            });
        }
    }
    group.finish();
}

/// All runs on one GPU backend, one `execute` per iteration for all of them.
fn workers_gpu(c: &mut Criterion) {
    let Some(context) = gpu_context() else { return };
    let mlp = Mlp::new(784, &[256, 256], 10, Activation::Relu);
    let data = data(&mlp);
    let optimizer = Optimizer::AdaHessian(AdaHessianConfig { lr: 0.01, ..Default::default() });
    let initial = mlp.init(1);
    let software = context.adapter().software;
    let mut group = c.benchmark_group(format!("workers/gpu:{}", adapter_id(&context)));
    // Criterion's least samples, after a short warm-up: on a software adapter one
    // iteration of the larger settings takes seconds.
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for runs in [1usize, 24] {
        for k in [4usize, 8, 32, 128] {
            if state_bytes(&mlp, runs, k) > MEMORY_LIMIT || (software && runs * k > SOFTWARE_STEPS) {
                continue;
            }
            let mut backend = GpuBackend::new(Arc::clone(&context), mlp.clone(), &optimizer, BATCH).unwrap();
            let mut state: Vec<(RunId, Program, SimRng)> = (0..runs)
                .map(|run| {
                    let id = backend.add_run(&data, k, &initial).unwrap();
                    (id, Program::new(), SimRng::new(run as u64, Purpose::Minibatch, 1))
                })
                .collect();
            let mut step = 0;
            group.throughput(Throughput::Elements((runs * k) as u64));
            group.bench_function(BenchmarkId::from_parameter(format!("k={k}/runs={runs}")), |b| {
                b.iter(|| {
                    step += 1;
                    for (run, (_, program, rng)) in state.iter_mut().enumerate() {
                        record_tick(program, run, k, step, rng);
                    }
                    let mut work: Vec<(RunId, &mut Program)> =
                        state.iter_mut().map(|(id, program, _)| (*id, program)).collect();
                    backend.execute(&mut work).unwrap();
                    // execute reads the losses back, so the GPU is done already;
                    // waiting again states it.
                    backend.context().wait("workers benchmark").unwrap();
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No criterion plots: they look for a system font, which plotters as built for
    // faultline's own figures (an embedded font) does not provide; the numbers and
    // saved baselines are unaffected.
    config = Criterion::default().without_plots();
    // The GPU first: a time-limited run on a GPU machine (benches/device/measure.sh)
    // must not spend its time on the CPU half.
    targets = workers_gpu, workers
}
criterion_main!(benches);
