//! The allowed values of every integer field of a scenario or a trace, in one
//! table that both the checks and the messages for unparsable integers read.

use super::MAX_WORKERS;
use crate::base::trace::Trace;
use crate::scenario::CLASSES;

/// The allowed values of an integer field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegerRange {
    /// From the first to the second, both included.
    Between(u64, u64),
    /// A worker id: 0 to `workers` − 1.
    Worker,
}

use IntegerRange::{Between, Worker};

/// Every integer field of a scenario and its allowed values. A path pattern writes
/// `[]` for any list index or map key (`compute.speed[]` is the map's key). The
/// checks below and the messages for integers that do not even parse (`workers: -4`)
/// both read this table, so the two cannot disagree; a test checks that it names
/// every integer field.
pub const SCENARIO_INTEGERS: &[(&str, IntegerRange)] = &[
    ("seeds[]", Between(0, u64::MAX)),
    ("workers", Between(1, MAX_WORKERS as u64)),
    ("stop.rounds", Between(1, 1_000_000_000)),
    ("stop.max_events", Between(1, u64::MAX)),
    ("compute.speed[]", Worker),
    ("network.header_bytes", Between(0, 1 << 40)),
    ("failures.events[].worker", Worker),
    ("failures.generate.crashes.workers[]", Worker),
    ("failures.generate.stragglers.workers[]", Worker),
    ("failures.generate.partitions.workers[]", Worker),
    ("training.tau", Between(1, 1_000_000)),
    ("training.model.hidden[]", Between(1, 65_536)),
    ("training.data.batch", Between(1, 65_536)),
    ("training.data.train_eval_samples", Between(1, 1_000_000)),
    ("training.data.limit_train", Between(1, u32::MAX as u64)),
    ("training.data.limit_test", Between(1, u32::MAX as u64)),
    ("training.data.test_subset", Between(1, u32::MAX as u64)),
    ("training.data.partition.classes_per_worker", Between(1, CLASSES as u64)),
    ("training.evaluate_every", Between(1, 1_000_000_000)),
    ("training.early_rounds", Between(1, u64::MAX)),
    ("training.optimizer.hessian_every", Between(1, 1_000_000)),
    ("training.optimizer.probes", Between(1, 64)),
];

/// Every integer field of a trace file, as [`SCENARIO_INTEGERS`].
pub const TRACE_INTEGERS: &[(&str, IntegerRange)] = &[
    ("format", Between(Trace::FORMAT as u64, Trace::FORMAT as u64)),
    ("seed", Between(0, u64::MAX)),
    ("workers", Between(0, u32::MAX as u64)),
    ("events[].worker", Worker),
];

/// The allowed values of the integer at `path` (`training.model.hidden[3]`), if the
/// field is in `table`.
pub fn integer_range(table: &[(&str, IntegerRange)], path: &str) -> Option<IntegerRange> {
    let mut pattern = String::with_capacity(path.len());
    let mut in_brackets = false;
    for c in path.chars() {
        match c {
            '[' => in_brackets = true,
            ']' => {
                in_brackets = false;
                pattern.push_str("[]");
            }
            _ if in_brackets => {}
            _ => pattern.push(c),
        }
    }
    table.iter().find(|(p, _)| *p == pattern).map(|&(_, range)| range)
}

impl IntegerRange {
    /// What a message says is expected; `workers` when the scenario's count is known.
    pub fn expected(self, workers: Option<u32>) -> String {
        match (self, workers) {
            (Between(min, max), _) if min == max => format!("the integer {min}"),
            (Between(min, max), _) => format!("an integer from {min} to {max}"),
            (Worker, Some(workers)) => {
                format!("a worker id from 0 to {} (workers: {workers})", workers.saturating_sub(1))
            }
            (Worker, None) => "a worker id from 0 to workers − 1".into(),
        }
    }
}
