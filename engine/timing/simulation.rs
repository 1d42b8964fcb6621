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

mod windows;

use std::collections::VecDeque;
use std::ops::ControlFlow;

pub use windows::{FailureWindows, Timeline};

use crate::base::faults::FailureEvent;
use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::numerics::model::counts::parameter_count;
use crate::rng::{Purpose, SimRng};
use crate::scenario::{Coupling, Recovery, Scenario, Stop};
use crate::timing::compute::ComputeModel;
use crate::timing::network::{NetworkModel, message_bytes};
use crate::timing::observe::{Direction, Happening, Loss, Observer, Participant};
use crate::timing::queue::EventQueue;

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

/// What a worker is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Computing,
    Waiting,
    Down,
    Dead,
}

#[derive(Clone, Debug)]
struct Worker {
    life: u32,
    /// Exchange ids below this belong to an earlier life (before a crash).
    first_exchange_of_life: u64,
    phase: Phase,
    phase_since: SimTime,
    steps_since_exchange: u32,
    /// The exchange (or fetch) whose reply it still accepts.
    outstanding: Option<u64>,
    /// When the outstanding exchange times out.
    deadline: SimTime,
    /// Whether a timer event for this worker is in the queue.
    timer_armed: bool,
    timeouts: u32,
    stats: WorkerStats,
    compute_rng: SimRng,
    uplink_rng: SimRng,
    downlink_rng: SimRng,
    drop_rng: SimRng,
}

/// A queued event. Kept to 16 bytes (heap entries of 32): messages name their
/// exchange, whose id also tells which life of the worker sent it.
#[derive(Clone, Copy, Debug)]
enum Event {
    StepDone {
        worker: u32,
        life: u32,
    },
    Arrive {
        worker: u32,
        exchange: u64,
        fetch: bool,
    },
    /// The asynchronous master finished the update in service.
    Served,
    FetchServed {
        worker: u32,
        exchange: u64,
    },
    ReplyArrive {
        worker: u32,
        exchange: u64,
        fetch: bool,
    },
    Timer {
        worker: u32,
    },
    /// The `index`-th crash of the trace.
    Crash {
        index: u32,
    },
    Recover {
        worker: u32,
    },
    BarrierClose {
        barrier: u64,
    },
    BarrierServed {
        barrier: u64,
    },
}

/// A request waiting at, or being served by, the master.
#[derive(Clone, Copy, Debug)]
struct Request {
    worker: u32,
    exchange: u64,
    /// The worker's abandoned exchanges as of the request's arrival.
    timeouts: u32,
}

#[derive(Debug)]
struct Barrier {
    id: u64,
    requests: Vec<Request>,
    serving: bool,
}

struct Run<'a, O> {
    sim: &'a Simulation,
    observer: &'a mut O,
    halted: bool,
    now: SimTime,
    queue: EventQueue<Event>,
    workers: Vec<Worker>,
    next_exchange: u64,
    /// Asynchronous master: requests waiting, and whether one is being served.
    fifo: VecDeque<Request>,
    in_service: Option<Request>,
    /// Synchronous master: the open barrier and arrivals for the next one.
    barrier: Option<Barrier>,
    next_barrier: Vec<Request>,
    barrier_count: u64,
    /// Per worker: master update count and time of its previous update.
    last_update: Vec<Option<(u64, SimTime)>>,
    updates: u64,
    rounds: u64,
    events: u64,
    /// The latest arrival time checked against the failure windows.
    reach: SimTime,
}

