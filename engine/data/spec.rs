//! What the scenario says about the data: which dataset, how many samples, and how
//! it is split among the workers. The scenario reads these fields; this module's
//! parent loads what they describe.

use serde::{Deserialize, Serialize};

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
