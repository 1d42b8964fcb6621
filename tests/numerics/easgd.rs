//! The elastic exchange against hand-computed values.

use faultline::backend::Backend;
use faultline::backend::cpu::CpuBackend;
use faultline::model::Mlp;
use faultline::scenario::{Activation, Optimizer};

use crate::digits;

/// A backend for a tiny model whose worker 0 holds `x` and whose center holds `c`.
fn tiny<'a>(data: &'a faultline::data::SplitData, x: &[f32], c: &[f32]) -> CpuBackend<'a> {
    let mlp = Mlp::new(64, &[], 10, Activation::Relu);
    let mut backend = CpuBackend::new(mlp, data, 2, c, &Optimizer::Sgd(Default::default()), 4);
    backend.set_worker(0, x);
    backend
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
    let slot = backend.new_slot();
    backend.snapshot_worker(0, slot);
    let gap: f64 = x.iter().zip(&c).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt();
    assert!((backend.gap(slot) - gap).abs() < 1e-9);
    backend.master_update(slot, 0.25);
    backend.apply_difference(0, slot, 0.5);
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
        let slot = backend.new_slot();
        backend.snapshot_worker(0, slot);
        backend.master_update(slot, a);
        backend.apply_difference(0, slot, a);
        backend.release(slot);
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
    backend.set_worker(1, &x1);
    let (s0, s1) = (backend.new_slot(), backend.new_slot());
    backend.snapshot_worker(0, s0);
    backend.snapshot_worker(1, s1);
    backend.barrier_update(&[(s0, 0.5), (s1, 0.25)]);
    let center = backend.center_parameters();
    for j in 0..n {
        let want = c[j] + 0.5 * (x0[j] - c[j]) + 0.25 * (x1[j] - c[j]);
        assert!((center[j] - want).abs() < 1e-6, "{j}");
    }
    // Averaging: weights 3 and 1.
    let mut backend = tiny(&data, &x0, &c);
    backend.set_worker(1, &x1);
    let (s0, s1) = (backend.new_slot(), backend.new_slot());
    backend.snapshot_worker(0, s0);
    backend.snapshot_worker(1, s1);
    backend.barrier_average(&[(s0, 0.3), (s1, 0.1)]);
    backend.adopt(1, s1);
    let (center, worker) = (backend.center_parameters(), backend.worker_parameters(1));
    for j in 0..n {
        let want = (3.0 * x0[j] + x1[j]) / 4.0;
        assert!((center[j] - want).abs() < 1e-6 && worker[j] == center[j], "{j}");
    }
}
