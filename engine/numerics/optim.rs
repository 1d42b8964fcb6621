//! Local optimizers: SGD with optional momentum, and AdaHessian.
//!
//! AdaHessian (Yao et al. 2021), per element, at the worker's optimizer step t
//! (1-based, counted over its whole life):
//!
//! ```text
//! m ← β1·m + (1−β1)·g          v ← β2·v + (1−β2)·D⊙D
//! x ← x − η·( (m / (1−β1^t)) / ((√(v / (1−β2^t)))^κ + ε)  +  wd·x )
//! ```
//!
//! D is the Hutchinson estimate of the Hessian diagonal, refreshed on the steps
//! where `(t − 1) mod hessian_every = 0` and reused in between (as the reference
//! implementation does). Weight decay is decoupled (AdamW style), as in the paper's
//! code. Spatial averaging of D applies to convolution kernels only, so an MLP has
//! none.
//!
//! SGD follows PyTorch: g' = g + wd·x; b ← μ·b + g' (b starts at 0); x ← x − η·b.

use crate::numerics::config::{AdaHessianConfig, Optimizer};
use crate::numerics::wide::wide;

/// The `f32` scalars of AdaHessian step `t` (1-based), shared by the CPU and GPU
/// backends so both round them the same way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaHessianScalars {
    /// β1.
    pub b1: f32,
    /// β2.
    pub b2: f32,
    /// 1 − β1, computed in f64 and rounded once.
    pub rest1: f32,
    /// 1 − β2, computed in f64 and rounded once.
    pub rest2: f32,
    /// 1 − β1^t.
    pub correction1: f32,
    /// 1 − β2^t.
    pub correction2: f32,
    /// η.
    pub lr: f32,
    /// ε.
    pub eps: f32,
    /// Decoupled weight decay.
    pub decay: f32,
    /// The Hessian power κ.
    pub power: f32,
}

impl AdaHessianScalars {
    /// The scalars of step `t` under `c`.
    pub fn new(c: &AdaHessianConfig, t: u64) -> Self {
        let exponent = i32::try_from(t.min(1 << 30)).unwrap_or(i32::MAX);
        AdaHessianScalars {
            b1: c.beta1 as f32,
            b2: c.beta2 as f32,
            // 1 − β in f64, then one rounding to f32, as PyTorch does with Python
            // floats: 1 − 0.999 in f32 is off by 1.3e-5 relative.
            rest1: (1.0 - c.beta1) as f32,
            rest2: (1.0 - c.beta2) as f32,
            correction1: (1.0 - c.beta1.powi(exponent)) as f32,
            correction2: (1.0 - c.beta2.powi(exponent)) as f32,
            lr: c.lr as f32,
            eps: c.eps as f32,
            decay: c.weight_decay as f32,
            power: c.hessian_power as f32,
        }
    }
}

/// One worker's optimizer: its settings and its state.
#[derive(Clone, Debug)]
pub struct LocalOptimizer {
    config: Optimizer,
    /// SGD: the momentum buffer. AdaHessian: the first moment m.
    first: Vec<f32>,
    /// AdaHessian: the second moment v.
    second: Vec<f32>,
    /// AdaHessian: the last Hessian-diagonal estimate D.
    diagonal: Vec<f32>,
}

impl LocalOptimizer {
    /// A fresh optimizer for `parameters` values.
    pub fn new(config: &Optimizer, parameters: usize) -> Self {
        let adahessian = matches!(config, Optimizer::AdaHessian(_));
        let second_len = if adahessian { parameters } else { 0 };
        LocalOptimizer {
            config: config.clone(),
            first: vec![0.0; parameters],
            second: vec![0.0; second_len],
            diagonal: vec![0.0; second_len],
        }
    }