impl<'a, O: Observer> Run<'a, O> {
    fn new(sim: &'a Simulation, observer: &'a mut O) -> Self {
        let workers = (0..sim.workers)
            .map(|w| {
                let entity = u64::from(w);
                Worker {
                    life: 0,
                    first_exchange_of_life: 0,
                    phase: Phase::Computing,
                    phase_since: SimTime::ZERO,
                    steps_since_exchange: 0,
                    outstanding: None,
                    deadline: SimTime::ZERO,
                    timer_armed: false,
                    timeouts: 0,
                    stats: WorkerStats::default(),
                    compute_rng: SimRng::new(sim.seed, Purpose::Compute, entity),
                    uplink_rng: SimRng::new(sim.seed, Purpose::Uplink, entity),
                    downlink_rng: SimRng::new(sim.seed, Purpose::Downlink, entity),
                    drop_rng: SimRng::new(sim.seed, Purpose::Drops, entity),
                }
            })
            .collect();
        Run {
            sim,
            observer,
            halted: false,
            now: SimTime::ZERO,
            queue: EventQueue::with_capacity(sim.workers as usize * 4),
            workers,
            next_exchange: 0,
            fifo: VecDeque::new(),
            in_service: None,
            barrier: None,
            next_barrier: Vec::new(),
            barrier_count: 0,
            last_update: vec![None; sim.workers as usize],
            updates: 0,
            rounds: 0,
            events: 0,
            reach: SimTime::ZERO,
        }
    }

    fn run(mut self) -> RunSummary {
        // Crashes first, so a crash at the same time as a step completion wins.
        for (index, &(at, _, _)) in self.sim.crashes.iter().enumerate() {
            self.queue.push(at, Event::Crash { index: index as u32 });
        }
        for worker in 0..self.sim.workers {
            self.start_step(worker);
        }
        let reason = loop {
            if self.halted {
                break StopReason::Observer;
            }
            if self.rounds >= self.sim.stop.rounds {
                break StopReason::Rounds;
            }
            if self.events >= self.sim.stop.max_events {
                break StopReason::EventLimit;
            }
            let Some((time, event)) = self.queue.pop() else {
                break StopReason::Stalled;
            };
            if time > self.sim.stop.time_limit {
                self.now = self.sim.stop.time_limit;
                break StopReason::TimeLimit;
            }
            self.now = time;
            self.events += 1;
            self.handle(event);
        };
        let end = self.now;
        let mut workers = Vec::with_capacity(self.workers.len());
        for worker in &mut self.workers {
            account(worker, end);
            workers.push(std::mem::take(&mut worker.stats));
        }
        RunSummary {
            end,
            reach: self.reach.max(end),
            reason,
            rounds: self.rounds,
            updates: self.updates,
            events: self.events,
            workers,
        }
    }

    fn emit(&mut self, happening: Happening) {
        if !self.halted && self.observer.observe(self.now, &happening) == ControlFlow::Break(()) {
            self.halted = true;
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::StepDone { worker, life } => {
                if self.alive(worker) && self.workers[worker as usize].life == life {
                    self.step_done(worker);
                }
            }
            Event::Arrive { worker, exchange, fetch } => {
                if !self.current(worker, exchange) {
                    self.lose(worker, exchange, Direction::Up, Loss::Crash);
                } else if fetch {
                    let served = Event::FetchServed { worker, exchange };
                    self.queue.push(self.now.saturating_add(self.sim.fetch_time), served);
                } else {
                    let timeouts = self.workers[worker as usize].timeouts;
                    let request = Request { worker, exchange, timeouts };
                    if self.sim.coupling.is_synchronous() {
                        self.join_barrier(request);
                    } else {
                        self.fifo.push_back(request);
                        self.serve_next();
                    }
                }
            }
            Event::Served => {
                let Some(request) = self.in_service.take() else { return };
                self.apply_update(request);
                self.serve_next();
                self.send_reply(request.worker, request.exchange, false);
            }
            Event::FetchServed { worker, exchange } => {
                self.emit(Happening::FetchServe { worker, exchange });
                self.send_reply(worker, exchange, true);
            }
            Event::ReplyArrive { worker, exchange, fetch } => self.reply_arrived(worker, exchange, fetch),
            Event::Timer { worker } => self.timer(worker),
            Event::Crash { index } => {
                let (_, worker, recover_after) = self.sim.crashes[index as usize];
                self.crash(worker, recover_after);
            }
            Event::Recover { worker } => self.recover(worker),
            Event::BarrierClose { barrier } => self.close_barrier(barrier),
            Event::BarrierServed { barrier } => self.barrier_served(barrier),
        }
    }

    /// Whether the worker is up (computing or waiting).
    fn alive(&self, worker: u32) -> bool {
        matches!(self.workers[worker as usize].phase, Phase::Computing | Phase::Waiting)
    }

