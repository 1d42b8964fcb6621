//! The `Checker`, which collects problems pointed at their values, and its checks
//! of single values: integers, numbers, times, workers, latencies and failure events.

use super::integers::IntegerRange::{Between, Worker};
use super::integers::{IntegerRange, integer_range};
use super::{MAX_FACTOR, MAX_SIGMA};
use crate::base::faults::FailureEvent;
use crate::base::span::Span;
use crate::base::time::SimTime;
use crate::scenario::Latency;
use crate::scenario::error::{Positioner, ScenarioError};
use crate::scenario::spans::{field, index};

/// Collects problems, each pointed at its value in one file.
pub(super) struct Checker<'a> {
    pub(super) at: Positioner<'a>,
    pub(super) problems: Vec<ScenarioError>,
    pub(super) workers: u32,
    /// The integer fields of this kind of file.
    pub(super) integers: &'static [(&'static str, IntegerRange)],
}

impl Checker<'_> {
    pub(super) fn fail(&mut self, path: &str, message: impl Into<String>, expected: impl Into<String>) {
        let expected = expected.into();
        let expected = (!expected.is_empty()).then_some(expected);
        self.problems.push(self.at.error(path, message.into(), expected));
    }

    /// Checks an integer against its range in the table.
    pub(super) fn integer(&mut self, path: &str, value: u64) {
        // The paths are the code's own, so a missing entry is a bug the tests catch.
        let Some(range @ Between(min, max)) = integer_range(self.integers, path) else {
            unreachable!("{path} needs a range in the integer table");
        };
        if value < min || value > max {
            self.fail(path, format!("{value} is out of range"), range.expected(None));
        }
    }

    pub(super) fn positive(&mut self, path: &str, value: f64) {
        if !(value.is_finite() && value > 0.0) {
            self.fail(path, format!("{value} is not allowed"), "a finite number above 0");
        }
    }

    pub(super) fn within(&mut self, path: &str, value: f64, min: f64, max: f64, max_inclusive: bool) {
        let ok = value.is_finite() && value >= min && if max_inclusive { value <= max } else { value < max };
        if !ok {
            let close = if max_inclusive { ']' } else { ')' };
            self.fail(path, format!("{value} is out of range"), format!("a number in [{min}, {max}{close}"));
        }
    }

    pub(super) fn nonzero_time(&mut self, path: &str, time: SimTime) {
        if time == SimTime::ZERO {
            self.fail(path, "a zero time is not allowed here", "a time above 0, e.g. \"10ms\"");
        }
    }

    pub(super) fn nonzero_span(&mut self, path: &str, span: Span) {
        if span.is_zero() {
            self.fail(
                path,
                "a zero length is not allowed here",
                "a length above 0, e.g. \"10ms\" or \"15 rounds\"",
            );
        }
    }

    pub(super) fn worker(&mut self, path: &str, worker: u32) {
        debug_assert_eq!(integer_range(self.integers, path), Some(Worker), "{path} in the integer table");
        if worker >= self.workers {
            self.fail(path, format!("worker {worker} does not exist"), Worker.expected(Some(self.workers)));
        }
    }

    pub(super) fn window(&mut self, path: &str, from: SimTime, until: SimTime) {
        if until <= from {
            self.fail(
                &field(path, "until"),
                format!("the window ends ({until}) before it starts ({from})"),
                "`until` later than `from`",
            );
        }
    }

    pub(super) fn latency(&mut self, path: &str, latency: &Latency) {
        match *latency {
            Latency::Constant(_) => {}
            Latency::Uniform { min, max } => {
                if max < min {
                    self.fail(&field(path, "max"), format!("max ({max}) is below min ({min})"), "max ≥ min");
                }
            }
            Latency::LogNormal { median, sigma } => {
                self.nonzero_time(&field(path, "median"), median);
                self.within(&field(path, "sigma"), sigma, 0.0, MAX_SIGMA, true);
            }
            Latency::ExponentialTail { mean, .. } => self.nonzero_time(&field(path, "mean"), mean),
        }
    }

    pub(super) fn worker_list(&mut self, path: &str, list: &Option<Vec<u32>>) {
        for (i, &worker) in list.iter().flatten().enumerate() {
            self.worker(&index(path, i), worker);
        }
    }

    /// Failure events, alone and together (a worker cannot crash while down).
    pub(super) fn events(&mut self, path: &str, events: &[FailureEvent]) {
        for (i, event) in events.iter().enumerate() {
            let at = index(path, i);
            match *event {
                FailureEvent::Crash { worker, recover_after, .. } => {
                    self.worker(&field(&at, "worker"), worker);
                    if let Some(down) = recover_after {
                        self.nonzero_time(&field(&at, "recover_after"), down);
                    }
                }
                FailureEvent::Straggler { worker, from, until, factor } => {
                    self.worker(&field(&at, "worker"), worker);
                    self.window(&at, from, until);
                    self.within(&field(&at, "factor"), factor, 1.0, MAX_FACTOR, true);
                }
                FailureEvent::Partition { worker, from, until } => {
                    self.worker(&field(&at, "worker"), worker);
                    self.window(&at, from, until);
                }
                FailureEvent::MessageDrop { worker, from, until, probability } => {
                    if let Some(worker) = worker {
                        self.worker(&field(&at, "worker"), worker);
                    }
                    self.window(&at, from, until);
                    self.within(&field(&at, "probability"), probability, 0.0, 1.0, true);
                }
            }
        }
        // Crashes of one worker, in time order, must not overlap.
        let mut crashes: Vec<(u32, SimTime, Option<SimTime>, usize)> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match *e {
                FailureEvent::Crash { worker, at, recover_after } => Some((worker, at, recover_after, i)),
                _ => None,
            })
            .collect();
        crashes.sort_by_key(|&(worker, at, _, i)| (worker, at, i));
        for pair in crashes.windows(2) {
            let (w0, at0, down0, _) = pair[0];
            let (w1, at1, _, i1) = pair[1];
            if w0 != w1 {
                continue;
            }
            let path = field(&index(path, i1), "at");
            match down0 {
                None => self.fail(
                    &path,
                    format!("worker {w1} crashes at {at1}, but it stopped for good at {at0}"),
                    "at most one crash without `recover_after` per worker, and it must be the last",
                ),
                Some(down) if at1 < at0.saturating_add(down) => self.fail(
                    &path,
                    format!(
                        "worker {w1} crashes at {at1} while still down from its crash at {at0} (back at {})",
                        at0.saturating_add(down)
                    ),
                    "crashes of one worker that do not overlap",
                ),
                Some(_) => {}
            }
        }
    }
}
