//! How each happening of the timeline is recorded: local steps, the payloads of
//! exchanges and fetches in their slots, crashes and round ends.

use super::{Blocked, Checked, Exchange, Pending, Reply, RoundMetrics, Row, Trainer};
use crate::base::time::SimTime;
use crate::numerics::backend::{Evaluation, TestSet};
use crate::numerics::model::probe::probe_key;
use crate::numerics::program::Params;
use crate::timing::observe::{Happening, Loss};

impl Trainer<'_> {
    /// Records what happening `index` calls for, or says it waits on numbers not
    /// computed yet.
    pub(super) fn handle(
        &mut self,
        index: usize,
        now: SimTime,
        happening: &Happening,
    ) -> Result<(), Blocked> {
        match *happening {
            Happening::Step { worker, step } => self.local_step(index, worker, step),
            Happening::Send { worker, exchange } => self.send(worker, exchange),
            Happening::Update { worker, exchange, staleness, previous, timeouts } => {
                self.timeouts[worker as usize] = timeouts;
                self.update(index, now, worker, exchange, staleness, previous)?
            }
            Happening::Barrier { participants, previous } => {
                self.barrier(index, now, participants, previous)?
            }
            Happening::Reply { worker, exchange } => self.reply(worker, exchange),
            Happening::Timeout { exchange, .. } => self.timeout(exchange),
            // Up: never served. Down: served, but the reply is gone.
            Happening::Lost { worker, exchange, cause, .. } => self.lost(worker, exchange, cause, now),
            Happening::FetchSend { exchange, .. } => self.fetch_send(exchange),
            Happening::FetchServe { exchange, .. } => self.fetch_serve(exchange),
            Happening::Fetched { worker, exchange } => self.fetched(worker, exchange),
            Happening::Crash { worker, .. } => self.down[worker as usize] = true,
            Happening::Recover { worker } => self.down[worker as usize] = false,
            Happening::RoundEnd { round } => self.round_end(index, round, now),
            Happening::Skip { .. } => {}
        }
        Ok(())
    }

    /// A worker sent its parameters.
    fn send(&mut self, worker: u32, exchange: u64) {
        // Only a request the master will serve needs the parameters it carries.
        let slot = self.timeline.is_served(exchange).then(|| {
            let slot = self.program.new_slot();
            self.program.snapshot_worker(worker, slot);
            slot
        });
        let entry = Exchange { slot, served: false, timed_out: false, reply: Reply::Pending };
        self.exchanges.insert(exchange, entry);
    }

    /// The master's reply reached the worker.
    fn reply(&mut self, worker: u32, exchange: u64) {
        let entry = self.exchanges.get(&exchange).copied();
        match entry {
            Some(Exchange { slot: Some(slot), reply: Reply::Difference(a_w), .. }) => {
                self.program.apply_difference(worker, slot, a_w)
            }
            Some(Exchange { slot: Some(slot), reply: Reply::Adopt, .. }) => self.program.adopt(worker, slot),
            _ => {}
        }
        self.finish_exchange(exchange);
    }

    /// The worker gave up waiting for the exchange.
    fn timeout(&mut self, exchange: u64) {
        if let Some(entry) = self.exchanges.get_mut(&exchange) {
            entry.timed_out = true;
            if entry.served {
                self.finish_exchange(exchange);
            }
        }
    }

    /// A message of the exchange was lost.
    fn lost(&mut self, worker: u32, exchange: u64, cause: Loss, now: SimTime) {
        if cause == Loss::Dropped {
            self.disruptions.dropped(worker, now);
        }
        self.finish_exchange(exchange);
    }

    /// A recovered worker asked for the center.
    fn fetch_send(&mut self, exchange: u64) {
        // A header-only request: the payload comes with the master's answer.
        let entry = Exchange { slot: None, served: false, timed_out: false, reply: Reply::Adopt };
        self.exchanges.insert(exchange, entry);
    }

    /// The master read the center for a fetch.
    fn fetch_serve(&mut self, exchange: u64) {
        let gave_up = self.exchanges.get(&exchange).is_none_or(|e| e.timed_out);
        if gave_up {
            self.exchanges.remove(&exchange);
        } else {
            let slot = self.program.new_slot();
            self.program.snapshot_center(slot);
            let entry = Exchange { slot: Some(slot), served: true, timed_out: false, reply: Reply::Adopt };
            self.exchanges.insert(exchange, entry);
        }
    }

    /// The fetched center reached the worker.
    fn fetched(&mut self, worker: u32, exchange: u64) {
        if let Some(slot) = self.exchanges.get(&exchange).and_then(|e| e.slot) {
            self.program.adopt(worker, slot);
        }
        self.finish_exchange(exchange);
    }

    fn round_end(&mut self, index: usize, round: u64, now: SimTime) {
        let last = round == self.settings.last_round;
        let scheduled = last || round.is_multiple_of(self.settings.evaluate_every.max(1));
        let on = if self.settings.test_subset && !last { TestSet::Subset } else { TestSet::Full };
        // A row covers the updates since the previous row.
        let weights =
            if scheduled { std::mem::take(&mut self.round_weights) } else { self.round_weights.clone() };
        let row = RoundMetrics {
            round,
            time: now,
            evaluation: Evaluation { test_accuracy: f64::NAN, test_loss: f64::NAN, train_loss: f64::NAN },
            updates: self.updates,
            // Set once the weights are known (see `Trainer::finish`).
            mean_master_weight: f64::NAN,
            workers_down: self.down.iter().filter(|&&d| d).count() as u32,
            test_set: on,
        };
        // Any round end may turn out to be the last (time limit, stall): keep the
        // center unless it is measured on the whole test set right now.
        let previous = self.pending.take();
        if scheduled && on == TestSet::Full {
            if let Some(p) = previous {
                self.program.release(p.slot);
            }
        } else {
            let slot = previous.map_or_else(|| self.program.new_slot(), |p| p.slot);
            self.program.snapshot_center(slot);
            let full = RoundMetrics { test_set: TestSet::Full, ..row.clone() };
            self.pending = Some(Pending { slot, row: full, weights: weights.clone(), recorded: scheduled });
        }
        if scheduled {
            let evaluation = self.program.evaluate(Params::Center, on);
            self.check(Checked::Evaluation(evaluation), index, None);
            self.rows.push(Row { metrics: row, evaluation, weights, happening: index });
        }
        self.round = round;
    }

    fn local_step(&mut self, index: usize, worker: u32, step: u64) {
        let w = worker as usize;
        self.samplers[w].next_batch(self.settings.batch, &mut self.batch);
        self.probe_keys.clear();
        let probes = self.settings.optimizer.hessian_probes(step);
        self.probe_keys.extend((0..probes).map(|p| probe_key(self.settings.seed, worker, step, p)));
        let loss = self.program.local_step(worker, step, &self.batch, &self.probe_keys);
        self.check(Checked::Loss { step, loss }, index, Some(worker));
        self.local_loss[w] = Some(loss);
    }

    pub(super) fn served(&mut self, exchange: u64, reply: Reply) {
        if let Some(entry) = self.exchanges.get_mut(&exchange) {
            entry.served = true;
            entry.reply = reply;
            if entry.timed_out {
                self.finish_exchange(exchange);
            }
        }
    }

    fn finish_exchange(&mut self, exchange: u64) {
        if let Some(Exchange { slot: Some(slot), .. }) = self.exchanges.remove(&exchange) {
            self.program.release(slot);
        }
    }
}
