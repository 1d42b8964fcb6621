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

use faultline::data::{RawData, SplitData};
use faultline::scenario::{Data, Dataset};

/// The embedded digits, split for `workers` workers under `seed`.
pub fn digits(workers: usize, seed: u64) -> SplitData {
    let raw: RawData = faultline::data::load(&Data::default(), ".".as_ref()).unwrap();
    assert_eq!(raw.kind, Dataset::Digits);
    raw.split(&Data::default(), workers, seed).unwrap()
}
