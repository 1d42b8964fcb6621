//! GPU benchmarks: matrix products at the paper's shapes, AdaHessian steps on the GPU backend, a short run.
//!
//! They run on the adapter `--backend gpu` would take (`WGPU_BACKEND`,
//! `WGPU_ADAPTER_NAME`; Mesa's software lavapipe on a machine without a GPU), and
//! every id names it: `gpu/matmul/<adapter>/forward_m128_n256_k784_Bt/batch=64`.
//! The clock stops only once the GPU has finished the timed work.
//!
//! - `gpu/matmul/…`: `C ← op(A)·op(B)` as the backend records it for the
//!   784-256-256-10 MLP at batch 128 — the first layer's forward product
//!   (128×784 · (256×784)ᵀ) and its weight gradient ((128×256)ᵀ · 128×784) — alone
//!   and as 64 independent products in one dispatch (`Gemm::batch`), and a 4096³
//!   product — 1024³ on a software adapter, where 4096³ takes minutes (lavapipe
//!   reaches under 1 GFLOP/s with these kernels on 2 cores). Throughput
//!   elements are floating-point operations (2mnk per product), so criterion's
//!   `Gelem/s` reads as GFLOP/s.
//! - `gpu/step/…`: one AdaHessian step (one Hutchinson probe) of every worker of a
//!   run with k = 1 or 8 workers, recorded into a program and executed, as
//!   `benches/workers.rs` drives the backends; throughput in samples (128 per
//!   worker-step), like `cpu/adahessian_step` in `benches/numerics.rs`.
//! - `gpu/run/…`: `faultline run --backend gpu --seed 1` on the quickstart, both
//!   strategies, but stopped after 10 rounds instead of 100: on lavapipe the full
//!   run takes about 30 s, far too long to repeat for a benchmark.
//!
//! Criterion times at least eleven iterations of each; on lavapipe several take
//! seconds each, so the whole set takes minutes there (`-- --quick` stops each
//! benchmark after a few iterations). Without an adapter the benchmarks are
//! skipped with one line on stderr; with `FAULTLINE_REQUIRE_GPU=1` (as in CI) that
//! is a panic instead.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{BATCH, adapter_id, data, gpu_context, record_tick};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use faultline::numerics::backend::gpu::GpuBackend;
use faultline::numerics::backend::{Backend, Program};
use faultline::numerics::device::Device;
use faultline::numerics::gpu::{Gemm, GpuContext, MatrixLayout};
use faultline::numerics::model::Mlp;
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::{Activation, AdaHessianConfig, LoadedScenario, Optimizer};
use faultline::timing::schedule;
use faultline::training::experiment;

/// Submissions between waits in the product loop: enough in flight to keep the
/// device busy, few enough that the queue of recorded work stays short.
const IN_FLIGHT: u64 = 16;

/// One product `op(A)·op(B)`, `m × k` times `k × n`, operands stored row-major
/// and used transposed where the backend uses them so.
struct Product {
    name: String,
    m: usize,
    n: usize,
    k: usize,
    a_transposed: bool,
    b_transposed: bool,
}

impl Product {
    /// `batch` independent products, each operand's matrices one after another.
    fn gemm(&self, batch: usize) -> Gemm {
        let (m, n, k) = (self.m, self.n, self.k);
        let a = MatrixLayout::dense(0, if self.a_transposed { m } else { k }).batched(m * k);
        let b = MatrixLayout::dense(0, if self.b_transposed { k } else { n }).batched(k * n);
        Gemm {
            m,
            n,
            k,
            batch,
            alpha: 1.0,
            beta: 0.0,
            a: if self.a_transposed { a.t() } else { a },
            b: if self.b_transposed { b.t() } else { b },
            c: MatrixLayout::dense(0, n).batched(m * n),
        }
    }
}

/// Uniform values in [-1, 1).
fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = SimRng::new(seed, Purpose::Init, 0);
    (0..len).map(|_| (rng.uniform() * 2.0 - 1.0) as f32).collect()
}