    /// Whether the worker is up and `exchange` was sent in its current life.
    fn current(&self, worker: u32, exchange: u64) -> bool {
        self.alive(worker) && exchange >= self.workers[worker as usize].first_exchange_of_life
    }

    fn set_phase(&mut self, worker: u32, phase: Phase) {
        let now = self.now;
        let w = &mut self.workers[worker as usize];
        account(w, now);
        w.phase = phase;
    }

    fn start_step(&mut self, worker: u32) {
        self.set_phase(worker, Phase::Computing);
        let slowdown = self.sim.windows.slowdown[worker as usize].at(self.now);
        let w = &mut self.workers[worker as usize];
        let step = w.stats.steps + 1;
        let duration = self.sim.compute.step_time(worker, step, slowdown, &mut w.compute_rng);
        let life = w.life;
        self.queue.push(self.now.saturating_add(duration), Event::StepDone { worker, life });
    }

    fn step_done(&mut self, worker: u32) {
        let w = &mut self.workers[worker as usize];
        w.stats.steps += 1;
        w.steps_since_exchange += 1;
        let step = w.stats.steps;
        let boundary = w.steps_since_exchange >= self.sim.tau;
        if boundary {
            w.steps_since_exchange = 0;
        }
        self.emit(Happening::Step { worker, step });
        if boundary {
            self.begin_exchange(worker);
        } else {
            self.start_step(worker);
        }
    }

    fn begin_exchange(&mut self, worker: u32) {
        let blocking = self.sim.coupling != Coupling::AsyncNonBlocking;
        if !blocking && self.workers[worker as usize].outstanding.is_some() {
            self.workers[worker as usize].stats.skipped += 1;
            self.emit(Happening::Skip { worker });
            self.start_step(worker);
            return;
        }
        let exchange = self.new_exchange(worker, false);
        self.emit(Happening::Send { worker, exchange });
        if blocking {
            self.set_phase(worker, Phase::Waiting);
        } else {
            self.start_step(worker);
        }
    }

    /// Sends a request (an exchange, or a header-only fetch) and arms its timeout.
    fn new_exchange(&mut self, worker: u32, fetch: bool) -> u64 {
        let exchange = self.next_exchange;
        self.next_exchange += 1;
        let w = &mut self.workers[worker as usize];
        w.stats.exchanges += u64::from(!fetch);
        w.outstanding = Some(exchange);
        match self.transmit(worker, Direction::Up, !fetch) {
            Ok(arrival) => self.queue.push(arrival, Event::Arrive { worker, exchange, fetch }),
            Err(cause) => self.lose(worker, exchange, Direction::Up, cause),
        }
        self.arm_timer(worker);
        exchange
    }

    /// Sets the outstanding exchange's deadline, queueing a timer event unless one
    /// is already queued (it fires no later than this deadline and re-arms).
    fn arm_timer(&mut self, worker: u32) {
        let deadline = self.now.saturating_add(self.sim.sync_timeout);
        let w = &mut self.workers[worker as usize];
        w.deadline = deadline;
        if !w.timer_armed {
            w.timer_armed = true;
            self.queue.push(deadline, Event::Timer { worker });
        }
    }

    /// The worker's timer fired: time out the outstanding exchange if its deadline
    /// has come, or re-arm for the later deadline of a newer exchange.
    fn timer(&mut self, worker: u32) {
        let now = self.now;
        let w = &mut self.workers[worker as usize];
        w.timer_armed = false;
        let Some(exchange) = w.outstanding else { return };
        if w.deadline > now {
            w.timer_armed = true;
            let deadline = w.deadline;
            self.queue.push(deadline, Event::Timer { worker });
            return;
        }
        w.outstanding = None;
        w.timeouts += 1;
        w.stats.timeouts += 1;
        self.emit(Happening::Timeout { worker, exchange });
        if self.workers[worker as usize].phase == Phase::Waiting {
            self.start_step(worker);
        }
    }

