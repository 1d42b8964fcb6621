//! Training data: the datasets, the seeded train/test split, how the training
//! samples are partitioned between workers, the fixed evaluation samples and
//! per-worker minibatch streams.
//!
//! # Partitions (the overlap of the seed paper, Fig. 3, and non-IID splits)
//!
//! With n training samples and overlap ratio r, the training indices are shuffled
//! (from the [`Purpose::DataSplit`] stream); the first ⌊r·n⌋ form the shared subset
//! O that every worker trains on, drawn IID whatever the partition. The rest is
//! split into k disjoint shards S_i, by default IID: ⌊(n − |O|)/k⌋ samples each
//! (the remainder, fewer than k samples, is unused). `LabelSorted(c)` gives each
//! worker at most c classes, `Dirichlet(β)` per-class worker proportions drawn
//! from Dir(β); see [`partition`] for the exact constructions and their label
//! statistics. Worker i trains on O ∪ S_i.
//!
//! # Evaluation samples
//!
//! The training loss is reported on a fixed sample of `train_eval_samples`
//! training samples ([`Purpose::EvalSample`]). With `test_subset: n`, intermediate
//! evaluations use a fixed sample of n test samples drawn once per seed from the
//! [`Purpose::TestSubset`] stream (the first n of a seeded shuffle); a subset at
//! least as large as the test set is the test set itself.
//!
//! # Minibatches
//!
//! Each worker walks its own samples in a random order drawn from its
//! [`Purpose::Minibatch`] stream, reshuffling at every epoch; a batch that runs
//! past the end of an epoch continues into the next. The sequence depends only on
//! how many steps the worker has taken, never on timing or strategy.

mod digits;
mod idx;
pub mod partition;
pub mod spec;

use crate::base::diagnostic::Diagnostic;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::rng::{Purpose, SimRng};
use spec::{Data, Dataset as DatasetKind, Partition};

pub use partition::{overlap_shards, partition_shards};

/// Samples with features in [0, 1] (row-major) and class labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// Features, `len × inputs`.
    pub x: Vec<f32>,
    /// Labels, one per sample.
    pub y: Vec<u8>,
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The samples at `indices`, in that order.
    pub fn gather(&self, indices: &[u32], inputs: usize) -> Samples {
        let mut out =
            Samples { x: Vec::with_capacity(indices.len() * inputs), y: Vec::with_capacity(indices.len()) };
        for &i in indices {
            let i = i as usize;
            out.x.extend_from_slice(&self.x[i * inputs..(i + 1) * inputs]);
            out.y.push(self.y[i]);
        }
        out
    }
}

/// A dataset as loaded, before the seed's split.
#[derive(Clone, Debug)]
pub struct RawData {
    /// Which dataset.
    pub kind: DatasetKind,
    /// Features per sample.
    pub inputs: usize,
    /// Classes.
    pub classes: usize,
    /// Training samples (for Digits: every sample; the split makes the test set).
    pub train: Arc<Samples>,
    /// Test samples (empty for Digits until split).
    pub test: Arc<Samples>,
}

/// One seed's data: train and test sets, each worker's indices and the fixed
/// training sample the training loss is reported on.
#[derive(Clone, Debug)]
pub struct SplitData {
    /// Features per sample.
    pub inputs: usize,
    /// Classes.
    pub classes: usize,
    /// The training set: the loaded one itself, shared by every seed's split,
    /// unless the split had to make its own (Digits, `limit_train`).
    pub train: Arc<Samples>,
    /// The test set, shared like `train`.
    pub test: Arc<Samples>,
    /// The shared subset O and the private shards S_i (indices into `train`).
    pub shards: Shards,
    /// The fixed training sample (a copy of those samples).
    pub train_eval: Samples,
    /// The fixed test subset of intermediate evaluations; `None` when every
    /// evaluation uses the whole test set.
    pub test_subset: Option<Samples>,
}

/// The overlap sharding of a training set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shards {
    /// O: indices every worker trains on.
    pub shared: Vec<u32>,
    /// S_i: each worker's private indices.
    pub private: Vec<Vec<u32>>,
}

impl Shards {
    /// Worker i's training indices: O ∪ S_i (shared first).
    pub fn of(&self, worker: usize) -> Vec<u32> {
        let mut all = self.shared.clone();
        all.extend_from_slice(&self.private[worker]);
        all
    }
}

/// A dataset that cannot be loaded or used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    /// The file or folder concerned.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// How to get it right.
    pub hint: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Diagnostic::from(self).fmt(f)
    }
}

impl From<&DataError> for Diagnostic {
    fn from(error: &DataError) -> Diagnostic {
        Diagnostic::bad_input(error.message.clone()).at(&error.path).help(&error.hint)
    }
}

impl std::error::Error for DataError {}

/// Loads the dataset a scenario names (`base_dir` anchors a relative `dir`).
pub fn load(data: &Data, base_dir: &Path) -> Result<RawData, DataError> {
    match source(data, base_dir) {
        (DatasetKind::Digits, ..) => Ok(digits::load()),
        (kind, dir, keep) => idx::load_pair(kind, &dir, keep),
    }
}

/// What [`source`] says: dataset, folder, and the (train, test) samples kept.
pub type Source = (DatasetKind, PathBuf, (Option<u32>, Option<u32>));

/// Which samples [`load`] gives: the dataset, the folder it reads (unused for the
/// embedded digits), and how many training and test samples it keeps while
/// reading (IDX files are read only as far as `limit_train` and `limit_test`;
/// the digits are split first, so their limits apply later). Equal sources load
/// equal data.
pub fn source(data: &Data, base_dir: &Path) -> Source {
    let dir = data.dir.as_deref().or(data.dataset.default_dir()).unwrap_or(".");
    let keep = match data.dataset {
        DatasetKind::Digits => (None, None),
        _ => (data.limit_train, data.limit_test),
    };
    (data.dataset, base_dir.join(dir), keep)
}

