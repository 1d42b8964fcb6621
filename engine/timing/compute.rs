//! The compute model: how long one local step of one worker takes.
//!
//! A step's cost is the model's FLOPs for one minibatch: forward 2·B·W, backward
//! 4·B·W and, on Hessian-refresh steps of AdaHessian, 12·B·W per Hutchinson probe for
//! the exact Hessian-vector product (an R-forward and an R-backward pass cost about
//! twice a forward and a backward), where B is the batch and W the number of weights
//! (Σ fan-in × fan-out). The time is cost ÷ (flops_per_second × the worker's relative
//! speed), times a lognormal jitter of median 1 (σ = `jitter`), times the straggler
//! factor in force when the step starts. `step_time` replaces the FLOP-based cost.

use crate::base::time::SimTime;
use crate::numerics::model::counts::{step_flops, weight_count};
use crate::rng::SimRng;
use crate::scenario::{Optimizer, Scenario};

/// Step durations for every worker.
#[derive(Clone, Debug)]
pub struct ComputeModel {
    /// Seconds of a plain step (gradient only) at speed 1, before jitter.
    plain_seconds: f64,
    /// Seconds of a step that also refreshes the Hessian diagonal.
    hessian_seconds: f64,
    /// The optimizer, whose schedule says which steps refresh the Hessian.
    optimizer: Optimizer,
    /// Relative speed of each worker.
    speeds: Vec<f64>,
    /// Log-space jitter σ.
    jitter: f64,
}

impl ComputeModel {
    /// The model a scenario describes.
    pub fn new(scenario: &Scenario) -> Self {
        let t = &scenario.training;
        let data = t.data.dataset;
        let weights = weight_count(data.input_dim(), &t.model.hidden, data.classes()) as f64;
        let batch = f64::from(t.data.batch);
        let probes = match &t.optimizer {
            Optimizer::AdaHessian(a) => f64::from(a.probes),
            Optimizer::Sgd(_) => 0.0,
        };
        let (plain_flops, hessian_flops) = step_flops(batch, weights, probes);
        let (plain_seconds, hessian_seconds) = match scenario.compute.step_time {
            Some(fixed) => (fixed.as_secs_f64(), fixed.as_secs_f64()),
            None => {
                let rate = scenario.compute.flops_per_second;
                (plain_flops / rate, hessian_flops / rate)
            }
        };
        let speeds =
            (0..scenario.workers).map(|w| scenario.compute.speed.get(&w).copied().unwrap_or(1.0)).collect();
        ComputeModel {
            plain_seconds,
            hessian_seconds,
            optimizer: t.optimizer.clone(),
            speeds,
            jitter: scenario.compute.jitter,
        }
    }

    /// How long `worker`'s `step`-th step takes when it starts under `straggle`.
    /// Draws from `rng` only when jitter is on.
    pub fn step_time(&self, worker: u32, step: u64, straggle: f64, rng: &mut SimRng) -> SimTime {
        let refresh = self.optimizer.hessian_probes(step) > 0;
        let base = if refresh { self.hessian_seconds } else { self.plain_seconds };
        let jitter = if self.jitter > 0.0 { rng.lognormal(1.0, self.jitter) } else { 1.0 };
        let seconds = base / self.speeds[worker as usize] * jitter * straggle;
        SimTime::from_secs_f64(seconds).max(SimTime(1))
    }
}
