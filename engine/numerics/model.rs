//! The network: a multilayer perceptron with softmax cross-entropy, its flat
//! parameter layout and its deterministic initialization.
//!
//! # Parameter layout
//!
//! All parameters live in one flat `f32` vector, layer by layer from the input:
//! first the weight matrix `[out, in]` row-major, then the bias `[out]` — the layout
//! (and the order) of PyTorch's `nn.Linear`. So `W_l[o][i]` is at
//! `weight_offset(l) + o * fan_in(l) + i` and `b_l[o]` at `bias_offset(l) + o`.
//!
//! # Initialization
//!
//! PyTorch's default for `nn.Linear`: every weight and bias uniform in
//! ±1/√fan_in, drawn in layout order from the [`Purpose::Init`] stream of the seed
//! (each value is `(2u − 1) · bound` with `u` a 53-bit uniform, rounded to `f32`).

pub mod counts;
mod gemm;
mod passes;
pub mod probe;
mod real;

pub use gemm::{Accumulate, Operand, gemm};
pub use passes::{
    Workspace, accuracy_and_loss, gradient, gradient_and_hessian_vector, gradient_and_hutchinson,
    hessian_vector, loss,
};
pub use real::Real;

use crate::numerics::config::Activation;
use crate::rng::{Purpose, SimRng};

/// An MLP: `sizes[0]` inputs, hidden widths, `sizes[last]` classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mlp {
    sizes: Vec<usize>,
    activation: Activation,
}

impl Mlp {
    /// An MLP with the given input width, hidden widths and class count.
    pub fn new(inputs: usize, hidden: &[usize], classes: usize, activation: Activation) -> Self {
        let mut sizes = Vec::with_capacity(hidden.len() + 2);
        sizes.push(inputs);
        sizes.extend_from_slice(hidden);
        sizes.push(classes);
        Mlp { sizes, activation }
    }

    /// Widths from input to output.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The hidden-layer activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Number of linear layers.
    pub fn layers(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Output classes.
    pub fn classes(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Inputs of layer `l` (0-based).
    pub fn fan_in(&self, l: usize) -> usize {
        self.sizes[l]
    }

    /// Outputs of layer `l`.
    pub fn fan_out(&self, l: usize) -> usize {
        self.sizes[l + 1]
    }

    /// Where layer `l`'s weights start in the flat vector.
    pub fn weight_offset(&self, l: usize) -> usize {
        (0..l).map(|j| (self.sizes[j] + 1) * self.sizes[j + 1]).sum()
    }

    /// Where layer `l`'s biases start.
    pub fn bias_offset(&self, l: usize) -> usize {
        self.weight_offset(l) + self.fan_in(l) * self.fan_out(l)
    }

    /// Total parameters.
    pub fn parameter_count(&self) -> usize {
        self.weight_offset(self.layers())
    }

    /// Initial parameters for `seed` (PyTorch's `nn.Linear` default scheme).
    pub fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = SimRng::new(seed, Purpose::Init, 0);
        let mut params = Vec::with_capacity(self.parameter_count());
        for l in 0..self.layers() {
            let bound = 1.0 / (self.fan_in(l) as f64).sqrt();
            for _ in 0..(self.fan_in(l) + 1) * self.fan_out(l) {
                params.push(((2.0 * rng.uniform() - 1.0) * bound) as f32);
            }
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_pytorch_linear() {
        let mlp = Mlp::new(64, &[32], 10, Activation::Relu);
        assert_eq!(mlp.parameter_count(), 64 * 32 + 32 + 32 * 10 + 10);
        assert_eq!(mlp.bias_offset(0), 64 * 32);
        assert_eq!(mlp.weight_offset(1), 64 * 32 + 32);
        assert_eq!(mlp.bias_offset(1), 64 * 32 + 32 + 320);
        assert_eq!(
            mlp.parameter_count() as u64,
            counts::parameter_count(64, &[32], 10),
            "the timing model counts the same parameters"
        );
    }

    #[test]
    fn init_is_seeded_and_bounded() {
        let mlp = Mlp::new(64, &[32], 10, Activation::Tanh);
        let a = mlp.init(5);
        assert_eq!(a, mlp.init(5));
        assert_ne!(a, mlp.init(6));
        let first_bound = 1.0 / 8.0;
        assert!(a[..mlp.weight_offset(1)].iter().all(|w| w.abs() <= first_bound));
        let second_bound = 1.0 / 32f32.sqrt();
        assert!(a[mlp.weight_offset(1)..].iter().all(|w| w.abs() <= second_bound));
        // Uniform: the mean square of U(−b, b) is b²/3.
        let n = mlp.weight_offset(1) as f32;
        let mean_square = a[..mlp.weight_offset(1)].iter().map(|w| w * w).sum::<f32>() / n;
        assert!((mean_square - first_bound * first_bound / 3.0).abs() < 0.0005, "{mean_square}");
    }
}
