//! One run in progress: the state of the workers and the master, the event loop
//! and its dispatch. The worker side lives in `worker`, the master side in `master`.

mod master;
mod worker;

use std::collections::VecDeque;
use std::ops::ControlFlow;

use super::{RunSummary, Simulation, StopReason, WorkerStats};
use crate::base::time::SimTime;
use crate::rng::{Purpose, SimRng};
use crate::timing::observe::{Direction, Happening, Loss, Observer};
use crate::timing::queue::EventQueue;

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

pub(super) struct Run<'a, O> {
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
    pub(super) fn new(sim: &'a Simulation, observer: &'a mut O) -> Self {
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

    pub(super) fn run(mut self) -> RunSummary {
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
