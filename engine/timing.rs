//! When things happen: virtual time, the event queue, the engine, the network
//! and compute models, failures and their traces, and what the engine reports.
//!
//! Nothing here looks at a number of the training (parameters, losses, gaps):
//! the schedule of a seed depends only on the scenario and the seed, so every
//! weighting strategy runs under exactly the same one.

pub mod compute;
pub mod disruptions;
pub mod network;
pub mod observe;
pub mod queue;
pub mod schedule;
pub mod severity;
pub mod simulation;