    /// Draws a message's flight and decides whether it is lost on the way.
    fn transmit(
        &mut self,
        worker: u32,
        direction: Direction,
        with_parameters: bool,
    ) -> Result<SimTime, Loss> {
        let w = &mut self.workers[worker as usize];
        let flight = match direction {
            Direction::Up => self.sim.network.uplink_time(with_parameters, &mut w.uplink_rng),
            Direction::Down => self.sim.network.downlink_time(&mut w.downlink_rng),
        };
        let arrival = self.now.saturating_add(flight);
        self.reach = self.reach.max(arrival);
        if self.sim.windows.partitioned[worker as usize].any_during(self.now, arrival) {
            return Err(Loss::Partition);
        }
        let chance = self.sim.windows.drop_chance[worker as usize].at(self.now);
        if chance > 0.0 && w.drop_rng.bernoulli(chance) {
            return Err(Loss::Dropped);
        }
        Ok(arrival)
    }

    fn lose(&mut self, worker: u32, exchange: u64, direction: Direction, cause: Loss) {
        self.workers[worker as usize].stats.lost += 1;
        self.emit(Happening::Lost { worker, exchange, direction, cause });
    }

    /// Asynchronous master: starts serving the next live request, if idle.
    fn serve_next(&mut self) {
        while self.in_service.is_none() {
            let Some(request) = self.fifo.pop_front() else { return };
            if !self.current(request.worker, request.exchange) {
                self.lose(request.worker, request.exchange, Direction::Up, Loss::Crash);
                continue;
            }
            self.in_service = Some(request);
            self.queue.push(self.now.saturating_add(self.sim.update_time), Event::Served);
        }
    }

    fn apply_update(&mut self, request: Request) {
        let Request { worker, exchange, timeouts } = request;
        let (staleness, previous) = match self.last_update[worker as usize] {
            Some((count, at)) => (self.updates - count, Some(at)),
            None => (self.updates, None),
        };
        self.emit(Happening::Update { worker, exchange, staleness, previous, timeouts });
        self.updates += 1;
        self.last_update[worker as usize] = Some((self.updates, self.now));
        if self.updates.is_multiple_of(u64::from(self.sim.workers)) {
            self.end_round();
        }
    }

    fn end_round(&mut self) {
        self.rounds += 1;
        self.emit(Happening::RoundEnd { round: self.rounds });
    }

    fn send_reply(&mut self, worker: u32, exchange: u64, fetch: bool) {
        if !self.current(worker, exchange) {
            self.lose(worker, exchange, Direction::Down, Loss::Crash);
            return;
        }
        match self.transmit(worker, Direction::Down, true) {
            Ok(arrival) => self.queue.push(arrival, Event::ReplyArrive { worker, exchange, fetch }),
            Err(cause) => self.lose(worker, exchange, Direction::Down, cause),
        }
    }

    fn reply_arrived(&mut self, worker: u32, exchange: u64, fetch: bool) {
        if !self.current(worker, exchange) {
            self.lose(worker, exchange, Direction::Down, Loss::Crash);
            return;
        }
        let w = &mut self.workers[worker as usize];
        if w.outstanding != Some(exchange) {
            // It gave up on this exchange already: the reply is ignored.
            return;
        }
        w.outstanding = None;
        if fetch {
            self.emit(Happening::Fetched { worker, exchange });
        } else {
            self.workers[worker as usize].stats.replies += 1;
            self.emit(Happening::Reply { worker, exchange });
        }
        if self.workers[worker as usize].phase == Phase::Waiting {
            self.start_step(worker);
        }
    }

    fn crash(&mut self, worker: u32, recover_after: Option<SimTime>) {
        if matches!(self.workers[worker as usize].phase, Phase::Down | Phase::Dead) {
            return; // validation rules this out; stay safe for hand-built traces
        }
        self.set_phase(worker, if recover_after.is_some() { Phase::Down } else { Phase::Dead });
        let w = &mut self.workers[worker as usize];
        w.life += 1;
        w.first_exchange_of_life = self.next_exchange;
        w.outstanding = None;
        w.stats.crashes += 1;
        self.emit(Happening::Crash { worker, recovers: recover_after.is_some() });
        if let Some(down) = recover_after {
            self.queue.push(self.now.saturating_add(down), Event::Recover { worker });
        }
    }

