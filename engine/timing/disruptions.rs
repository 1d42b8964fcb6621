//! Ground truth for oracle strategies: what disrupted each worker, and when.
//!
//! A worker counts as disrupted for an exchange when, since its previous update
//! (from time 0 for its first), it was
//!
//! * crashed (from the crash to its recovery; forever after a crash-stop),
//! * inside a straggler window,
//! * cut off by a partition of its link, or
//! * hit by a message-drop window: one of its messages (request or reply) was
//!   actually dropped. A drop window counts through the drops it realizes rather
//!   than by its span, because a window of small probability over the whole run
//!   (say 1 % on every link) would otherwise mark every exchange as disrupted and
//!   the oracle would never move the center. The drops come from the seed's
//!   schedule, so they are the same for every strategy.
//!
//! Windows come from the failure trace; realized drops from the engine's `Lost`
//! happenings, which precede the exchange they disrupt.

use crate::base::faults::FailureEvent;
use crate::base::time::SimTime;
use crate::base::trace::Trace;

/// When each worker was disrupted.
#[derive(Clone, Debug)]
pub struct Disruptions {
    /// Per worker: `[from, until)` windows of crashes, stragglers and partitions.
    windows: Vec<Vec<(SimTime, SimTime)>>,
    /// Per worker: when its messages were dropped.
    drops: Vec<Vec<SimTime>>,
}

impl Disruptions {
    /// The windows of `trace` for `workers` workers.
    pub fn new(trace: &Trace, workers: usize) -> Self {
        let mut windows = vec![Vec::new(); workers];
        for event in &trace.events {
            let (worker, window) = match *event {
                FailureEvent::Crash { worker, at, recover_after } => {
                    (worker, (at, recover_after.map_or(SimTime::MAX, |d| at.saturating_add(d))))
                }
                FailureEvent::Straggler { worker, from, until, .. }
                | FailureEvent::Partition { worker, from, until } => (worker, (from, until)),
                FailureEvent::MessageDrop { .. } => continue,
            };
            windows[worker as usize].push(window);
        }
        Disruptions { windows, drops: vec![Vec::new(); workers] }
    }

    /// A message of `worker` was dropped at `at`.
    pub fn dropped(&mut self, worker: u32, at: SimTime) {
        self.drops[worker as usize].push(at);
    }

    /// Whether `worker` was disrupted between its previous update `since` and `now`.
    pub fn since(&self, worker: u32, since: SimTime, now: SimTime) -> bool {
        let w = worker as usize;
        // A reply dropped at the very moment of the previous update still counts.
        self.windows[w].iter().any(|&(from, until)| from <= now && until > since)
            || self.drops[w].iter().rev().take_while(|&&at| at >= since).any(|&at| at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(events: Vec<FailureEvent>) -> Trace {
        Trace::new("t", 1, 4, events)
    }

    #[test]
    fn every_kind_of_disruption_counts_since_the_previous_update() {
        let s = SimTime::from_secs;
        let t = trace(vec![
            FailureEvent::Crash { worker: 0, at: s(2), recover_after: Some(s(1)) },
            FailureEvent::Straggler { worker: 1, from: s(2), until: s(3), factor: 2.0 },
            FailureEvent::Partition { worker: 2, from: s(2), until: s(3) },
            FailureEvent::MessageDrop { worker: None, from: s(0), until: s(100), probability: 0.01 },
        ]);
        let mut d = Disruptions::new(&t, 4);
        for w in 0..3 {
            assert!(d.since(w, s(1), s(4)), "worker {w} was disrupted in [2 s, 3 s)");
            assert!(!d.since(w, s(3), s(4)), "worker {w} was fine after 3 s");
            assert!(!d.since(w, s(0), s(1)), "worker {w} was fine before 2 s");
        }
        // The drop window alone disrupts nobody; a realized drop does.
        assert!(!d.since(3, s(0), s(50)));
        d.dropped(3, s(10));
        assert!(d.since(3, s(10), s(12)) && d.since(3, s(5), s(12)));
        assert!(!d.since(3, s(11), s(12)) && !d.since(3, s(5), s(9)));
    }
}
