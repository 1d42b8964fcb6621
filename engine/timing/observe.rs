//! What the engine reports as virtual time advances ([`Happening`]), the
//! [`Observer`] trait through which training (or a log, or a test) follows a run,
//! and [`EventLog`], which fingerprints a run so two runs can be compared.

use std::fmt::Write as _;
use std::ops::ControlFlow;

use crate::base::time::SimTime;

/// Which way a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Worker to master.
    Up,
    /// Master to worker.
    Down,
}

/// Why a message never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// The link was partitioned while it was in flight.
    Partition,
    /// A message-drop window took it.
    Dropped,
    /// Its sender or receiver crashed while it was in flight or queued.
    Crash,
    /// A newer request of the same worker replaced it in a synchronous barrier.
    Superseded,
}

/// One worker's request that took part in a synchronous barrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Participant {
    /// The worker.
    pub worker: u32,
    /// Its exchange id.
    pub exchange: u64,
}

/// Something that happened at a moment of virtual time. Exchange ids are unique
/// within a run; numerics key their message payloads by them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Happening<'a> {
    /// The worker finished its `step`-th local step (1-based, counted over its life).
    Step {
        /// The worker.
        worker: u32,
        /// Its step number.
        step: u64,
    },
    /// The worker sent its parameters to the master (exchange request).
    Send {
        /// The worker.
        worker: u32,
        /// The new exchange.
        exchange: u64,
    },
    /// The master applied an asynchronous exchange: e = x_i − x̃, x̃ += a_m·e.
    Update {
        /// The worker.
        worker: u32,
        /// The exchange.
        exchange: u64,
        /// Master updates since this worker's previous update (all of them if none).
        staleness: u64,
        /// When this worker's previous update was applied, if ever.
        previous: Option<SimTime>,
        /// Exchanges this worker abandoned on timeout so far (reported in the request).
        timeouts: u32,
    },
    /// The master closed a synchronous barrier and updated from its participants.
    Barrier {
        /// The participants, in arrival order.
        participants: &'a [Participant],
        /// When each participant's previous update was applied, if ever (same order).
        previous: &'a [Option<SimTime>],
    },
    /// The worker applied the master's reply to its exchange.
    Reply {
        /// The worker.
        worker: u32,
        /// The exchange.
        exchange: u64,
    },
    /// The worker gave up waiting for the reply and continued locally.
    Timeout {
        /// The worker.
        worker: u32,
        /// The exchange.
        exchange: u64,
    },
    /// Non-blocking mode: the τ boundary came while the previous exchange was still out.
    Skip {
        /// The worker.
        worker: u32,
    },
    /// A message was lost.
    Lost {
        /// The worker at the other end.
        worker: u32,
        /// The exchange it belonged to.
        exchange: u64,
        /// Which way it travelled.
        direction: Direction,
        /// Why.
        cause: Loss,
    },
    /// The worker crashed.
    Crash {
        /// The worker.
        worker: u32,
        /// Whether it will come back.
        recovers: bool,
    },
    /// The worker came back, with its parameters from before the crash.
    Recover {
        /// The worker.
        worker: u32,
    },
    /// A recovered worker asked for the center (`recovery: FetchCenter`).
    FetchSend {
        /// The worker.
        worker: u32,
        /// The fetch's exchange id.
        exchange: u64,
    },
    /// The master read the center for a fetch (its value as of now is sent).
    FetchServe {
        /// The worker.
        worker: u32,
        /// The fetch's exchange id.
        exchange: u64,
    },
    /// The worker replaced its parameters with the fetched center.
    Fetched {
        /// The worker.
        worker: u32,
        /// The fetch's exchange id.
        exchange: u64,
    },
    /// A communication round ended (every k-th asynchronous update, or a barrier).
    RoundEnd {
        /// The round just finished (1-based).
        round: u64,
    },
}

/// Follows a run. Return `ControlFlow::Break(())` to stop it (e.g. on divergence).
pub trait Observer {
    /// Called for every happening, in order.
    fn observe(&mut self, now: SimTime, happening: &Happening) -> ControlFlow<()>;
}

