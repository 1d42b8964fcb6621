//! The `training` section of a scenario: model, data, local optimizer, EASGD
//! coupling and the weighting strategies to compare.

use serde::{Deserialize, Serialize};

use crate::timing::time::SimTime;

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

/// Hidden-layer activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// tanh(x).
    Tanh,
}

/// Which data, and how it is split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Data {
    /// The dataset.
    pub dataset: Dataset,
    /// Folder with the IDX files (MNIST, Fashion-MNIST); relative to the scenario.
    pub dir: Option<String>,
    /// Digits only: fraction of the 1797 images held out for testing.
    pub test_fraction: f64,
    /// Overlap ratio r: a shared subset of ⌊r·n⌋ training samples belongs to every worker.
    pub overlap: f64,
    /// Minibatch size of a local step.
    pub batch: u32,
    /// Size of the fixed training sample the training loss is reported on.
    pub train_eval_samples: u32,
    /// Use at most this many training samples (the first after the split).
    pub limit_train: Option<u32>,
    /// Use at most this many test samples.
    pub limit_test: Option<u32>,
    /// Evaluate intermediate rounds on a fixed, seeded subset of this many test
    /// samples (the last round always uses the whole test set).
    pub test_subset: Option<u32>,
    /// How the samples outside the overlap are split between workers.
    pub partition: Partition,
}

impl Default for Data {
    fn default() -> Self {
        Data {
            dataset: Dataset::Digits,
            dir: None,
            test_fraction: 0.2,
            overlap: 0.0,
            batch: 32,
            train_eval_samples: 500,
            limit_train: None,
            limit_test: None,
            test_subset: None,
            partition: Partition::Iid,
        }
    }
}

/// How the training samples outside the shared overlap O are split between the
/// workers (see `crate::data::partition`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Partition {
    /// Disjoint, equal, random shards.
    Iid,
    /// Label-sorted shards (McMahan et al. 2017): each worker sees few classes.
    LabelSorted(LabelSortedConfig),
    /// Per-class worker proportions drawn from a symmetric Dirichlet(β).
    Dirichlet(DirichletConfig),
}

/// Settings of the label-sorted partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelSortedConfig {
    /// c: single-class shards dealt to each worker, so at most c classes per worker.
    pub classes_per_worker: u32,
}

impl Default for LabelSortedConfig {
    fn default() -> Self {
        LabelSortedConfig { classes_per_worker: 2 }
    }
}

/// Settings of the Dirichlet partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirichletConfig {
    /// Concentration β: small concentrates each class on few workers, large
    /// approaches IID.
    pub beta: f64,
}

impl Default for DirichletConfig {
    fn default() -> Self {
        DirichletConfig { beta: 0.5 }
    }
}

/// Classes of every dataset faultline knows (the integer table's bound for
/// `classes_per_worker` relies on it).
pub const CLASSES: usize = 10;

/// The datasets faultline knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dataset {
    /// UCI optical digits (8×8, 10 classes), embedded in the binary.
    Digits,
    /// MNIST (28×28, 10 classes) from IDX files.
    Mnist,
    /// Fashion-MNIST (28×28, 10 classes) from IDX files.
    FashionMnist,
}

impl Dataset {
    /// Input features per sample.
    pub fn input_dim(self) -> usize {
        match self {
            Dataset::Digits => 64,
            Dataset::Mnist | Dataset::FashionMnist => 784,
        }
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        CLASSES
    }

    /// Where its files are when the scenario gives no `dir` (None: embedded or no
    /// standard place).
    pub fn default_dir(self) -> Option<&'static str> {
        match self {
            Dataset::Digits | Dataset::Mnist => None,
            Dataset::FashionMnist => Some("/usr/share/datasets/fashion-mnist"),
        }
    }
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

/// The label of the failure-free control arm.
pub const CONTROL: &str = "control";

/// A weighting strategy: how (a_m, a_w) are chosen at each exchange.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Strategy {
    /// Plain EASGD: a_m = a_w = α.
    Uniform,
    /// Xu & Carr's dynamic weighting by the parameter gap, as faultline
    /// reconstructs it (the paper's formula is not available).
    Dynamic(DynamicConfig),
    /// Down-weight the master pull of stale workers.
    Staleness(StalenessConfig),
    /// Knows the true failure trace (an upper bound, not deployable).
    Oracle,
    /// The failure-free control arm: plain EASGD with every failure of the
    /// scenario removed. Not a weighting strategy and never written in a
    /// scenario: `training.control` adds it (see [`Training::arms`]).
    #[serde(skip)]
    Control,
}

impl Strategy {
    /// The name used in tables and output folders: the kind, plus any non-default
    /// parameters (`dynamic`, `dynamic-gm2-gw1`, `staleness-p0.5`).
    pub fn label(&self) -> String {
        match self {
            Strategy::Uniform => "uniform".into(),
            Strategy::Oracle => "oracle".into(),
            Strategy::Control => CONTROL.into(),
            Strategy::Dynamic(c) if *c == DynamicConfig::default() => "dynamic".into(),
            Strategy::Dynamic(c) => format!("dynamic-gm{}-gw{}", c.gamma_m, c.gamma_w),
            Strategy::Staleness(c) if *c == StalenessConfig::default() => "staleness".into(),
            Strategy::Staleness(c) => format!("staleness-p{}", c.p),
        }
    }
}

/// Parameters of the dynamic strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicConfig {
    /// Exponent γ_m of the master-side down-weighting.
    pub gamma_m: f64,
    /// Exponent γ_w of the worker-side pull-back.
    pub gamma_w: f64,
}

impl Default for DynamicConfig {
    fn default() -> Self {
        DynamicConfig { gamma_m: 1.0, gamma_w: 1.0 }
    }
}

/// Parameters of the staleness strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StalenessConfig {
    /// Exponent p of the staleness penalty.
    pub p: f64,
}

impl Default for StalenessConfig {
    fn default() -> Self {
        StalenessConfig { p: 1.0 }
    }
}
