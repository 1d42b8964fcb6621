//! The master's updates: the gaps a strategy reads, the weights it decides, and
//! the asynchronous update or synchronous barrier they weight.

use super::{Blocked, Checked, Reply, Trainer};
use crate::base::time::SimTime;
use crate::numerics::program::{ScalarId, Slot, Weight};
use crate::scenario::Coupling;
use crate::timing::observe::Participant;
use crate::weighting::{ExchangeContext, Weights};

impl Trainer<'_> {
    /// An asynchronous update of the center by the exchange's payload, weighted by
    /// the strategy (nothing to do if the payload was never kept).
    pub(super) fn update(
        &mut self,
        index: usize,
        now: SimTime,
        worker: u32,
        exchange: u64,
        staleness: u64,
        previous: Option<SimTime>,
    ) -> Result<(), Blocked> {
        let Some(slot) = self.exchanges.get(&exchange).and_then(|e| e.slot) else {
            return Ok(());
        };
        let gaps = self.gaps(index, &[(worker, slot)])?;
        let (a_m, a_w) = if self.program.rule().is_some() {
            self.weigh_on_backend(&[(worker, slot, gaps[0])])[0]
        } else {
            let (gap, weights) = self.decide(worker, gaps[0], staleness, previous, now);
            if self.reads.gap {
                self.recent_gaps[worker as usize] = Some(gap);
            }
            (Weight::Value(weights.master), Weight::Value(weights.worker))
        };
        self.program.master_update(slot, a_m);
        self.updates += 1;
        self.served(exchange, Reply::Difference(a_w));
        Ok(())
    }

    /// Records the weighing of exchanges decided together by the strategy's
    /// rule on the backend: nothing waits for their gaps.
    fn weigh_on_backend(&mut self, parts: &[(u32, Slot, ScalarId)]) -> Vec<(Weight, Weight)> {
        let weights = self.program.weigh(parts, self.settings.alpha);
        self.round_weights.extend(weights.iter().map(|&(a_m, _)| a_m));
        weights
    }

    /// Records the gap of each (worker, slot) for the decisions of happening
    /// `index` (once, however often the happening waits), and says whether what
    /// the strategy reads is computed.
    fn gaps(&mut self, index: usize, parts: &[(u32, Slot)]) -> Result<Vec<ScalarId>, Blocked> {
        let gaps = match self.blocked.take() {
            Some((i, gaps)) if i == index => gaps,
            _ => {
                let mut gaps = Vec::with_capacity(parts.len());
                for &(worker, slot) in parts {
                    let gap = self.program.gap(slot);
                    self.check(Checked::Gap(gap), index, Some(worker));
                    gaps.push(gap);
                }
                gaps
            }
        };
        let known = |id: ScalarId| self.program.scalar(id).is_some();
        let gaps_known = !self.reads.gap || gaps.iter().all(|&g| known(g));
        let losses_known = !self.reads.local_loss
            || parts.iter().all(|&(w, _)| self.local_loss[w as usize].is_none_or(known));
        if gaps_known && losses_known {
            Ok(gaps)
        } else {
            self.blocked = Some((index, gaps));
            Err(Blocked)
        }
    }

    /// Weights for one exchange whose gap is `gap`, as of now; and the gap's
    /// value when the strategy reads it.
    fn decide(
        &mut self,
        worker: u32,
        gap: ScalarId,
        staleness: u64,
        previous: Option<SimTime>,
        now: SimTime,
    ) -> (f64, Weights) {
        let gap = if self.reads.gap {
            self.program.scalar(gap).expect("computed before deciding")
        } else {
            f64::NAN
        };
        let local_loss = match self.local_loss[worker as usize] {
            Some(id) if self.reads.local_loss => self.program.scalar(id),
            _ => None,
        };
        let since = previous.unwrap_or(SimTime::ZERO);
        let disrupted = self.disruptions.since(worker, since, now);
        let ctx = ExchangeContext {
            worker,
            workers: self.settings.workers,
            alpha: self.settings.alpha,
            gap,
            recent_gaps: &self.recent_gaps,
            staleness,
            since_previous: previous.map(|p| now.saturating_sub(p)),
            local_loss,
            timeouts: self.timeouts[worker as usize],
            disrupted,
            now,
        };
        let weights = self.strategy.weights(&ctx);
        self.round_weights.push(Weight::Value(weights.master));
        (gap, weights)
    }

    pub(super) fn barrier(
        &mut self,
        index: usize,
        now: SimTime,
        participants: &[Participant],
        previous: &[Option<SimTime>],
    ) -> Result<(), Blocked> {
        // Every gap is taken against the same center, before the barrier moves it.
        let present: Vec<(usize, u32, Slot)> = participants
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                self.exchanges.get(&p.exchange).and_then(|e| e.slot).map(|s| (i, p.worker, s))
            })
            .collect();
        let parts: Vec<(u32, Slot)> = present.iter().map(|&(_, w, s)| (w, s)).collect();
        let gap_ids = self.gaps(index, &parts)?;
        self.barriers += 1;
        let weights = if self.program.rule().is_some() {
            let parts: Vec<_> = parts.iter().zip(&gap_ids).map(|(&(w, s), &g)| (w, s, g)).collect();
            for &(_, worker, _) in &present {
                self.last_barrier[worker as usize] = self.barriers;
            }
            self.weigh_on_backend(&parts)
        } else {
            self.decide_barrier(&present, &gap_ids, previous, now)
        };
        let decided: Vec<(Slot, Weight, Weight, u64)> = present
            .iter()
            .zip(weights)
            .map(|(&(i, _, slot), (a_m, a_w))| (slot, a_m, a_w, participants[i].exchange))
            .collect();
        let slots: Vec<(Slot, Weight)> = decided.iter().map(|&(s, a_m, _, _)| (s, a_m)).collect();
        if self.settings.coupling == Coupling::SyncAverage {
            self.program.barrier_average(&slots);
            for &(_, _, _, exchange) in &decided {
                self.served(exchange, Reply::Adopt);
            }
        } else {
            self.program.barrier_update(&slots);
            for &(_, _, a_w, exchange) in &decided {
                self.served(exchange, Reply::Difference(a_w));
            }
        }
        self.updates += 1;
        Ok(())
    }

    /// The strategy's weights for a barrier's participants present with a
    /// payload, (index, worker, slot) each, all against the recent gaps as they
    /// were before the barrier.
    fn decide_barrier(
        &mut self,
        present: &[(usize, u32, Slot)],
        gap_ids: &[ScalarId],
        previous: &[Option<SimTime>],
        now: SimTime,
    ) -> Vec<(Weight, Weight)> {
        let k = u64::from(self.settings.workers);
        let mut decided = Vec::with_capacity(present.len());
        let mut gaps = Vec::with_capacity(present.len());
        for (&(i, worker, _), &gap_id) in present.iter().zip(gap_ids) {
            let w = worker as usize;
            // A barrier counts as k updates: present at every barrier ⇒ k − 1.
            let staleness = k * (self.barriers - self.last_barrier[w]) - 1;
            let (gap, weights) = self.decide(worker, gap_id, staleness, previous[i], now);
            self.last_barrier[w] = self.barriers;
            decided.push((Weight::Value(weights.master), Weight::Value(weights.worker)));
            gaps.push((w, gap));
        }
        if self.reads.gap {
            for (w, gap) in gaps {
                self.recent_gaps[w] = Some(gap);
            }
        }
        decided
    }
}