/// The files [`load`] reads for `data` (none for the embedded digits, which
/// the faultline build carries).
pub fn input_files(data: &Data, base_dir: &Path) -> Vec<PathBuf> {
    match source(data, base_dir) {
        (DatasetKind::Digits, ..) => Vec::new(),
        (_, dir, _) => idx::files(&dir),
    }
}

impl RawData {
    /// The split, shards and evaluation sample of one seed.
    pub fn split(&self, data: &Data, workers: usize, seed: u64) -> Result<SplitData, DataError> {
        let mut rng = SimRng::new(seed, Purpose::DataSplit, 0);
        let (mut train, mut test) = match self.kind {
            DatasetKind::Digits => {
                let mut order: Vec<u32> = (0..self.train.len() as u32).collect();
                rng.shuffle(&mut order);
                let test_len =
                    ((data.test_fraction * order.len() as f64).round() as usize).clamp(1, order.len() - 1);
                let test = self.train.gather(&order[..test_len], self.inputs);
                let train = self.train.gather(&order[test_len..], self.inputs);
                (Arc::new(train), Arc::new(test))
            }
            // Not copied: every seed (and, in a sweep, every grid point) trains on
            // the same samples, which for Fashion-MNIST are 188 MB.
            _ => (Arc::clone(&self.train), Arc::clone(&self.test)),
        };
        if let Some(limit) = data.limit_train {
            truncate(&mut train, limit as usize, self.inputs);
        }
        if let Some(limit) = data.limit_test {
            truncate(&mut test, limit as usize, self.inputs);
        }
        if test.is_empty() {
            // Every evaluation would report accuracy 0 and the run would look fine.
            return Err(DataError {
                path: format!("{:?} data", self.kind),
                message: "the test set is empty, so no accuracy can be measured".into(),
                hint: "use a dataset with test samples".into(),
            });
        }
        let mut order: Vec<u32> = (0..train.len() as u32).collect();
        rng.shuffle(&mut order);
        let shards = partition_shards(order, &train.y, workers, data.overlap, &data.partition, seed);
        if shards.shared.is_empty() && shards.private.iter().any(Vec::is_empty) {
            let (message, hint) = match &data.partition {
                Partition::Iid => (
                    format!("{} training samples cannot give each of {workers} workers a shard", train.len()),
                    "use fewer workers, more data (limit_train) or a positive overlap".to_string(),
                ),
                Partition::LabelSorted(c) => (
                    format!(
                        "{} training samples cannot be cut into {workers} × {} single-class shards \
                         that all hold a sample",
                        train.len(),
                        c.classes_per_worker
                    ),
                    "use fewer workers or classes_per_worker, more data or a positive overlap".to_string(),
                ),
                Partition::Dirichlet(d) => (
                    format!(
                        "with beta {}, every one of {} Dirichlet draws left one of the {workers} \
                         workers without training samples",
                        d.beta,
                        partition::DIRICHLET_DRAWS
                    ),
                    "use a larger beta, fewer workers or a positive overlap".to_string(),
                ),
            };
            return Err(DataError { path: format!("{:?} data", self.kind), message, hint });
        }
        let eval_order =
            seeded_sample(train.len(), data.train_eval_samples as usize, seed, Purpose::EvalSample);
        let train_eval = train.gather(&eval_order, self.inputs);
        let test_subset = data
            .test_subset
            .map(|n| n as usize)
            .filter(|&n| n < test.len())
            .map(|n| test.gather(&seeded_sample(test.len(), n, seed, Purpose::TestSubset), self.inputs));
        Ok(SplitData {
            inputs: self.inputs,
            classes: self.classes,
            train,
            test,
            shards,
            train_eval,
            test_subset,
        })
    }
}

/// The first `n` of a shuffle of `0..len` drawn from the `purpose` stream: a fixed
/// random sample of at most `n` indices, in draw order.
fn seeded_sample(len: usize, n: usize, seed: u64, purpose: Purpose) -> Vec<u32> {
    let mut rng = SimRng::new(seed, purpose, 0);
    let mut order: Vec<u32> = (0..len as u32).collect();
    rng.shuffle(&mut order);
    order.truncate(n);
    order
}

/// Keeps the first `limit` samples (a copy, when there are more).
fn truncate(samples: &mut Arc<Samples>, limit: usize, inputs: usize) {
    if samples.len() > limit {
        *samples =
            Arc::new(Samples { x: samples.x[..limit * inputs].to_vec(), y: samples.y[..limit].to_vec() });
    }
}

/// One worker's endless stream of minibatches over its indices.
#[derive(Clone, Debug)]
pub struct Sampler {
    indices: Vec<u32>,
    position: usize,
    rng: SimRng,
}

impl Sampler {
    /// The stream of `worker` over `indices` under `seed`.
    pub fn new(indices: Vec<u32>, seed: u64, worker: u32) -> Self {
        let mut rng = SimRng::new(seed, Purpose::Minibatch, u64::from(worker));
        let mut indices = indices;
        rng.shuffle(&mut indices);
        Sampler { indices, position: 0, rng }
    }

    /// The next `batch` indices into `out` (cleared first).
    pub fn next_batch(&mut self, batch: usize, out: &mut Vec<u32>) {
        out.clear();
        if self.indices.is_empty() {
            return;
        }
        while out.len() < batch {
            if self.position == self.indices.len() {
                self.rng.shuffle(&mut self.indices);
                self.position = 0;
            }
            let take = (batch - out.len()).min(self.indices.len() - self.position);
            out.extend_from_slice(&self.indices[self.position..self.position + take]);
            self.position += take;
        }
    }
}
