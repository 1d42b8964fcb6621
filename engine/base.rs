//! The vocabulary every layer shares: virtual time, durations given in time or in
//! rounds, failure events and their generators, traces, safe input reading, and
//! the diagnostic every layer reports problems with.
//!
//! It sits at the bottom of the stack (see `tests/architecture.rs`): it imports
//! nothing from the rest of the crate but [`crate::rng`], so the scenario, the
//! datasets, the numerics and the timing engine can all speak it without
//! importing one another.

pub mod diagnostic;
pub mod faults;
pub mod input;
pub mod span;
pub mod time;
pub mod trace;
