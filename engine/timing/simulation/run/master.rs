//! The master side of a run: the asynchronous master's queue of updates, the
//! synchronous master's barriers, and the replies both send.

use super::{Barrier, Event, Request, Run};
use crate::base::time::SimTime;
use crate::timing::observe::{Direction, Happening, Loss, Observer, Participant};

impl<O: Observer> Run<'_, O> {
    /// Asynchronous master: starts serving the next live request, if idle.
    pub(super) fn serve_next(&mut self) {
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

    pub(super) fn apply_update(&mut self, request: Request) {
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

    pub(super) fn send_reply(&mut self, worker: u32, exchange: u64, fetch: bool) {
        if !self.current(worker, exchange) {
            self.lose(worker, exchange, Direction::Down, Loss::Crash);
            return;
        }
        match self.transmit(worker, Direction::Down, true) {
            Ok(arrival) => self.queue.push(arrival, Event::ReplyArrive { worker, exchange, fetch }),
            Err(cause) => self.lose(worker, exchange, Direction::Down, cause),
        }
    }

    /// Synchronous master: adds a request to the open barrier (or the next one).
    pub(super) fn join_barrier(&mut self, request: Request) {
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

    pub(super) fn close_barrier(&mut self, id: u64) {
        let Some(barrier) = self.barrier.as_mut().filter(|b| b.id == id && !b.serving) else { return };
        barrier.serving = true;
        let service = self.sim.update_time.as_nanos().saturating_mul(barrier.requests.len() as u64);
        self.queue.push(self.now.saturating_add(SimTime(service)), Event::BarrierServed { barrier: id });
    }

    pub(super) fn barrier_served(&mut self, id: u64) {
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
