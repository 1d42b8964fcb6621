//! Numerics benchmarks on the CPU reference backend: gradient, gradient plus one
//! exact Hessian-vector product (from the same forward and backward pass, as JAX's
//! `jvp` of `grad` returns them), and one full AdaHessian step (gradient,
//! Hutchinson diagonal with one probe, moment and parameter updates), for a
//! 64-64-10 and a 784-256-256-10 ReLU MLP at batch 128, reported as samples/s.
//!
//! `cargo bench --bench numerics`; `python3 benches/jax_baseline.py` and
//! `python3 benches/pytorch_baseline.py` measure the same operations with JAX and
//! PyTorch on the same CPU (README, "Performance").

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline::data::{Samples, Shards, SplitData};
use faultline::numerics::backend::cpu::CpuBackend;
use faultline::numerics::backend::{Backend, Program};
use faultline::numerics::model::{Mlp, Workspace, gradient, gradient_and_hessian_vector, probe::probe_key};
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::{Activation, AdaHessianConfig, Optimizer};

const BATCH: usize = 128;

fn models() -> [(&'static str, Mlp); 2] {
    [
        ("64-64-10", Mlp::new(64, &[64], 10, Activation::Relu)),
        ("784-256-256-10", Mlp::new(784, &[256, 256], 10, Activation::Relu)),
    ]
}

fn batch(inputs: usize) -> (Vec<f32>, Vec<u8>) {
    let mut rng = SimRng::new(1, Purpose::Minibatch, 0);
    let x = (0..BATCH * inputs).map(|_| rng.uniform() as f32).collect();
    let y = (0..BATCH).map(|_| rng.below(10) as u8).collect();
    (x, y)
}

fn derivatives(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, mlp) in models() {
        let params = mlp.init(1);
        let (x, y) = batch(mlp.inputs());
        let mut ws = Workspace::new(&mlp, BATCH);
        let mut grad = vec![0.0f32; params.len()];
        let mut hv = vec![0.0f32; params.len()];
        let v: Vec<f32> = (0..params.len()).map(|j| if j % 3 == 0 { -1.0 } else { 1.0 }).collect();
        group.bench_function(BenchmarkId::new("gradient", name), |b| {
            b.iter(|| black_box(gradient(&mlp, &params, &x, &y, &mut ws, &mut grad)))
        });
        group.bench_function(BenchmarkId::new("gradient_hvp", name), |b| {
            b.iter(|| {
                black_box(gradient_and_hessian_vector(&mlp, &params, &x, &y, &v, &mut ws, &mut grad, &mut hv))
            })
        });
    }
    group.finish();
}

fn adahessian_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, mlp) in models() {
        let (x, y) = batch(mlp.inputs());
        let data = SplitData {
            inputs: mlp.inputs(),
            classes: 10,
            train: Samples { x, y }.into(),
            test: Default::default(),
            shards: Shards { shared: (0..BATCH as u32).collect(), private: vec![vec![]] },
            train_eval: Samples::default(),
            test_subset: None,
        };
        let optimizer = Optimizer::AdaHessian(AdaHessianConfig { lr: 0.01, ..Default::default() });
        let initial = mlp.init(1);
        let indices: Vec<u32> = (0..BATCH as u32).collect();
        // Training one fixed batch for thousands of steps overfits it until the
        // deltas are subnormal, which no real run does; restart every 100 steps
        // (outside the timed part), as the PyTorch baseline starts fresh too.
        group.bench_function(BenchmarkId::new("adahessian_step", name), |b| {
            b.iter_custom(|iterations| {
                let mut elapsed = Duration::ZERO;
                let mut done = 0;
                while done < iterations {
                    let mut backend = CpuBackend::new(mlp.clone(), &optimizer, BATCH);
                    let run = backend.add_run(&data, 1, &initial).unwrap();
                    let chunk = (iterations - done).min(100);
                    // Recorded outside the clock, executed one step per call (a
                    // run's program is usually executed in larger pieces).
                    let mut programs: Vec<Program> = (1..=chunk)
                        .map(|step| {
                            let mut program = Program::new();
                            program.local_step(0, step, &indices, &[probe_key(1, 0, step, 0)]);
                            program
                        })
                        .collect();
                    let start = Instant::now();
                    for program in &mut programs {
                        backend.execute(&mut [(run, program)]).unwrap();
                    }
                    elapsed += start.elapsed();
                    black_box(&programs);
                    done += chunk;
                }
                elapsed
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // No criterion plots: they look for a system font, which plotters as built for
    // faultline's own figures (an embedded font) does not provide; the numbers and
    // saved baselines are unaffected.
    config = Criterion::default().without_plots();
    targets = derivatives, adahessian_step
}
criterion_main!(benches);
