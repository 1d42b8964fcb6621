//! Optimizer steps against `optim::LocalOptimizer`.
//!
//! Tolerance: 1e-6 relative per parameter after several steps (|x| ≥ 0.1 here, so
//! an absolute 1e-7 floor never dominates); the GPU may fuse multiply-adds.

use faultline::numerics::gpu::{OptimizerBuffers, OptimizerStep, StateOffsets};
use faultline::numerics::optim::LocalOptimizer;
use faultline::scenario::{AdaHessianConfig, Optimizer, SgdConfig};

use crate::{Data, gpu};

/// Runs `steps` steps for three pairs (different settings and step counts) on
/// both backends and returns the worst relative error of the parameters.
fn compare(configs: &[Optimizer; 3], steps: u64, n: usize, seed: u64) -> f64 {
    let context = gpu().expect("checked by the caller");
    let mut data = Data::new(seed);
    let pairs = configs.len();
    let stride = n + 5;
    let initial: Vec<f32> = data.vec(pairs * stride).iter().map(|v| v.signum() * (0.1 + v.abs())).collect();
    let mut cpu: Vec<Vec<f32>> = (0..pairs).map(|q| initial[q * stride..q * stride + n].to_vec()).collect();
    let mut optimizers: Vec<LocalOptimizer> = configs.iter().map(|c| LocalOptimizer::new(c, n)).collect();
    let params = context.upload("params", &initial).unwrap();
    let first = context.zeros::<f32>("first", pairs * stride).unwrap();
    let second = context.zeros::<f32>("second", pairs * stride).unwrap();
    let grad = context.zeros::<f32>("grad", pairs * stride).unwrap();
    let diagonal = context.zeros::<f32>("diagonal", pairs * stride).unwrap();
    for t in 1..=steps {
        let g = data.vec(pairs * stride);
        let d: Vec<f32> = data.vec(pairs * stride).iter().map(|v| v * 3.0).collect();
        context.write(&grad, 0, &g).unwrap();
        // The diagonal refreshes on odd steps only; even steps reuse it.
        let fresh = t % 2 == 1;
        if fresh {
            context.write(&diagonal, 0, &d).unwrap();
        }
        for q in 0..pairs {
            // Pair q starts one step later per q: different bias corrections.
            let step = t + q as u64;
            let slice = q * stride..q * stride + n;
            let diag = fresh.then(|| &d[slice.clone()]);
            optimizers[q].step(&mut cpu[q], &g[slice.clone()], diag, step);
        }
        let entries: Vec<OptimizerStep> = (0..pairs)
            .map(|q| {
                let o = q * stride;
                OptimizerStep {
                    optimizer: &configs[q],
                    step: t + q as u64,
                    at: StateOffsets { params: o, grad: o, first: o, second: o, diagonal: o, len: n },
                }
            })
            .collect();
        let buffers = OptimizerBuffers {
            params: &params,
            grad: &grad,
            first: &first,
            second: Some(&second),
            diagonal: Some(&diagonal),
        };
        let mut recording = context.record("optimizer");
        recording.optimizer_steps(&entries, buffers).unwrap();
        context.submit(recording).unwrap();
    }
    let got = context.download(&params).unwrap();
    let mut worst = 0.0f64;
    for q in 0..pairs {
        for j in 0..n {
            let (g, w) = (f64::from(got[q * stride + j]), f64::from(cpu[q][j]));
            worst = worst.max((g - w).abs() / w.abs().max(0.1));
        }
        assert_eq!(
            got[q * stride + n..(q + 1) * stride],
            initial[q * stride + n..(q + 1) * stride],
            "gap written"
        );
    }
    worst
}

#[test]
fn sgd_matches_the_cpu() {
    if gpu().is_none() {
        return;
    }
    let configs = [
        Optimizer::Sgd(SgdConfig { lr: 0.05, momentum: 0.0, weight_decay: 0.0 }),
        Optimizer::Sgd(SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 1e-3 }),
        Optimizer::Sgd(SgdConfig { lr: 0.01, momentum: 0.5, weight_decay: 0.0 }),
    ];
    let error = compare(&configs, 6, 1000, 1);
    assert!(error <= 1e-6, "relative error {error:e}");
}

#[test]
fn adahessian_matches_the_cpu() {
    if gpu().is_none() {
        return;
    }
    let configs = [
        Optimizer::AdaHessian(AdaHessianConfig::default()),
        Optimizer::AdaHessian(AdaHessianConfig { lr: 0.05, weight_decay: 1e-2, ..Default::default() }),
        Optimizer::AdaHessian(AdaHessianConfig { hessian_power: 0.5, eps: 1e-3, ..Default::default() }),
    ];
    let error = compare(&configs, 6, 777, 2);
    assert!(error <= 1e-6, "relative error {error:e}");
}

#[test]
fn mixed_or_overlapping_entries_are_rejected() {
    let Some(context) = gpu() else { return };
    let buffer = || context.zeros::<f32>("state", 16).unwrap();
    let (params, grad, first) = (buffer(), buffer(), buffer());
    let buffers =
        OptimizerBuffers { params: &params, grad: &grad, first: &first, second: None, diagonal: None };
    let sgd = Optimizer::Sgd(SgdConfig::default());
    let ada = Optimizer::AdaHessian(AdaHessianConfig::default());
    let at = StateOffsets { len: 8, ..Default::default() };
    let mut recording = context.record("bad steps");
    let mixed = [
        OptimizerStep { optimizer: &sgd, step: 1, at },
        OptimizerStep { optimizer: &ada, step: 1, at: StateOffsets { params: 8, ..at } },
    ];
    assert!(recording.optimizer_steps(&mixed, buffers).is_err());
    let same =
        [OptimizerStep { optimizer: &sgd, step: 1, at }, OptimizerStep { optimizer: &sgd, step: 1, at }];
    assert!(recording.optimizer_steps(&same, buffers).is_err());
    let ada_without_state = [OptimizerStep { optimizer: &ada, step: 1, at }];
    assert!(recording.optimizer_steps(&ada_without_state, buffers).is_err());
}