    fn recover(&mut self, worker: u32) {
        self.emit(Happening::Recover { worker });
        self.workers[worker as usize].steps_since_exchange = 0;
        match self.sim.recovery {
            Recovery::Stale => self.start_step(worker),
            Recovery::FetchCenter => {
                self.set_phase(worker, Phase::Waiting);
                let exchange = self.new_exchange(worker, true);
                self.emit(Happening::FetchSend { worker, exchange });
            }
        }
    }

    /// Synchronous master: adds a request to the open barrier (or the next one).
    fn join_barrier(&mut self, request: Request) {
        // A worker's newer request replaces its older one (it timed out on that).
        let join =
            |requests: &mut Vec<Request>| match requests.iter_mut().find(|r| r.worker == request.worker) {
                Some(earlier) => Some(std::mem::replace(earlier, request)),
                None => {
                    requests.push(request);
                    None
                }
            };
        let replaced = match &mut self.barrier {
            Some(barrier) if barrier.serving => join(&mut self.next_barrier),
            Some(barrier) => join(&mut barrier.requests),
            None => {
                self.open_barrier(vec![request]);
                None
            }
        };
        if let Some(old) = replaced {
            self.lose(old.worker, old.exchange, Direction::Up, Loss::Superseded);
        }
        self.close_if_complete();
    }

    fn open_barrier(&mut self, requests: Vec<Request>) {
        let id = self.barrier_count;
        self.barrier_count += 1;
        self.barrier = Some(Barrier { id, requests, serving: false });
        let deadline = self.now.saturating_add(self.sim.barrier_timeout);
        self.queue.push(deadline, Event::BarrierClose { barrier: id });
    }

    fn close_if_complete(&mut self) {
        if let Some(barrier) = &self.barrier
            && !barrier.serving
            && barrier.requests.len() == self.sim.workers as usize
        {
            self.close_barrier(barrier.id);
        }
    }

    fn close_barrier(&mut self, id: u64) {
        let Some(barrier) = self.barrier.as_mut().filter(|b| b.id == id && !b.serving) else { return };
        barrier.serving = true;
        let service = self.sim.update_time.as_nanos().saturating_mul(barrier.requests.len() as u64);
        self.queue.push(self.now.saturating_add(SimTime(service)), Event::BarrierServed { barrier: id });
    }

    fn barrier_served(&mut self, id: u64) {
        let Some(barrier) = self.barrier.take_if(|b| b.id == id) else { return };
        let mut live = Vec::with_capacity(barrier.requests.len());
        for request in barrier.requests {
            if self.current(request.worker, request.exchange) {
                live.push(request);
            } else {
                self.lose(request.worker, request.exchange, Direction::Up, Loss::Crash);
            }
        }
        if !live.is_empty() {
            let participants: Vec<Participant> =
                live.iter().map(|r| Participant { worker: r.worker, exchange: r.exchange }).collect();
            let previous: Vec<Option<SimTime>> =
                live.iter().map(|r| self.last_update[r.worker as usize].map(|(_, at)| at)).collect();
            self.emit(Happening::Barrier { participants: &participants, previous: &previous });
            self.updates += 1;
            for request in &live {
                self.last_update[request.worker as usize] = Some((self.updates, self.now));
            }
            self.end_round();
            for request in &live {
                self.send_reply(request.worker, request.exchange, false);
            }
        }
        let waiting = std::mem::take(&mut self.next_barrier);
        if !waiting.is_empty() {
            self.open_barrier(waiting);
            self.close_if_complete();
        }
    }
}

/// Adds the time since the worker's phase began to that phase's total.
fn account(worker: &mut Worker, now: SimTime) {
    let elapsed = now.saturating_sub(worker.phase_since);
    let total = match worker.phase {
        Phase::Computing => &mut worker.stats.busy,
        Phase::Waiting => &mut worker.stats.waiting,
        Phase::Down | Phase::Dead => &mut worker.stats.down,
    };
    *total = total.saturating_add(elapsed);
    worker.phase_since = now;
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_fit_in_sixteen_bytes() {
        assert!(std::mem::size_of::<super::Event>() <= 16);
    }
}
