//! Event-engine benchmarks: raw queue throughput and a large timing-only run.
//!
//! `cargo bench --bench engine`. Figures and the machine they came from are in the
//! README's performance section.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use faultline::base::time::SimTime;
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::LoadedScenario;
use faultline::timing::queue::EventQueue;
use faultline::timing::simulation::Simulation;

/// Hold model: a queue of `pending` events; each operation pops the earliest and
/// pushes a successor a random time later (as a simulation does).
fn queue_hold(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_push_pop");
    const OPERATIONS: usize = 1 << 20;
    let mut rng = SimRng::new(1, Purpose::Compute, 0);
    let increments: Vec<u64> = (0..OPERATIONS).map(|_| 1 + rng.below(1_000_000)).collect();
    for pending in [16usize, 1024, 65_536] {
        group.throughput(Throughput::Elements(OPERATIONS as u64));
        group.bench_with_input(BenchmarkId::from_parameter(pending), &pending, |b, &pending| {
            let mut queue = EventQueue::with_capacity(pending + 1);
            for i in 0..pending {
                queue.push(SimTime(increments[i % OPERATIONS]), i as u64);
            }
            b.iter(|| {
                for &increment in &increments {
                    let (time, event) = queue.pop().unwrap();
                    queue.push(SimTime(time.as_nanos() + increment), black_box(event));
                }
            });
        });
    }
    group.finish();
}

/// 1,000 workers, 10,000 rounds (10 million master updates), timing only.
fn large_timing_run(c: &mut Criterion) {
    let text = br#"(
        workers: 1000,
        stop: (rounds: 10000, time_limit: "100d"),
        compute: (jitter: 0.2),
        network: (uplink: LogNormal(median: "200us", sigma: 0.3), downlink: Constant("200us")),
        master: (update_time: "1us"),
        training: (tau: 1, sync_timeout: "10s"),
    )"#;
    let loaded = LoadedScenario::from_bytes(text, "bench.ron", ".".as_ref(), None).unwrap();
    let trace = faultline::timing::schedule::realize(&loaded, 1).unwrap().trace;
    let simulation = Simulation::new(&loaded.scenario, &trace, 1);
    let events = simulation.run(&mut ()).events;
    let mut group = c.benchmark_group("timing_run");
    group.sample_size(10).measurement_time(Duration::from_secs(30)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(events));
    group.bench_function("workers_1000_rounds_10000", |b| b.iter(|| black_box(simulation.run(&mut ()))));
    group.finish();
}

criterion_group! {
    name = benches;
    // No criterion plots: they look for a system font, which plotters as built for
    // faultline's own figures (an embedded font) does not provide; the numbers and
    // saved baselines are unaffected.
    config = Criterion::default().without_plots();
    targets = queue_hold, large_timing_run
}
criterion_main!(benches);
