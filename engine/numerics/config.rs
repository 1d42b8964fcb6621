//! What the scenario says about the numerics: the hidden activation and the
//! workers' local optimizer with its settings.

use serde::{Deserialize, Serialize};

/// Hidden-layer activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// tanh(x).
    Tanh,
}

/// The workers' local optimizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Optimizer {
    /// Stochastic gradient descent with optional momentum.
    Sgd(SgdConfig),
    /// AdaHessian (Yao et al. 2021) with Hutchinson Hessian-diagonal estimates.
    AdaHessian(AdaHessianConfig),
}

impl Optimizer {
    /// Whether a step needs Hessian-vector products.
    pub fn uses_hessian(&self) -> bool {
        matches!(self, Optimizer::AdaHessian(_))
    }

    /// How many Hutchinson probes step `t` (1-based) needs: `probes` on the steps
    /// that refresh the Hessian diagonal (`(t − 1) mod hessian_every = 0`), 0
    /// otherwise and always for SGD. A fact of the configuration, which both the
    /// timing model (what a step costs) and the trainer (what it computes) ask.
    pub fn hessian_probes(&self, t: u64) -> u32 {
        match self {
            Optimizer::AdaHessian(a) if (t - 1).is_multiple_of(u64::from(a.hessian_every)) => a.probes,
            _ => 0,
        }
    }
}

/// SGD settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate η.
    pub lr: f64,
    /// Heavy-ball momentum μ (0 = none).
    pub momentum: f64,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 0.05, momentum: 0.0, weight_decay: 0.0 }
    }
}

/// AdaHessian settings (defaults as in the paper).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaHessianConfig {
    /// Learning rate η.
    pub lr: f64,
    /// First-moment decay β1.
    pub beta1: f64,
    /// Second-moment decay β2.
    pub beta2: f64,
    /// ε added to the denominator.
    pub eps: f64,
    /// Hessian power κ.
    pub hessian_power: f64,
    /// Decoupled weight decay (AdamW style).
    pub weight_decay: f64,
    /// Recompute the Hessian diagonal every n steps (reusing the last one between).
    pub hessian_every: u32,
    /// Hutchinson probes averaged per estimate.
    pub probes: u32,
}

impl Default for AdaHessianConfig {
    fn default() -> Self {
        AdaHessianConfig {
            lr: 0.15,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-4,
            hessian_power: 1.0,
            weight_decay: 0.0,
            hessian_every: 1,
            probes: 1,
        }
    }
}
