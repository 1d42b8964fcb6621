//! The elastic exchange against hand-computed values.

use faultline::numerics::backend::cpu::CpuBackend;
use faultline::numerics::backend::{Backend, Program, RunId};
use faultline::numerics::model::Mlp;
use faultline::scenario::{Activation, Optimizer};

use crate::digits;

/// One run of a tiny model on the CPU backend, and the program recording its
/// operations; `run()` executes what was recorded.
struct Tiny<'a> {
    backend: CpuBackend<'a>,
    run: RunId,
    p: Program,
}

impl Tiny<'_> {
    fn run(&mut self) {
        self.backend.execute(&mut [(self.run, &mut self.p)]).unwrap();
    }

    fn worker_parameters(&mut self, worker: usize) -> Vec<f32> {
        self.backend.worker_parameters(self.run, worker)
    }

    fn center_parameters(&mut self) -> Vec<f32> {
        self.backend.center_parameters(self.run)
    }
}

/// A tiny model whose worker 0 holds `x` and whose center holds `c`.
fn tiny<'a>(data: &'a faultline::data::SplitData, x: &[f32], c: &[f32]) -> Tiny<'a> {
    let mlp = Mlp::new(64, &[], 10, Activation::Relu);
    let mut backend = CpuBackend::new(mlp, &Optimizer::Sgd(Default::default()), 4);
    let run = backend.add_run(data, 2, c).unwrap();
    backend.set_worker(run, 0, x);
    Tiny { backend, run, p: Program::new() }
}

fn vector(n: usize, f: impl Fn(usize) -> f32) -> Vec<f32> {
    (0..n).map(f).collect()
}

#[test]
fn asynchronous_exchange_matches_hand_computation() {
    let data = digits(2, 1);
    let n = 650;
    let x = vector(n, |j| (j % 7) as f32 * 0.25);
    let c = vector(n, |j| (j % 3) as f32 * 0.5);
    let mut backend = tiny(&data, &x, &c);
    let slot = backend.p.new_slot();
    backend.p.snapshot_worker(0, slot);
    let gap: f64 = x.iter().zip(&c).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt();
    let measured = backend.p.gap(slot);
    backend.p.master_update(slot, 0.25);
    backend.p.apply_difference(0, slot, 0.5);
    backend.run();
    assert!((backend.p.scalar(measured).unwrap() - gap).abs() < 1e-9);
    let (worker, center) = (backend.worker_parameters(0), backend.center_parameters());
    for j in 0..n {
        let e = x[j] - c[j];
        assert_eq!(center[j], c[j] + 0.25 * e, "center {j}");
        assert_eq!(worker[j], x[j] - 0.5 * e, "worker {j}");
    }
}

#[test]
fn equal_weights_conserve_the_sum() {
    let data = digits(2, 1);
    let n = 650;
    let x = vector(n, |j| ((j * 37) % 101) as f32 / 10.0 - 5.0);
    let c = vector(n, |j| ((j * 11) % 13) as f32 / 3.0);
    let mut backend = tiny(&data, &x, &c);
    for a in [0.1, 0.225, 0.5, 1.0] {
        let before: Vec<f64> = backend
            .worker_parameters(0)
            .iter()
            .zip(&backend.center_parameters())
            .map(|(&w, &c)| f64::from(w) + f64::from(c))
            .collect();
        let slot = backend.p.new_slot();
        backend.p.snapshot_worker(0, slot);
        backend.p.master_update(slot, a);
        backend.p.apply_difference(0, slot, a);
        backend.p.release(slot);
        backend.run();
        let after = backend.worker_parameters(0);
        let center = backend.center_parameters();
        for j in 0..n {
            let sum = f64::from(after[j]) + f64::from(center[j]);
            assert!(
                (sum - before[j]).abs() <= 4.0 * f64::from(f32::EPSILON) * before[j].abs().max(1.0),
                "a = {a}, {j}"
            );
        }
    }
}

#[test]
fn barriers_update_against_the_same_center() {
    let data = digits(2, 1);
    let n = 650;
    let c = vector(n, |j| j as f32 * 0.001);
    let x0 = vector(n, |j| 1.0 + j as f32 * 0.001);
    let x1 = vector(n, |j| -1.0 + j as f32 * 0.002);
    let mut backend = tiny(&data, &x0, &c);
    backend.backend.set_worker(backend.run, 1, &x1);
    let (s0, s1) = (backend.p.new_slot(), backend.p.new_slot());
    backend.p.snapshot_worker(0, s0);
    backend.p.snapshot_worker(1, s1);
    backend.p.barrier_update(&[(s0, 0.5.into()), (s1, 0.25.into())]);
    backend.run();
    let center = backend.center_parameters();
    for j in 0..n {
        let want = c[j] + 0.5 * (x0[j] - c[j]) + 0.25 * (x1[j] - c[j]);
        assert!((center[j] - want).abs() < 1e-6, "{j}");
    }
    // Averaging: weights 3 and 1.
    let mut backend = tiny(&data, &x0, &c);
    backend.backend.set_worker(backend.run, 1, &x1);
    let (s0, s1) = (backend.p.new_slot(), backend.p.new_slot());
    backend.p.snapshot_worker(0, s0);
    backend.p.snapshot_worker(1, s1);
    backend.p.barrier_average(&[(s0, 0.3.into()), (s1, 0.1.into())]);
    backend.p.adopt(1, s1);
    backend.run();
    let (center, worker) = (backend.center_parameters(), backend.worker_parameters(1));
    for j in 0..n {
        let want = (3.0 * x0[j] + x1[j]) / 4.0;
        assert!((center[j] - want).abs() < 1e-6 && worker[j] == center[j], "{j}");
    }
}
