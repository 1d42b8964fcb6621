//! The worker side of a run: local steps, exchanges and their timeouts, replies,
//! crashes and recoveries.

use super::{Event, Phase, Run};
use crate::base::time::SimTime;
use crate::scenario::{Coupling, Recovery};
use crate::timing::observe::{Direction, Happening, Loss, Observer};

impl<O: Observer> Run<'_, O> {
    pub(super) fn start_step(&mut self, worker: u32) {
        self.set_phase(worker, Phase::Computing);
        let slowdown = self.sim.windows.slowdown[worker as usize].at(self.now);
        let w = &mut self.workers[worker as usize];
        let step = w.stats.steps + 1;
        let duration = self.sim.compute.step_time(worker, step, slowdown, &mut w.compute_rng);
        let life = w.life;
        self.queue.push(self.now.saturating_add(duration), Event::StepDone { worker, life });
    }

    pub(super) fn step_done(&mut self, worker: u32) {
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
    pub(super) fn timer(&mut self, worker: u32) {
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

    pub(super) fn reply_arrived(&mut self, worker: u32, exchange: u64, fetch: bool) {
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

    pub(super) fn crash(&mut self, worker: u32, recover_after: Option<SimTime>) {
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

    pub(super) fn recover(&mut self, worker: u32) {
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
}
