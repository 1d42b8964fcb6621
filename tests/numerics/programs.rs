//! The execution model's anchor: a run's recorded program is pinned. (That
//! batching and when a run's numbers are read change no bit is part of the
//! behaviour suite, tests/support/behaviour.rs, run on every backend.)

use faultline::scenario::Strategy;
use faultline::training::experiment;

use crate::behaviour::{prepare, quickstart};

#[test]
fn a_recorded_program_is_pinned() {
    // Uniform reads no computed number, so what it records depends only on the
    // scenario and the seed: any change here changes what every run computes.
    // Update the constant only for a change that means to do that, and say so.
    let loaded = quickstart(100, |t| t);
    let seeds = prepare(&loaded, &[1]);
    let run = experiment::run_one(&loaded, seeds[0].job(&Strategy::Uniform));
    assert_eq!(format!("{:016x}", run.program), "802b2ea822c2a69b");
}
