//! The failure trace's windows, indexed for the questions the engine asks while it
//! runs: how slow is this worker now, is its link cut during this flight, how likely
//! is a message sent now to be dropped.

use std::collections::BTreeMap;

use crate::base::faults::FailureEvent;
use crate::base::time::SimTime;

/// A piecewise-constant value over time, built from overlapping windows.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Times where the value changes, ascending.
    starts: Vec<u64>,
    /// The value from `starts[i]` until `starts[i + 1]`.
    values: Vec<f64>,
    /// The value before the first start.
    base: f64,
}

impl Timeline {
    /// Combines windows `(from, until, value)`; where several overlap, `combine` folds
    /// the values in force (in ascending bit order, so the result is deterministic).
    pub fn build(
        windows: &[(SimTime, SimTime, f64)],
        base: f64,
        combine: impl Fn(&[f64]) -> f64,
    ) -> Timeline {
        let mut edges: Vec<(u64, bool, u64)> = Vec::with_capacity(windows.len() * 2);
        for &(from, until, value) in windows {
            if until > from {
                edges.push((from.as_nanos(), true, value.to_bits()));
                edges.push((until.as_nanos(), false, value.to_bits()));
            }
        }
        edges.sort_unstable();
        let mut active: BTreeMap<u64, usize> = BTreeMap::new();
        let mut timeline = Timeline { starts: Vec::new(), values: Vec::new(), base };
        let mut i = 0;
        while i < edges.len() {
            let time = edges[i].0;
            while i < edges.len() && edges[i].0 == time {
                let (_, opens, bits) = edges[i];
                if opens {
                    *active.entry(bits).or_default() += 1;
                } else if let Some(count) = active.get_mut(&bits) {
                    *count -= 1;
                    if *count == 0 {
                        active.remove(&bits);
                    }
                }
                i += 1;
            }
            let in_force: Vec<f64> = active
                .iter()
                .flat_map(|(&bits, &count)| std::iter::repeat_n(f64::from_bits(bits), count))
                .collect();
            let value = if in_force.is_empty() { base } else { combine(&in_force) };
            if timeline.values.last().copied().unwrap_or(base) != value {
                timeline.starts.push(time);
                timeline.values.push(value);
            }
        }
        timeline
    }

    /// The value at time `t`.
    pub fn at(&self, t: SimTime) -> f64 {
        match self.starts.partition_point(|&s| s <= t.as_nanos()) {
            0 => self.base,
            i => self.values[i - 1],
        }
    }

    /// Whether the value differs from the base anywhere in `[from, until]`.
    pub fn any_during(&self, from: SimTime, until: SimTime) -> bool {
        if self.at(from) != self.base {
            return true;
        }
        let first = self.starts.partition_point(|&s| s <= from.as_nanos());
        let last = self.starts.partition_point(|&s| s <= until.as_nanos());
        self.values[first..last].iter().any(|&v| v != self.base)
    }
}

/// The windows of a trace, per worker.
#[derive(Clone, Debug)]
pub struct FailureWindows {
    /// Slowdown factor (max of overlapping straggler windows), per worker.
    pub slowdown: Vec<Timeline>,
    /// 1 while the worker's link is partitioned, per worker.
    pub partitioned: Vec<Timeline>,
    /// Chance a message is dropped (windows combine as independent drops), per worker.
    pub drop_chance: Vec<Timeline>,
}

impl FailureWindows {
    /// Indexes the windows of `events` for `workers` workers.
    pub fn new(events: &[FailureEvent], workers: u32) -> Self {
        let n = workers as usize;
        let mut stragglers = vec![Vec::new(); n];
        let mut partitions = vec![Vec::new(); n];
        let mut drops = vec![Vec::new(); n];
        for event in events {
            match *event {
                FailureEvent::Straggler { worker, from, until, factor } => {
                    stragglers[worker as usize].push((from, until, factor));
                }
                FailureEvent::Partition { worker, from, until } => {
                    partitions[worker as usize].push((from, until, 1.0))
                }
                FailureEvent::MessageDrop { worker, from, until, probability } => match worker {
                    Some(w) => drops[w as usize].push((from, until, probability)),
                    None => drops.iter_mut().for_each(|d| d.push((from, until, probability))),
                },
                FailureEvent::Crash { .. } => {}
            }
        }
        let max = |v: &[f64]| v.iter().copied().fold(1.0, f64::max);
        let any = |_: &[f64]| 1.0;
        let independent = |v: &[f64]| 1.0 - v.iter().map(|p| 1.0 - p).product::<f64>();
        FailureWindows {
            slowdown: stragglers.iter().map(|w| Timeline::build(w, 1.0, max)).collect(),
            partitioned: partitions.iter().map(|w| Timeline::build(w, 0.0, any)).collect(),
            drop_chance: drops.iter().map(|w| Timeline::build(w, 0.0, independent)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SimTime {
        SimTime::from_secs(s)
    }

    #[test]
    fn overlapping_windows_combine() {
        let max = |v: &[f64]| v.iter().copied().fold(1.0, f64::max);
        let line = Timeline::build(&[(t(1), t(5), 2.0), (t(3), t(8), 4.0), (t(3), t(4), 3.0)], 1.0, max);
        let at = |s| line.at(t(s));
        assert_eq!(
            [at(0), at(1), at(2), at(3), at(4), at(5), at(7), at(8)],
            [1.0, 2.0, 2.0, 4.0, 4.0, 4.0, 4.0, 1.0]
        );
        assert!(line.any_during(t(0), t(1)));
        assert!(!line.any_during(t(8), t(100)));
        assert!(!line.any_during(SimTime::ZERO, SimTime(999_999_999)));
    }
}
