//! Gradient, Hessian-vector products and Hutchinson estimates against finite
//! differences, in f64 so the checks are tight.

use faultline::numerics::model::{
    Mlp, Workspace, gradient, gradient_and_hessian_vector, gradient_and_hutchinson, hessian_vector, loss,
    probe::probe_key,
};
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::Activation;

/// A small net, random parameters, inputs and labels.
fn setup(activation: Activation, seed: u64) -> (Mlp, Vec<f64>, Vec<f64>, Vec<u8>) {
    let mlp = Mlp::new(5, &[7, 4], 3, activation);
    let mut rng = SimRng::new(seed, Purpose::Init, 9);
    let params: Vec<f64> = (0..mlp.parameter_count()).map(|_| rng.normal() * 0.6).collect();
    let rows = 6;
    let x: Vec<f64> = (0..rows * 5).map(|_| rng.normal()).collect();
    let y: Vec<u8> = (0..rows).map(|_| rng.below(3) as u8).collect();
    (mlp, params, x, y)
}

fn max_relative_error(a: &[f64], b: &[f64]) -> f64 {
    let scale = a.iter().chain(b).fold(1e-3f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / scale).fold(0.0, f64::max)
}

#[test]
fn gradient_matches_central_differences() {
    for activation in [Activation::Relu, Activation::Tanh] {
        for seed in 0..3 {
            let (mlp, params, x, y) = setup(activation, seed);
            let mut ws = Workspace::new(&mlp, y.len());
            let mut grad = vec![0.0; params.len()];
            gradient(&mlp, &params, &x, &y, &mut ws, &mut grad);
            let h = 1e-6;
            let numeric: Vec<f64> = (0..params.len())
                .map(|j| {
                    let mut p = params.clone();
                    p[j] += h;
                    let up = loss(&mlp, &p, &x, &y, &mut ws);
                    p[j] -= 2.0 * h;
                    let down = loss(&mlp, &p, &x, &y, &mut ws);
                    (up - down) / (2.0 * h)
                })
                .collect();
            let error = max_relative_error(&grad, &numeric);
            assert!(error < 1e-6, "{activation:?} seed {seed}: gradient error {error}");
        }
    }
}

#[test]
fn hessian_vector_matches_differences_of_gradients() {
    for activation in [Activation::Relu, Activation::Tanh] {
        for seed in 0..3 {
            let (mlp, params, x, y) = setup(activation, seed);
            let mut ws = Workspace::new(&mlp, y.len());
            let mut rng = SimRng::new(seed, Purpose::Minibatch, 1);
            let v: Vec<f64> = (0..params.len()).map(|_| rng.normal()).collect();
            let mut hv = vec![0.0; params.len()];
            let loss_alone = hessian_vector(&mlp, &params, &x, &y, &v, &mut ws, &mut hv);
            // With the gradient from the same passes: the same bits as each alone.
            let (mut grad_too, mut hv_too) = (vec![0.0; params.len()], vec![0.0; params.len()]);
            let loss_too =
                gradient_and_hessian_vector(&mlp, &params, &x, &y, &v, &mut ws, &mut grad_too, &mut hv_too);
            let mut grad_alone = vec![0.0; params.len()];
            gradient(&mlp, &params, &x, &y, &mut ws, &mut grad_alone);
            assert_eq!((loss_too, &grad_too, &hv_too), (loss_alone, &grad_alone, &hv));
            let h = 1e-5;
            let shifted = |sign: f64, ws: &mut Workspace<f64>| {
                let p: Vec<f64> = params.iter().zip(&v).map(|(p, v)| p + sign * h * v).collect();
                let mut g = vec![0.0; p.len()];
                gradient(&mlp, &p, &x, &y, ws, &mut g);
                g
            };
            let (up, down) = (shifted(1.0, &mut ws), shifted(-1.0, &mut ws));
            let numeric: Vec<f64> = up.iter().zip(&down).map(|(u, d)| (u - d) / (2.0 * h)).collect();
            let error = max_relative_error(&hv, &numeric);
            assert!(error < 1e-6, "{activation:?} seed {seed}: Hv error {error}");
        }
    }
}

#[test]
fn hutchinson_mean_converges_to_the_exact_diagonal() {
    for activation in [Activation::Relu, Activation::Tanh] {
        let (mlp, params, x, y) = setup(activation, 7);
        let n = params.len();
        let mut ws = Workspace::new(&mlp, y.len());
        // The exact Hessian, column by column from unit vectors.
        let mut hessian = vec![vec![0.0; n]; n];
        for (j, column) in hessian.iter_mut().enumerate() {
            let mut unit = vec![0.0; n];
            unit[j] = 1.0;
            hessian_vector(&mlp, &params, &x, &y, &unit, &mut ws, column);
        }
        let probes = 4000;
        let keys: Vec<u32> = (0..probes).map(|p| probe_key(3, 1, 5, p)).collect();
        let mut grad = vec![0.0; n];
        let mut estimate = vec![0.0; n];
        gradient_and_hutchinson(&mlp, &params, &x, &y, &keys, &mut ws, &mut grad, &mut estimate);
        for j in 0..n {
            let exact = hessian[j][j];
            // One probe's variance is Σ_{k≠j} H_jk²; the mean of N has 1/N of it.
            let variance: f64 = (0..n).filter(|&k| k != j).map(|k| hessian[k][j].powi(2)).sum();
            let bound = 5.0 * (variance / f64::from(probes)).sqrt() + 1e-12;
            assert!(
                (estimate[j] - exact).abs() <= bound,
                "{activation:?} element {j}: estimate {} vs exact {exact} (bound {bound})",
                estimate[j]
            );
        }
        // The Hessian of a twice-differentiable loss is symmetric.
        for (j, row) in hessian.iter().enumerate() {
            for (k, &value) in row.iter().enumerate().take(j) {
                assert!((value - hessian[k][j]).abs() < 1e-9, "asymmetric at {j},{k}");
            }
        }
    }
}

#[test]
fn f32_and_f64_agree() {
    let (mlp, params, x, y) = setup(Activation::Tanh, 1);
    let mut ws64 = Workspace::new(&mlp, y.len());
    let mut g64 = vec![0.0; params.len()];
    gradient(&mlp, &params, &x, &y, &mut ws64, &mut g64);
    let p32: Vec<f32> = params.iter().map(|&v| v as f32).collect();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let mut ws32 = Workspace::new(&mlp, y.len());
    let mut g32 = vec![0.0f32; params.len()];
    gradient(&mlp, &p32, &x32, &y, &mut ws32, &mut g32);
    let g32: Vec<f64> = g32.iter().map(|&v| f64::from(v)).collect();
    assert!(max_relative_error(&g64, &g32) < 1e-5);
}
