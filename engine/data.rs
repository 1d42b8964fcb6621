//! Training data: the datasets, the seeded train/test split, overlap sharding
//! between workers and per-worker minibatch streams.
//!
//! # Overlap sharding (the seed paper, Fig. 3)
//!
//! With n training samples and overlap ratio r, the training indices are shuffled
//! (from the [`Purpose::DataSplit`] stream); the first ⌊r·n⌋ form the shared subset
//! O that every worker trains on, and the rest are cut into k disjoint shards of
//! ⌊(n − |O|)/k⌋ samples each (the remainder, fewer than k samples, is unused).
//! Worker i trains on O ∪ S_i.
//!
//! # Minibatches
//!
//! Each worker walks its own samples in a random order drawn from its
//! [`Purpose::Minibatch`] stream, reshuffling at every epoch; a batch that runs
//! past the end of an epoch continues into the next. The sequence depends only on
//! how many steps the worker has taken, never on timing or strategy.

mod digits;
mod idx;

use std::fmt;
use std::path::Path;

use crate::rng::{Purpose, SimRng};
use crate::scenario::{Data, Dataset as DatasetKind};

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
    pub train: Samples,
    /// Test samples (empty for Digits until split).
    pub test: Samples,
}

/// One seed's data: train and test sets, each worker's indices and the fixed
/// training sample the training loss is reported on.
#[derive(Clone, Debug)]
pub struct SplitData {
    /// Features per sample.
    pub inputs: usize,
    /// Classes.
    pub classes: usize,
    /// The training set.
    pub train: Samples,
    /// The test set.
    pub test: Samples,
    /// The shared subset O and the private shards S_i (indices into `train`).
    pub shards: Shards,
    /// The fixed training sample (a copy of those samples).
    pub train_eval: Samples,
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
        write!(f, "error: {}: {}\n  = help: {}", self.path, self.message, self.hint)
    }
}

impl std::error::Error for DataError {}

/// Loads the dataset a scenario names (`base_dir` anchors a relative `dir`).
pub fn load(data: &Data, base_dir: &Path) -> Result<RawData, DataError> {
    match data.dataset {
        DatasetKind::Digits => Ok(digits::load()),
        kind @ (DatasetKind::Mnist | DatasetKind::FashionMnist) => {
            let dir = data.dir.as_deref().or(kind.default_dir()).unwrap_or(".");
            idx::load_pair(kind, &base_dir.join(dir))
        }
    }
}

/// Cuts `n` shuffled indices into the shared subset and `workers` private shards.
pub fn overlap_shards(mut order: Vec<u32>, workers: usize, overlap: f64) -> Shards {
    let n = order.len();
    let shared_len = ((overlap * n as f64).floor() as usize).min(n);
    let rest = order.split_off(shared_len);
    let shard_len = rest.len() / workers.max(1);
    let private = (0..workers).map(|w| rest[w * shard_len..(w + 1) * shard_len].to_vec()).collect();
    Shards { shared: order, private }
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
                (train, test)
            }
            _ => (self.train.clone(), self.test.clone()),
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
        let shards = overlap_shards(order, workers, data.overlap);
        if shards.shared.is_empty() && shards.private.iter().any(Vec::is_empty) {
            return Err(DataError {
                path: format!("{:?} data", self.kind),
                message: format!(
                    "{} training samples cannot give each of {workers} workers a shard",
                    train.len()
                ),
                hint: "use fewer workers, more data (limit_train) or a positive overlap".into(),
            });
        }
        let mut eval_rng = SimRng::new(seed, Purpose::EvalSample, 0);
        let mut eval_order: Vec<u32> = (0..train.len() as u32).collect();
        eval_rng.shuffle(&mut eval_order);
        eval_order.truncate(data.train_eval_samples as usize);
        let train_eval = train.gather(&eval_order, self.inputs);
        Ok(SplitData { inputs: self.inputs, classes: self.classes, train, test, shards, train_eval })
    }
}

fn truncate(samples: &mut Samples, limit: usize, inputs: usize) {
    if samples.len() > limit {
        samples.y.truncate(limit);
        samples.x.truncate(limit * inputs);
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
