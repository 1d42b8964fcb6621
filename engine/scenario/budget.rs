//! What a scenario needs in memory, estimated from its fields before anything is
//! allocated, so an impossible scenario is refused with a located message instead
//! of aborting (or swapping) halfway through.
//!
//! The estimate follows what the CPU backend and the trainer allocate (see
//! `backend/cpu.rs`, `model/passes.rs`, `optim.rs`, `data.rs`) and errs on the
//! high side; tests check it against real runs under an address-space limit.

use super::Dataset;
use super::Scenario;
use crate::numerics::model::counts::parameter_count;

/// Most memory one training run may need: scenarios above it are refused by
/// `validate`, whatever the machine. At run time the parallel runs are also fitted
/// into the memory the machine has available.
pub const MAX_RUN_BYTES: u64 = 8 << 30;

/// Rows the evaluation workspace holds (backend/cpu.rs `EVAL_CHUNK`).
const EVAL_ROWS: u64 = 512;
/// Engine and trainer state per worker: a few kilobytes. With it the estimate of
/// a 100 000-worker quickstart is 6.8 GB against a measured peak of 6.2 GB.
const BOOKKEEPING_PER_WORKER: u64 = 4096;
/// Activation buffers per layer in a workspace: forward, backward and their R passes.
const BUFFERS_PER_LAYER: u64 = 8;

/// The memory of one run, by what it is for (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Parameters, optimizer state and message slots of every worker and the center.
    pub model_state: u64,
    /// Activation workspaces of a training step and of evaluation.
    pub activations: u64,
    /// The dataset as loaded plus one seed's split (features and labels).
    pub data: u64,
    /// Each worker's sample indices (its shard plus the overlap subset) and its
    /// minibatch stream's copy of them.
    pub shards: u64,
    /// The engine's and the trainer's per-worker state (random streams, queues,
    /// statistics): a few kilobytes a worker.
    pub bookkeeping: u64,
}

impl MemoryEstimate {
    /// Everything one run needs.
    pub fn total(&self) -> u64 {
        self.model_state + self.activations + self.data + self.shards + self.bookkeeping
    }

    /// What each further run beside the first adds (the loaded dataset is shared).
    pub fn per_extra_run(&self) -> u64 {
        self.model_state + self.activations + self.data / 2 + self.shards + self.bookkeeping
    }

    /// The largest part, for messages: (field path to blame, what it is). Model
    /// state grows with both the model and the workers; many workers take the blame.
    pub fn culprit(&self, workers: u32) -> (&'static str, &'static str) {
        let state_path = if workers > 256 { "workers" } else { "training.model.hidden" };
        let parts = [
            (self.model_state, state_path, "parameters and optimizer state of every worker"),
            (self.activations, "training.data.batch", "activations of a minibatch"),
            (self.data, "training.data", "the dataset"),
            (self.shards, "training.data.overlap", "the workers' sample indices"),
        ];
        let (_, path, what) = parts.into_iter().max_by_key(|p| p.0).unwrap_or((0, "workers", ""));
        (path, what)
    }
}

/// Training and test samples a dataset has before `limit_train` / `limit_test`.
pub(crate) fn nominal_samples(dataset: Dataset) -> (u64, u64) {
    match dataset {
        // The split holds out `test_fraction`; count every sample on both sides.
        Dataset::Digits => (1797, 1797),
        Dataset::Mnist | Dataset::FashionMnist => (60_000, 10_000),
    }
}

/// Estimates the memory one training run of `scenario` needs.
pub fn estimate(scenario: &Scenario) -> MemoryEstimate {
    let t = &scenario.training;
    let dataset = t.data.dataset;
    let inputs = dataset.input_dim() as u64;
    let classes = dataset.classes() as u64;
    let workers = u64::from(scenario.workers);
    let parameters = parameter_count(dataset.input_dim(), &t.model.hidden, dataset.classes());
    // Per worker: parameters, three optimizer vectors, and up to two message slots
    // (a snapshot in flight and a reply); plus the center and the step's gradient,
    // Hessian diagonal, probe and product vectors (twice: training and evaluation).
    let vectors = workers.saturating_mul(6).saturating_add(1 + 2 + 4);
    let model_state = parameters.saturating_mul(vectors).saturating_mul(4);
    let activation_width: u64 = t.model.hidden.iter().map(|&h| u64::from(h)).sum::<u64>() + classes;
    let rows = u64::from(t.data.batch).saturating_add(EVAL_ROWS);
    let activations = rows.saturating_mul(activation_width).saturating_mul(BUFFERS_PER_LAYER * 4);
    let (train, test) = nominal_samples(dataset);
    let train = t.data.limit_train.map_or(train, |l| train.min(u64::from(l)));
    let test = t.data.limit_test.map_or(test, |l| test.min(u64::from(l)));
    let eval = u64::from(t.data.train_eval_samples).min(train);
    // Features are f32 plus a label byte; the loaded set and one split of it.
    let sample_bytes = inputs * 4 + 1;
    let data = (train + test).saturating_mul(sample_bytes).saturating_mul(2) + eval * sample_bytes;
    let shared = (t.data.overlap * train as f64).floor() as u64;
    let own = train.saturating_sub(shared) / workers.max(1);
    let shards = workers.saturating_mul(shared + own).saturating_mul(4 * 2);
    let bookkeeping = workers * BOOKKEEPING_PER_WORKER;
    MemoryEstimate { model_state, activations, data, shards, bookkeeping }
}

/// A byte count for people: "1.5 GiB", "300 MiB", "12 KiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} bytes") } else { format!("{value:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quickstart_is_small_and_huge_models_are_not() {
        let quickstart = estimate(&crate::scenario::LoadedScenario::quickstart().scenario);
        assert!(quickstart.total() < 64 << 20, "{quickstart:?}");

        let mut wide = Scenario::default();
        wide.training.model.hidden = vec![65_536];
        wide.training.data.batch = 65_536;
        assert!(estimate(&wide).total() > MAX_RUN_BYTES);
        assert_eq!(estimate(&wide).culprit(4).0, "training.data.batch");

        let mut deep = Scenario::default();
        deep.training.model.hidden = vec![2500; 16];
        assert!(estimate(&deep).total() > MAX_RUN_BYTES);
        assert_eq!(estimate(&deep).culprit(4).0, "training.model.hidden");
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }
}