fn matmul(c: &mut Criterion, context: &Arc<GpuContext>) {
    // The first layer of 784-256-256-10 at batch 128 (the backend's `record_step`):
    // forward X·Wᵀ with W stored fan_out × fan_in, and the weight gradient δᵀ·X.
    let paper = [
        Product {
            name: "forward_m128_n256_k784_Bt".into(),
            m: 128,
            n: 256,
            k: 784,
            a_transposed: false,
            b_transposed: true,
        },
        Product {
            name: "weight_gradient_m256_n784_k128_At".into(),
            m: 256,
            n: 784,
            k: 128,
            a_transposed: true,
            b_transposed: false,
        },
    ];
    // 4096³ on a software adapter takes minutes a product (lavapipe: under
    // 1 GFLOP/s on 2 cores), so there the square is 1024³; the id says which.
    let side = if context.adapter().software { 1024 } else { 4096 };
    let square = Product {
        name: format!("square_{side}"),
        m: side,
        n: side,
        k: side,
        a_transposed: false,
        b_transposed: false,
    };
    let cases = paper.iter().flat_map(|p| [(p, 1), (p, 64)]).chain([(&square, 1)]);
    let mut group = c.benchmark_group(format!("gpu/matmul/{}", adapter_id(context)));
    group.sample_size(10);
    for (product, batch) in cases {
        let (m, n, k) = (product.m, product.n, product.k);
        let a = context.upload("A", &random(batch * m * k, 1)).unwrap();
        let b = context.upload("B", &random(batch * k * n, 2)).unwrap();
        let out = context.zeros::<f32>("C", batch * m * n).unwrap();
        let gemm = product.gemm(batch);
        let flops = 2 * m * n * k * batch;
        if flops >= 1 << 30 {
            // Seconds a product on a software adapter: one warm-up product, then
            // criterion's least, ten samples (of one product each there).
            group.sampling_mode(SamplingMode::Flat);
            group.warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(2));
        } else {
            group.sampling_mode(SamplingMode::Auto);
            group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
        }
        group.throughput(Throughput::Elements(flops as u64));
        group.bench_function(BenchmarkId::new(&product.name, format!("batch={batch}")), |bencher| {
            bencher.iter_custom(|iterations| {
                let start = Instant::now();
                for i in 1..=iterations {
                    let mut recording = context.record("matmul benchmark");
                    recording.matmul(&gemm, &a, &b, &out).unwrap();
                    context.submit(recording).unwrap();
                    if i % IN_FLIGHT == 0 {
                        context.wait("matmul benchmark").unwrap();
                    }
                }
                context.wait("matmul benchmark").unwrap();
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn step(c: &mut Criterion, context: &Arc<GpuContext>) {
    let mlp = Mlp::new(784, &[256, 256], 10, Activation::Relu);
    let data = data(&mlp);
    let optimizer = Optimizer::AdaHessian(AdaHessianConfig { lr: 0.01, ..Default::default() });
    let initial = mlp.init(1);
    let mut group = c.benchmark_group(format!("gpu/step/{}", adapter_id(context)));
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for k in [1usize, 8] {
        let mut backend = GpuBackend::new(Arc::clone(context), mlp.clone(), &optimizer, BATCH).unwrap();
        let run = backend.add_run(&data, k, &initial).unwrap();
        let mut program = Program::new();
        let mut rng = SimRng::new(0, Purpose::Minibatch, 1);
        let mut step = 0;
        group.throughput(Throughput::Elements((BATCH * k) as u64));
        group.bench_function(BenchmarkId::new("adahessian_784-256-256-10", format!("k={k}")), |b| {
            b.iter(|| {
                step += 1;
                record_tick(&mut program, 0, k, step, &mut rng);
                backend.execute(&mut [(run, &mut program)]).unwrap();
                // execute reads the losses back, so the GPU is done already;
                // waiting again states it.
                backend.context().wait("step benchmark").unwrap();
            })
        });
    }
    group.finish();
}

/// Rounds of the benchmarked quickstart (the scenario has 100).
const RUN_ROUNDS: u64 = 10;

fn whole_run(c: &mut Criterion, context: &Arc<GpuContext>) {
    let text = faultline::scenario::QUICKSTART
        .replace("stop: (rounds: 100)", &format!("stop: (rounds: {RUN_ROUNDS})"));
    assert_ne!(text, faultline::scenario::QUICKSTART, "the quickstart's stop changed: update the benchmark");
    let loaded = LoadedScenario::from_bytes(text.as_bytes(), "quickstart.ron", ".".as_ref(), None).unwrap();
    let seeds = [1];
    let traces: Vec<_> = seeds.iter().map(|&seed| schedule::realize(&loaded, seed).unwrap().trace).collect();
    let strategies = &loaded.scenario.training.strategies;
    let device = Device::Gpu(Arc::clone(context));
    let mut group = c.benchmark_group(format!("gpu/run/{}", adapter_id(context)));
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    let id = format!("quickstart_{RUN_ROUNDS}_rounds");
    group.bench_function(BenchmarkId::new(id, "seed=1"), |b| {
        b.iter(|| {
            // run_all reads every run's metrics back before it returns.
            let experiment =
                experiment::run_all(&loaded, &seeds, &traces, strategies, 1, &device, &|_| {}).unwrap();
            black_box(experiment)
        })
    });
    group.finish();
}

fn gpu(c: &mut Criterion) {
    let Some(context) = gpu_context() else { return };
    eprintln!("GPU benchmarks on {}", context.adapter());
    matmul(c, &context);
    step(c, &context);
    whole_run(c, &context);
}

criterion_group! {
    name = benches;
    // No criterion plots: they look for a system font, which plotters as built for
    // faultline's own figures (an embedded font) does not provide; the numbers and
    // saved baselines are unaffected.
    config = Criterion::default().without_plots();
    targets = gpu
}
criterion_main!(benches);
