//! The discrete-event engine: decides *when* every local step, message, update,
//! crash and recovery happens, and tells an [`Observer`] in order.
//!
//! The engine knows nothing of tensors. Timing depends only on the scenario, the
//! failure trace and the seed, so every weighting strategy sees the same schedule.
//!
//! # The worker loop
//!
//! A worker computes local steps; after every τ steps it sends its parameters to the
//! master. In blocking modes it then waits for the reply, giving up after
//! `sync_timeout` (it continues locally and tries again at its next τ boundary). The
//! asynchronous master serves requests one at a time, first come first served; the
//! synchronous master collects one request per worker into a barrier, which closes
//! when all k arrived or `barrier_timeout` after the first arrival.
//!
//! A crash bumps the worker's *life*: every pending event of the old life (its step
//! in progress, its messages in flight or queued at the master) is void.
//!
//! Each worker has at most one timer event in the queue. A new exchange only moves
//! its deadline (deadlines never move back); when the timer fires early it re-arms
//! itself for the current deadline. This keeps the queue at a few events per worker
//! even when timeouts are long and exchanges frequent.

mod run;
mod windows;

pub use windows::{FailureWindows, Timeline};

use crate::base::faults::FailureEvent;
use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::numerics::model::counts::parameter_count;
use crate::scenario::{Coupling, Recovery, Scenario, Stop};
use crate::timing::compute::ComputeModel;
use crate::timing::network::{NetworkModel, message_bytes};
use crate::timing::observe::Observer;
use run::Run;

/// Everything fixed about a run: the scenario's timing models and the trace.
#[derive(Clone, Debug)]
pub struct Simulation {
    seed: u64,
    workers: u32,
    tau: u32,
    coupling: Coupling,
    recovery: Recovery,
    sync_timeout: SimTime,
    barrier_timeout: SimTime,
    stop: Stop,
    compute: ComputeModel,
    network: NetworkModel,
    /// Master service time of one update.
    update_time: SimTime,
    /// Master service time of a fetch (reading the center).
    fetch_time: SimTime,
    windows: FailureWindows,
    /// The trace's crashes: (time, worker, downtime if it recovers).
    crashes: Vec<(SimTime, u32, Option<SimTime>)>,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StopReason {
    /// The scenario's round count was reached.
    Rounds,
    /// Virtual time reached `stop.time_limit`.
    TimeLimit,
    /// Nothing was left to happen (every worker stopped for good).
    Stalled,
    /// `stop.max_events` events were processed.
    EventLimit,
    /// The observer asked to stop (e.g. the training diverged).
    Observer,
}

impl StopReason {
    /// A few words for reports.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Rounds => "all rounds done",
            StopReason::TimeLimit => "time limit reached",
            StopReason::Stalled => "no live workers left",
            StopReason::EventLimit => "event limit reached",
            StopReason::Observer => "stopped by the training",
        }
    }
}

/// Per-worker counters and times of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkerStats {
    /// Local steps finished.
    pub steps: u64,
    /// Exchange requests sent.
    pub exchanges: u64,
    /// Replies applied.
    pub replies: u64,
    /// Exchanges abandoned on timeout.
    pub timeouts: u64,
    /// Non-blocking exchanges skipped because one was still out.
    pub skipped: u64,
    /// Messages to or from this worker that were lost.
    pub lost: u64,
    /// Crashes.
    pub crashes: u64,
    /// Time spent computing.
    pub busy: SimTime,
    /// Time spent waiting for a reply.
    pub waiting: SimTime,
    /// Time spent crashed.
    pub down: SimTime,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    /// Virtual time reached.
    pub end: SimTime,
    /// The latest moment the engine looked at the failure trace: `end`, or a later
    /// arrival time it checked a message's flight against. Failures that start
    /// after it cannot change the run, so a trace may be cut there.
    pub reach: SimTime,
    /// Why it ended.
    pub reason: StopReason,
    /// Communication rounds completed.
    pub rounds: u64,
    /// Master updates applied (asynchronous) or barriers closed (synchronous).
    pub updates: u64,
    /// Events taken from the queue.
    pub events: u64,
    /// Per-worker accounting.
    pub workers: Vec<WorkerStats>,
}

impl Simulation {
    /// The engine for one seed of a scenario under a realized trace.
    pub fn new(scenario: &Scenario, trace: &Trace, seed: u64) -> Self {
        let t = &scenario.training;
        let dataset = t.data.dataset;
        let parameters = parameter_count(dataset.input_dim(), &t.model.hidden, dataset.classes());
        let bytes = message_bytes(parameters, scenario.network.header_bytes);
        let update_time = scenario
            .master
            .update_time
            .saturating_add(SimTime::from_secs_f64(bytes as f64 / scenario.master.bytes_per_second));
        let crashes = trace
            .events
            .iter()
            .filter_map(|e| match *e {
                FailureEvent::Crash { worker, at, recover_after } => Some((at, worker, recover_after)),
                _ => None,
            })
            .collect();
        Simulation {
            seed,
            workers: scenario.workers,
            tau: t.tau,
            coupling: t.coupling,
            recovery: t.recovery,
            sync_timeout: t.sync_timeout,
            barrier_timeout: t.barrier_timeout(),
            stop: scenario.stop.clone(),
            compute: ComputeModel::new(scenario),
            network: NetworkModel::new(scenario, parameters),
            update_time,
            fetch_time: update_time,
            windows: FailureWindows::new(&trace.events, scenario.workers),
            crashes,
        }
    }

    /// Runs to the end, telling `observer` everything in order.
    pub fn run<O: Observer>(&self, observer: &mut O) -> RunSummary {
        Run::new(self, observer).run()
    }
}
