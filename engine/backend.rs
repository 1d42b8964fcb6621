//! The boundary between the training logic and where the numbers are computed.
//!
//! A backend owns every worker's parameters and optimizer state, the center, and
//! message buffers ("slots") holding what an exchange carries. The trainer only
//! tells it what to do and reads back the few scalars a strategy or a metric
//! needs (a loss, a gap, an evaluation), so a GPU backend can keep everything on
//! the device. [`cpu::CpuBackend`] is the plain-Rust reference.

pub mod cpu;

/// A message buffer inside a backend.
pub type Slot = usize;

/// One local optimizer step.
#[derive(Clone, Copy, Debug)]
pub struct StepRequest<'a> {
    /// The worker.
    pub worker: usize,
    /// Its optimizer step t (1-based).
    pub step: u64,
    /// Indices of the minibatch's samples in the training set.
    pub batch: &'a [u32],
    /// Hutchinson probe keys when this step refreshes the Hessian diagonal (empty
    /// otherwise, and always for SGD).
    pub probe_keys: &'a [u32],
}

/// The center's quality, measured at the end of a round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Share of test samples classified correctly.
    pub test_accuracy: f64,
    /// Mean cross-entropy on the test set.
    pub test_loss: f64,
    /// Mean cross-entropy on the fixed training sample.
    pub train_loss: f64,
}

/// Which test samples an evaluation measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestSet {
    /// The whole test set.
    Full,
    /// The fixed, seeded test subset (`training.data.test_subset`); the whole test
    /// set when there is none.
    Subset,
}

impl TestSet {
    /// Its name in metrics.csv.
    pub fn name(self) -> &'static str {
        match self {
            TestSet::Full => "full",
            TestSet::Subset => "subset",
        }
    }
}

/// Where the numbers are computed.
pub trait Backend {
    /// What it runs on, for the manifest (e.g. `cpu`, or a GPU adapter's name).
    fn describe(&self) -> String;
    /// One local step of a worker; returns the minibatch loss before the update.
    fn local_step(&mut self, request: StepRequest) -> f32;
    /// A fresh, unused message buffer.
    fn new_slot(&mut self) -> Slot;
    /// Returns a buffer for reuse.
    fn release(&mut self, slot: Slot);
    /// slot ← x_worker (an exchange request's payload).
    fn snapshot_worker(&mut self, worker: usize, slot: Slot);
    /// slot ← x̃ (a fetch reply's payload).
    fn snapshot_center(&mut self, slot: Slot);
    /// ‖slot − x̃‖₂.
    fn gap(&mut self, slot: Slot) -> f64;
    /// Asynchronous EASGD at the master: e = slot − x̃; x̃ ← x̃ + a_m·e; slot ← e.
    fn master_update(&mut self, slot: Slot, a_m: f64);
    /// Synchronous EASGD: with every e_i = slot_i − x̃ taken against the same x̃,
    /// x̃ ← x̃ + Σ a_m,i·e_i and slot_i ← e_i.
    fn barrier_update(&mut self, parts: &[(Slot, f64)]);
    /// Synchronous averaging: x̃ ← Σ w_i·slot_i / Σ w_i (unchanged if Σ w_i = 0),
    /// then every slot_i ← x̃.
    fn barrier_average(&mut self, parts: &[(Slot, f64)]);
    /// At the worker: x ← x − a_w·slot (slot holds e).
    fn apply_difference(&mut self, worker: usize, slot: Slot, a_w: f64);
    /// At the worker: x ← slot.
    fn adopt(&mut self, worker: usize, slot: Slot);
    /// Evaluates the center on `on`.
    fn evaluate_center(&mut self, on: TestSet) -> Evaluation;
    /// Evaluates the parameters in `slot` (a snapshot of the center) on `on`.
    fn evaluate_slot(&mut self, slot: Slot, on: TestSet) -> Evaluation;
    /// A copy of a worker's parameters (tests, debugging).
    fn worker_parameters(&mut self, worker: usize) -> Vec<f32>;
    /// A copy of the center (tests, debugging).
    fn center_parameters(&mut self) -> Vec<f32>;
}