/// Observes nothing: for timing-only runs.
impl Observer for () {
    fn observe(&mut self, _: SimTime, _: &Happening) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

impl<A: Observer, B: Observer> Observer for (A, B) {
    fn observe(&mut self, now: SimTime, happening: &Happening) -> ControlFlow<()> {
        self.0.observe(now, happening)?;
        self.1.observe(now, happening)
    }
}

impl<O: Observer + ?Sized> Observer for &mut O {
    fn observe(&mut self, now: SimTime, happening: &Happening) -> ControlFlow<()> {
        (**self).observe(now, happening)
    }
}

/// A fingerprint of a run: a 64-bit FNV-1a hash of every happening with its time,
/// and optionally the happenings themselves as text, to find where two runs part.
#[derive(Clone, Debug)]
pub struct EventLog {
    hash: u64,
    count: u64,
    lines: Option<Vec<String>>,
}

use crate::fingerprint::{self, FNV_OFFSET};

impl Default for EventLog {
    fn default() -> Self {
        Self::hashing()
    }
}

impl EventLog {
    /// Keeps only the hash and count.
    pub fn hashing() -> Self {
        EventLog { hash: FNV_OFFSET, count: 0, lines: None }
    }

    /// Keeps the hash, the count and every happening as a line of text.
    pub fn recording() -> Self {
        EventLog { hash: FNV_OFFSET, count: 0, lines: Some(Vec::new()) }
    }

    /// The hash of everything observed so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// How many happenings were observed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The recorded lines (empty unless made with [`EventLog::recording`]).
    pub fn lines(&self) -> &[String] {
        self.lines.as_deref().unwrap_or(&[])
    }

    /// Where two recorded logs first differ, as a message naming the virtual time.
    pub fn first_difference(&self, other: &EventLog) -> Option<String> {
        let (a, b) = (self.lines(), other.lines());
        let at = a
            .iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .or((a.len() != b.len()).then(|| a.len().min(b.len())))?;
        let none = "<end of log>".to_string();
        Some(format!(
            "runs diverge at happening {at}:\n  left:  {}\n  right: {}",
            a.get(at).unwrap_or(&none),
            b.get(at).unwrap_or(&none)
        ))
    }

    fn mix(&mut self, value: u64) {
        self.hash = fingerprint::extend(self.hash, &value.to_le_bytes());
    }
}

impl Observer for EventLog {
    fn observe(&mut self, now: SimTime, happening: &Happening) -> ControlFlow<()> {
        self.count += 1;
        self.mix(now.as_nanos());
        let w = u64::from;
        let fields: [u64; 4] = match *happening {
            Happening::Step { worker, step } => [1, w(worker), step, 0],
            Happening::Send { worker, exchange } => [2, w(worker), exchange, 0],
            Happening::Update { worker, exchange, staleness, previous, timeouts } => {
                self.mix(previous.map_or(u64::MAX, SimTime::as_nanos));
                [3, w(worker), exchange, staleness ^ (w(timeouts) << 48)]
            }
            Happening::Barrier { participants, .. } => {
                for p in participants {
                    self.mix(w(p.worker));
                    self.mix(p.exchange);
                }
                [4, participants.len() as u64, 0, 0]
            }
            Happening::Reply { worker, exchange } => [5, w(worker), exchange, 0],
            Happening::Timeout { worker, exchange } => [6, w(worker), exchange, 0],
            Happening::Skip { worker } => [7, w(worker), 0, 0],
            Happening::Lost { worker, exchange, direction, cause } => {
                [8, w(worker), exchange, direction as u64 * 16 + cause as u64]
            }
            Happening::Crash { worker, recovers } => [9, w(worker), u64::from(recovers), 0],
            Happening::Recover { worker } => [10, w(worker), 0, 0],
            Happening::FetchSend { worker, exchange } => [11, w(worker), exchange, 0],
            Happening::FetchServe { worker, exchange } => [12, w(worker), exchange, 0],
            Happening::Fetched { worker, exchange } => [13, w(worker), exchange, 0],
            Happening::RoundEnd { round } => [14, round, 0, 0],
        };
        for field in fields {
            self.mix(field);
        }
        if let Some(lines) = &mut self.lines {
            let mut line = String::new();
            let _ = write!(line, "{now} {happening:?}");
            lines.push(line);
        }
        ControlFlow::Continue(())
    }
}
