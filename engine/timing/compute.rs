//! The compute model: how long one local step of one worker takes.
//!
//! A step's cost is the model's FLOPs for one minibatch: forward 2·B·W, backward
//! 4·B·W and, on Hessian-refresh steps of AdaHessian, 12·B·W per Hutchinson probe for
//! the exact Hessian-vector product (an R-forward and an R-backward pass cost about
//! twice a forward and a backward), where B is the batch and W the number of weights
//! (Σ fan-in × fan-out). The time is cost ÷ (flops_per_second × the worker's relative
//! speed), times a lognormal jitter of median 1 (σ = `jitter`), times the straggler
//! factor in force when the step starts. `step_time` replaces the FLOP-based cost.

use crate::rng::SimRng;
use crate::scenario::{Optimizer, Scenario};
use crate::timing::time::SimTime;

/// Parameters of an MLP: per layer, weights (fan-in × fan-out) and biases.
pub fn parameter_count(inputs: usize, hidden: &[u32], classes: usize) -> u64 {
    layer_shapes(inputs, hidden, classes).map(|(i, o)| (i + 1) * o).sum()
}

/// Weights only (Σ fan-in × fan-out): what the multiply-adds scale with.
pub fn weight_count(inputs: usize, hidden: &[u32], classes: usize) -> u64 {
    layer_shapes(inputs, hidden, classes).map(|(i, o)| i * o).sum()
}

/// (fan-in, fan-out) of each layer, input to output.
fn layer_shapes(inputs: usize, hidden: &[u32], classes: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
    let widths: Vec<u64> = std::iter::once(inputs as u64)
        .chain(hidden.iter().map(|&h| u64::from(h)))
        .chain(std::iter::once(classes as u64))
        .collect();
    (0..widths.len() - 1).map(move |l| (widths[l], widths[l + 1]))
}

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
        let plain_flops = 6.0 * batch * weights;
        let hessian_flops = plain_flops + 12.0 * batch * weights * probes;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parameters_like_pytorch_linear_layers() {
        // 64-32-10: 64·32 + 32 + 32·10 + 10
        assert_eq!(parameter_count(64, &[32], 10), 2080 + 330);
        assert_eq!(weight_count(64, &[32], 10), 2048 + 320);
        assert_eq!(parameter_count(784, &[], 10), 7850);
    }
}
