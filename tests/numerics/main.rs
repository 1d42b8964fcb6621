//! Tests of the numerics: derivatives against finite differences, the Hutchinson
//! estimator, the EASGD exchange, data loading and sharding, and real training.

mod datasets;
mod derivatives;
mod easgd;
mod evaluation;
mod learning;
mod oracle;
mod partitions;
mod programs;

#[path = "../support/skip.rs"]
mod skip;

#[path = "../support/behaviour.rs"]
mod behaviour;

/// The behaviour every backend must have, on the CPU reference backend.
mod cpu_behaviour {
    use crate::behaviour::{Subject, behaviour_suite};
    use faultline::numerics::device::Device;

    behaviour_suite!(Some(Subject { device: Device::Cpu, rounds: 100, learned: 0.85 }));
}

use faultline::data::{RawData, SplitData};
use faultline::scenario::{Data, Dataset};

/// The embedded digits, split for `workers` workers under `seed`.
pub fn digits(workers: usize, seed: u64) -> SplitData {
    let raw: RawData = faultline::data::load(&Data::default(), ".".as_ref()).unwrap();
    assert_eq!(raw.kind, Dataset::Digits);
    raw.split(&Data::default(), workers, seed).unwrap()
}
