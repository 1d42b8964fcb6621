//! Simulated worker-steps per second in the seed paper's setting: a 784-256-256-10
//! ReLU MLP, batch 128, one AdaHessian step with one Hutchinson probe per worker,
//! for k ∈ {4, 8, 32, 128} workers in each of 1 or 24 concurrent runs. One
//! iteration steps every worker of every run once, through the backend the way a
//! run does: recorded programs, executed together.
//!
//! CPU: the runs are spread over all cores, one backend per thread (as `faultline
//! run` does). Ids name the backend: `workers/cpu/k=8/runs=24`. Settings whose
//! parameters and optimizer state would take more than 2 GiB are left out.
//!
//! The peer script is `benches/peers_workers.py` (PyTorch, a loop over workers and
//! `torch.func.vmap`); the README compares the two.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline::data::{Samples, Shards, SplitData};
use faultline::numerics::backend::cpu::CpuBackend;
use faultline::numerics::backend::{Backend, Program, RunId};
use faultline::numerics::model::Mlp;
use faultline::numerics::model::probe::probe_key;
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::{Activation, AdaHessianConfig, Optimizer};

const BATCH: usize = 128;
/// Synthetic training samples the minibatches are drawn from.
const SAMPLES: usize = 4096;
const MEMORY_LIMIT: usize = 2 << 30;

fn data(mlp: &Mlp) -> SplitData {
    let mut rng = SimRng::new(1, Purpose::Minibatch, 0);
    let x = (0..SAMPLES * mlp.inputs()).map(|_| rng.uniform() as f32).collect();
    let y = (0..SAMPLES).map(|_| rng.below(10) as u8).collect();
    SplitData {
        inputs: mlp.inputs(),
        classes: 10,
        train: Samples { x, y },
        test: Samples::default(),
        shards: Shards { shared: (0..SAMPLES as u32).collect(), private: vec![vec![]] },
        train_eval: Samples::default(),
        test_subset: None,
    }
}

/// Records one step of every worker of a run into its program.
fn record_tick(program: &mut Program, run: usize, workers: usize, step: u64, rng: &mut SimRng) {
    let mut batch = Vec::with_capacity(BATCH);
    for w in 0..workers {
        batch.clear();
        batch.extend((0..BATCH).map(|_| rng.below(SAMPLES as u64) as u32));
        let key = probe_key(run as u64, w as u32, step, 0);
        program.local_step(w as u32, step, &batch, &[key]);
    }
}

/// One thread's share of the runs, on its own CPU backend.
struct Share<'d> {
    backend: CpuBackend<'d>,
    runs: Vec<(RunId, Program, SimRng)>,
}

fn workers(c: &mut Criterion) {
    let mlp = Mlp::new(784, &[256, 256], 10, Activation::Relu);
    let data = data(&mlp);
    let optimizer = Optimizer::AdaHessian(AdaHessianConfig { lr: 0.01, ..Default::default() });
    let initial = mlp.init(1);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut group = c.benchmark_group("workers/cpu");
    group.sample_size(10);
    for runs in [1usize, 24] {
        for k in [4usize, 8, 32, 128] {
            // Parameters, m, v and D per worker.
            if runs * k * mlp.parameter_count() * 16 > MEMORY_LIMIT {
                continue;
            }
            let mut shares: Vec<Share> = (0..threads.min(runs))
                .map(|_| Share { backend: CpuBackend::new(mlp.clone(), &optimizer, BATCH), runs: Vec::new() })
                .collect();
            for run in 0..runs {
                let share = &mut shares[run % threads.min(runs)];
                let id = share.backend.add_run(&data, k, &initial).unwrap();
                share.runs.push((id, Program::new(), SimRng::new(run as u64, Purpose::Minibatch, 1)));
            }
            let mut step = 0;
            group.throughput(Throughput::Elements((runs * k) as u64));
            group.bench_function(BenchmarkId::from_parameter(format!("k={k}/runs={runs}")), |b| {
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

criterion_group! {
    name = benches;
    // No criterion plots: they look for a system font, which plotters as built for
    // faultline's own figures (an embedded font) does not provide; the numbers and
    // saved baselines are unaffected.
    config = Criterion::default().without_plots();
    targets = workers
}
criterion_main!(benches);
