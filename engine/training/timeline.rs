//! One seed's happenings, recorded once and replayed to every strategy's trainer.
//!
//! The engine never looks at the numbers, so what happens when depends only on the
//! scenario, the trace and the seed. Recording the happenings of a seed once lets
//! every strategy's trainer walk them at its own pace: it can stop in the middle
//! to wait for a scalar and go on later, which a live engine callback could not.

use std::ops::{ControlFlow, Range};

use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::scenario::Scenario;
use crate::timing::observe::{EventLog, Happening, Observer, Participant};
use crate::timing::simulation::{RunSummary, Simulation};

/// A happening with its barrier lists stored in the timeline's side tables.
#[derive(Clone, Debug)]
enum Entry {
    Plain(Happening<'static>),
    Barrier { participants: Range<u32>, previous: Range<u32> },
}

/// Every happening of a timing run, in order.
#[derive(Clone, Debug)]
pub struct Timeline {
    entries: Vec<(SimTime, Entry)>,
    participants: Vec<Participant>,
    previous: Vec<Option<SimTime>>,
    /// What the engine did.
    pub summary: RunSummary,
    /// The fingerprint of the event log.
    pub event_log: u64,
    /// The exchanges the master serves (an update or a barrier takes them),
    /// sorted: only their parameters are ever read.
    served: Vec<u64>,
}

impl Timeline {
    /// Runs the engine for `seed` under `trace` and keeps everything it reports.
    pub fn record(scenario: &Scenario, trace: &Trace, seed: u64) -> Timeline {
        let mut recorder = Recorder::default();
        let mut log = EventLog::hashing();
        let summary = Simulation::new(scenario, trace, seed).run(&mut (&mut log, &mut recorder));
        let Recorder { entries, participants, previous } = recorder;
        let mut served: Vec<u64> = participants.iter().map(|p| p.exchange).collect();
        served.extend(entries.iter().filter_map(|(_, entry)| match entry {
            Entry::Plain(Happening::Update { exchange, .. }) => Some(*exchange),
            _ => None,
        }));
        served.sort_unstable();
        served.dedup();
        Timeline { entries, participants, previous, summary, event_log: log.hash(), served }
    }

    /// Whether the master ever serves `exchange` in this run. One it never serves
    /// (lost, or still queued when the run ends) needs no copy of the worker's
    /// parameters: with a master slower than its workers' timeouts such requests
    /// pile up, and copying each would grow without bound.
    pub fn is_served(&self, exchange: u64) -> bool {
        self.served.binary_search(&exchange).is_ok()
    }

    /// The summary and event-log fingerprint of the same run stopped by its
    /// observer right after happening `index` (a run that diverged there).
    pub fn stopped_at(scenario: &Scenario, trace: &Trace, seed: u64, index: usize) -> (RunSummary, u64) {
        let mut log = EventLog::hashing();
        let mut stop = StopAfter { remaining: index };
        let summary = Simulation::new(scenario, trace, seed).run(&mut (&mut log, &mut stop));
        (summary, log.hash())
    }

    /// How many happenings there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `index`-th happening and when it happened.
    pub fn get(&self, index: usize) -> (SimTime, Happening<'_>) {
        let (now, entry) = &self.entries[index];
        let happening = match entry {
            Entry::Plain(h) => *h,
            Entry::Barrier { participants, previous } => Happening::Barrier {
                participants: &self.participants[participants.start as usize..participants.end as usize],
                previous: &self.previous[previous.start as usize..previous.end as usize],
            },
        };
        (*now, happening)
    }
}

#[derive(Default)]
struct Recorder {
    entries: Vec<(SimTime, Entry)>,
    participants: Vec<Participant>,
    previous: Vec<Option<SimTime>>,
}

impl Observer for Recorder {
    fn observe(&mut self, now: SimTime, happening: &Happening) -> ControlFlow<()> {
        let entry = match *happening {
            Happening::Barrier { participants, previous } => {
                let p = self.participants.len() as u32;
                self.participants.extend_from_slice(participants);
                let q = self.previous.len() as u32;
                self.previous.extend_from_slice(previous);
                Entry::Barrier {
                    participants: p..self.participants.len() as u32,
                    previous: q..self.previous.len() as u32,
                }
            }
            Happening::Step { worker, step } => Entry::Plain(Happening::Step { worker, step }),
            Happening::Send { worker, exchange } => Entry::Plain(Happening::Send { worker, exchange }),
            Happening::Update { worker, exchange, staleness, previous, timeouts } => {
                Entry::Plain(Happening::Update { worker, exchange, staleness, previous, timeouts })
            }
            Happening::Reply { worker, exchange } => Entry::Plain(Happening::Reply { worker, exchange }),
            Happening::Timeout { worker, exchange } => Entry::Plain(Happening::Timeout { worker, exchange }),
            Happening::Skip { worker } => Entry::Plain(Happening::Skip { worker }),
            Happening::Lost { worker, exchange, direction, cause } => {
                Entry::Plain(Happening::Lost { worker, exchange, direction, cause })
            }
            Happening::Crash { worker, recovers } => Entry::Plain(Happening::Crash { worker, recovers }),
            Happening::Recover { worker } => Entry::Plain(Happening::Recover { worker }),
            Happening::FetchSend { worker, exchange } => {
                Entry::Plain(Happening::FetchSend { worker, exchange })
            }
            Happening::FetchServe { worker, exchange } => {
                Entry::Plain(Happening::FetchServe { worker, exchange })
            }
            Happening::Fetched { worker, exchange } => Entry::Plain(Happening::Fetched { worker, exchange }),
            Happening::RoundEnd { round } => Entry::Plain(Happening::RoundEnd { round }),
        };
        self.entries.push((now, entry));
        ControlFlow::Continue(())
    }
}

/// Stops a run right after a given number of happenings.
struct StopAfter {
    remaining: usize,
}

impl Observer for StopAfter {
    fn observe(&mut self, _: SimTime, _: &Happening) -> ControlFlow<()> {
        if self.remaining == 0 {
            return ControlFlow::Break(());
        }
        self.remaining -= 1;
        ControlFlow::Continue(())
    }
}
