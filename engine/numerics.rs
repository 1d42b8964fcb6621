//! What the numbers are: the model and its exact derivatives, the local
//! optimizers, and the backends that execute a run's recorded operations.
//!
//! Nothing here knows about virtual time; the trainer ([`crate::training`])
//! turns the engine's happenings into operations for a backend.

pub mod backend;
pub mod config;
pub mod device;
pub mod gpu;
pub mod model;
pub mod optim;
pub mod program;
pub mod weigh;
pub mod wide;
