//! What the commands do, between the command line and the library.
//!
//! The command line ([`crate::cli`]) parses arguments into a [`Plan`] (or a grid
//! and its options), calls this layer and turns its [`Diagnostic`] into an exit
//! code. This layer plans (strategies, memory, the default folder), stages the
//! folder (resuming what an interrupted invocation finished), executes on one
//! device chosen once, and writes the results with one [`Identity`]. What it
//! prints goes through the plan's [`Voice`], so a sweep silences its points
//! without a global switch.
//!
//! [`Identity`]: crate::results::identity::Identity

mod dry_run;
mod execute;
pub mod memory;
pub mod merge;
mod plan;
pub mod resume;
pub mod sweep;
pub mod sweep_record;
mod voice;
pub mod write;

pub use crate::base::diagnostic::{Diagnostic, Exit};
pub use execute::{execute, execute_on, execute_together, no_adapter};
pub use plan::{OnRun, Plan, default_folder, select_strategies};
pub use voice::Voice;
