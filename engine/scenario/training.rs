//! The `training` section of a scenario: model, data, local optimizer, EASGD
//! coupling and the weighting strategies to compare.

use serde::{Deserialize, Serialize};

use crate::base::time::SimTime;
use crate::data::spec::Data;
use crate::numerics::config::{Activation, AdaHessianConfig, Optimizer};
use crate::weighting::{DynamicConfig, Strategy};

/// What is trained and how the workers are coupled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Training {
    /// Communication period τ: local steps between two exchanges.
    pub tau: u32,
    /// EASGD moving rate α; default 0.9 / workers.
    pub alpha: Option<f64>,
    /// How workers and master are coupled.
    pub coupling: Coupling,
    /// A worker waiting longer than this for the master's reply gives up on the
    /// exchange, continues locally and tries again at its next τ boundary.
    pub sync_timeout: SimTime,
    /// Synchronous modes: the master closes a barrier this long after its first
    /// arrival even if workers are missing; default half of `sync_timeout`.
    pub barrier_timeout: Option<SimTime>,
    /// What a worker does after it recovers from a crash.
    pub recovery: Recovery,
    /// The network.
    pub model: ModelConfig,
    /// The data and how it is split between workers.
    pub data: Data,
    /// The workers' local optimizer.
    pub optimizer: Optimizer,
    /// The weighting strategies to compare, each under the same failure trace.
    pub strategies: Vec<Strategy>,
    /// Test accuracy whose first reaching is reported (rounds and virtual time).
    pub target_accuracy: f64,
    /// Evaluate the center every this many rounds (and always at the last round).
    pub evaluate_every: u32,
    /// Also train, per seed, a failure-free control arm: plain EASGD (`uniform`)
    /// on the same data with every failure of the scenario removed and every
    /// worker at full speed (`compute.speed` cleared). The comparison
    /// then reports what the failures cost each strategy and how much of the
    /// baseline's cost it recovers.
    pub control: bool,
    /// Also report the accuracy AUC over the first this many rounds (early
    /// progress, which the plateau of a long run dilutes).
    pub early_rounds: Option<u64>,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            tau: 4,
            alpha: None,
            coupling: Coupling::Async,
            sync_timeout: SimTime::from_secs(1),
            barrier_timeout: None,
            recovery: Recovery::Stale,
            model: ModelConfig::default(),
            data: Data::default(),
            optimizer: Optimizer::AdaHessian(AdaHessianConfig::default()),
            strategies: vec![Strategy::Uniform, Strategy::Dynamic(DynamicConfig::default())],
            target_accuracy: 0.9,
            evaluate_every: 1,
            control: false,
            early_rounds: None,
        }
    }
}

impl Training {
    /// α, with its default 0.9 / k filled in.
    pub fn alpha(&self, workers: u32) -> f64 {
        self.alpha.unwrap_or(0.9 / f64::from(workers.max(1)))
    }

    /// The arms to train: `chosen` strategies, then the failure-free control when
    /// the scenario asks for one (and `chosen` lacks it).
    pub fn arms(&self, mut chosen: Vec<Strategy>) -> Vec<Strategy> {
        if self.control && !chosen.contains(&Strategy::Control) {
            chosen.push(Strategy::Control);
        }
        chosen
    }

    /// The barrier timeout, with its default (half the sync timeout) filled in.
    pub fn barrier_timeout(&self) -> SimTime {
        self.barrier_timeout.unwrap_or(SimTime(self.sync_timeout.as_nanos() / 2))
    }
}

/// How workers exchange with the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Coupling {
    /// Asynchronous EASGD; a worker waits for the master's reply (up to the timeout).
    Async,
    /// Asynchronous EASGD; a worker keeps computing while its exchange is in flight.
    AsyncNonBlocking,
    /// Synchronous EASGD: the master updates once per barrier from all arrivals.
    SyncEasgd,
    /// Synchronous model averaging (local SGD): the center becomes the (weighted)
    /// mean of the arrivals and every participant takes it.
    SyncAverage,
}

impl Coupling {
    /// Whether exchanges meet at a barrier.
    pub fn is_synchronous(self) -> bool {
        matches!(self, Coupling::SyncEasgd | Coupling::SyncAverage)
    }
}

/// What a recovered worker starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recovery {
    /// Its own parameters from before the crash (the case the dynamic strategy targets).
    Stale,
    /// It first fetches the center from the master (one request and reply).
    FetchCenter,
}

/// A multilayer perceptron with softmax cross-entropy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Widths of the hidden layers.
    pub hidden: Vec<u32>,
    /// Activation after every hidden layer.
    pub activation: Activation,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { hidden: vec![32], activation: Activation::Relu }
    }
}
