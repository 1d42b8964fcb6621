//! The boundary between the training logic and where the numbers are computed.
//!
//! A backend owns, for every run it was given, each worker's parameters and
//! optimizer state, the center, and the run's message slots. The trainer records
//! what to do into a [`Program`]; a backend executes the recorded operations of one
//! or many runs in one go ([`Backend::execute`]) and writes the scalars they produce
//! (losses, gaps, evaluations), so a GPU backend can batch many runs' work into one
//! submission and keep everything on the device. [`cpu::CpuBackend`] is the
//! plain-Rust reference.

use std::fmt;

use crate::data::SplitData;
pub use crate::numerics::program::{EvaluationId, Op, Params, Program, ScalarId, Slot};

pub mod cpu;
pub mod gpu;
mod schedule;

/// A run inside a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub usize);

/// Why a backend could not execute a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendError {
    /// The device went away (driver reset, unplugged, hung kernel).
    DeviceLost(String),
    /// The device ran out of memory.
    OutOfMemory(String),
    /// A kernel failed to compile, validate or run.
    Kernel(String),
    /// The device cannot do what was asked (its message says why and what to do).
    Unsupported(String),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::DeviceLost(what) => {
                write!(f, "the GPU was lost ({what}); rerun, or use `--backend cpu` if it keeps happening")
            }
            BackendError::OutOfMemory(what) => write!(
                f,
                "the GPU ran out of memory ({what}); train fewer runs at once (fewer --seed or --strategy, \
                 or a sweep in --shard parts), or use `--backend cpu`"
            ),
            BackendError::Unsupported(what) => write!(f, "{what}"),
            BackendError::Kernel(what) => {
                write!(
                    f,
                    "a GPU kernel failed ({what}); please report this, and use `--backend cpu` meanwhile"
                )
            }
        }
    }
}

impl std::error::Error for BackendError {}

/// The center's quality, measured at the end of a round.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Share of test samples classified correctly.
    pub test_accuracy: f64,
    /// Mean cross-entropy on the test set.
    pub test_loss: f64,
    /// Mean cross-entropy on the fixed training sample.
    pub train_loss: f64,
}

/// Which test samples an evaluation measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
pub trait Backend<'d> {
    /// What it runs on, for the manifest (e.g. `cpu`, or a GPU adapter's name).
    fn describe(&self) -> String;
    /// Adds a run: `workers` workers and the center, all starting from `initial`,
    /// training on `data`.
    fn add_run(
        &mut self,
        data: &'d SplitData,
        workers: usize,
        initial: &[f32],
    ) -> Result<RunId, BackendError>;
    /// Executes every pending operation of the given runs' programs and writes
    /// their scalars, then marks each program executed. Each run's operations
    /// keep their recorded order; how runs are grouped never changes a bit.
    fn execute(&mut self, work: &mut [(RunId, &mut Program)]) -> Result<(), BackendError>;
    /// Frees a finished run.
    fn remove_run(&mut self, run: RunId);
    /// A copy of a worker's parameters (tests, debugging).
    fn worker_parameters(&mut self, run: RunId, worker: usize) -> Vec<f32>;
    /// A copy of the center (tests, debugging).
    fn center_parameters(&mut self, run: RunId) -> Vec<f32>;
}