    /// Applies step `t` (1-based) with gradient `grad` and, on refresh steps, a new
    /// Hessian-diagonal estimate.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32], fresh_diagonal: Option<&[f32]>, t: u64) {
        assert_eq!(params.len(), grad.len());
        match &self.config {
            Optimizer::Sgd(c) => {
                let (lr, momentum, decay) = (c.lr as f32, c.momentum as f32, c.weight_decay as f32);
                wide(|| {
                    for ((x, &g), b) in params.iter_mut().zip(grad).zip(&mut self.first) {
                        let g = g + decay * *x;
                        *b = momentum * *b + g;
                        *x -= lr * *b;
                    }
                });
            }
            Optimizer::AdaHessian(c) => {
                if let Some(d) = fresh_diagonal {
                    self.diagonal.copy_from_slice(d);
                }
                let AdaHessianScalars {
                    b1,
                    b2,
                    rest1,
                    rest2,
                    correction1,
                    correction2,
                    lr,
                    eps,
                    decay,
                    power,
                } = AdaHessianScalars::new(c, t);
                let elements = params
                    .iter_mut()
                    .zip(grad)
                    .zip(&mut self.first)
                    .zip(&mut self.second)
                    .zip(&self.diagonal);
                let update = |scale: &dyn Fn(f32) -> f32| {
                    for ((((x, &g), m), v), &d) in elements {
                        *m = b1 * *m + rest1 * g;
                        *v = b2 * *v + rest2 * d * d;
                        let root = (*v / correction2).sqrt();
                        *x -= lr * ((*m / correction1) / (scale(root) + eps) + decay * *x);
                    }
                };
                // The power's test stays outside the loop: inside, the vectorized
                // loop computed powf for every element only to discard it.
                wide(|| if power == 1.0 { update(&|root| root) } else { update(&|root| root.powf(power)) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::config::SgdConfig;

    #[test]
    fn adahessian_matches_hand_computation() {
        let config = Optimizer::AdaHessian(AdaHessianConfig { lr: 0.1, ..Default::default() });
        let mut opt = LocalOptimizer::new(&config, 2);
        let mut x = [1.0f32, -2.0];
        // t = 1: m = 0.1·g, v = 0.001·D², m̂ = g, √v̂ = |D|.
        opt.step(&mut x, &[0.5, 0.1], Some(&[4.0, 0.25]), 1);
        let expected: [f64; 2] = [1.0 - 0.1 * 0.5 / 4.0001, -2.0 - 0.1 * 0.1 / 0.2501];
        for j in 0..2 {
            assert!((f64::from(x[j]) - expected[j]).abs() < 1e-6, "{x:?}");
        }
        // t = 2 reuses D when none is given: m = 0.19·g·…, computed by hand below.
        opt.step(&mut x, &[0.5, 0.1], None, 2);
        let m = [0.9 * 0.05 + 0.1 * 0.5, 0.9 * 0.01 + 0.1 * 0.1];
        let v = [0.999 * 0.016 + 0.001 * 16.0, 0.999 * 0.0000625 + 0.001 * 0.0625];
        let (c1, c2) = (1.0 - 0.9f64.powi(2), 1.0 - 0.999f64.powi(2));
        for j in 0..2 {
            let step = 0.1 * (m[j] / c1) / ((v[j] / c2).sqrt() + 1e-4);
            let want = expected[j] - step;
            assert!((f64::from(x[j]) - want).abs() < 1e-6, "{j}: {} vs {want}", x[j]);
        }
    }

    #[test]
    fn adahessian_takes_one_minus_beta_in_f64() {
        // 1 − β rounded once from f64 (as PyTorch computes it), not 1 − (β as f32):
        // for β2 = 0.999 the two differ by 1.3e-5 relative, for β1 = 0.9 by 2.4e-7.
        let config = Optimizer::AdaHessian(AdaHessianConfig::default());
        let mut opt = LocalOptimizer::new(&config, 2);
        let (g, d) = ([1.0f32, 0.75], [1.0f32, 3.0]);
        opt.step(&mut [0.0, 0.0], &g, Some(&d), 1);
        let (rest1, rest2) = ((1.0 - 0.9f64) as f32, (1.0 - 0.999f64) as f32);
        assert_ne!(rest2, 1.0 - 0.999f32);
        assert_ne!(rest1, 1.0 - 0.9f32);
        for j in 0..2 {
            assert_eq!(opt.first[j], rest1 * g[j], "m[{j}]");
            assert_eq!(opt.second[j], rest2 * d[j] * d[j], "v[{j}]");
        }
    }

    #[test]
    fn adahessian_refresh_schedule() {
        let config =
            Optimizer::AdaHessian(AdaHessianConfig { hessian_every: 3, probes: 2, ..Default::default() });
        let probes: Vec<u32> = (1..=7).map(|t| config.hessian_probes(t)).collect();
        assert_eq!(probes, [2, 0, 0, 2, 0, 0, 2]);
        assert_eq!(Optimizer::Sgd(Default::default()).hessian_probes(1), 0);
    }

    #[test]
    fn sgd_with_momentum_and_decay() {
        let config = Optimizer::Sgd(SgdConfig { lr: 0.5, momentum: 0.9, weight_decay: 0.1 });
        let mut opt = LocalOptimizer::new(&config, 1);
        let mut x = [2.0f32];
        opt.step(&mut x, &[1.0], None, 1); // g' = 1.2, b = 1.2, x = 1.4
        assert!((x[0] - 1.4).abs() < 1e-6);
        opt.step(&mut x, &[1.0], None, 2); // g' = 1.14, b = 2.22, x = 0.29
        assert!((x[0] - 0.29).abs() < 1e-6, "{}", x[0]);
    }
}
