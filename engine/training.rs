//! The trainer: follows the engine's happenings and makes the numbers happen —
//! local steps, EASGD exchanges weighted by a strategy, evaluation of the center.
//!
//! # Evaluation
//!
//! The center is evaluated at the end of every `evaluate_every`-th round, on the
//! test subset when the scenario has one, and always at the end of the run's last
//! round on the whole test set, whatever stops the run. Only the `stop.rounds`
//! limit is known in advance; a run can also end on its time limit or by stalling,
//! so at every round end that was not just measured on the whole test set the
//! center is copied into a slot, and [`Trainer::finish`] evaluates the copy of the
//! last round end on the whole test set (replacing that round's subset row, if it
//! has one). Only evaluated rounds get a row in the metrics.
//!
//! It is an [`Observer`], so it never decides *when* anything happens; the same
//! schedule drives every strategy. Message payloads live in backend slots keyed by
//! exchange id; a slot is released once nothing can refer to it any more (replied,
//! lost, or served after its worker gave up on it).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;

use crate::backend::{Backend, Evaluation, Slot, StepRequest, TestSet};
use crate::data::Sampler;
use crate::disruptions::Disruptions;
use crate::model::probe::probe_key;
use crate::observe::{Happening, Loss, Observer, Participant};
use crate::optim::hessian_probes;
use crate::scenario::{Coupling, Optimizer};
use crate::time::SimTime;
use crate::trace::Trace;
use crate::weighting::{ExchangeContext, WeightingStrategy, Weights};

/// The center's metrics at the end of one round.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundMetrics {
    /// The round (1-based).
    pub round: u64,
    /// Virtual time at its end.
    pub time: SimTime,
    /// The evaluation of the center.
    pub evaluation: Evaluation,
    /// Master updates so far (asynchronous) or barriers so far (synchronous).
    pub updates: u64,
    /// Mean a_m of the updates since the previous row (this round's updates when
    /// every round is evaluated).
    pub mean_master_weight: f64,
    /// Workers crashed at the end of the round.
    pub workers_down: u32,
    /// Which test samples `evaluation` measured.
    pub test_set: TestSet,
}

/// A run that produced a NaN or an infinity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The strategy's label.
    pub strategy: String,
    /// The seed.
    pub seed: u64,
    /// The round in progress.
    pub round: u64,
    /// The worker involved, if one was.
    pub worker: Option<u32>,
    /// What was not finite.
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "diverged: strategy `{}`, seed {}, round {}", self.strategy, self.seed, self.round)?;
        if let Some(worker) = self.worker {
            write!(f, ", worker {worker}")?;
        }
        write!(f, ": {}", self.what)
    }
}

/// What one exchange's payload is doing.
#[derive(Clone, Copy, Debug)]
struct Exchange {
    slot: Option<Slot>,
    served: bool,
    timed_out: bool,
    /// The reply: subtract a_w·e, or (averaging, fetch) adopt the payload.
    reply: Reply,
}

#[derive(Clone, Copy, Debug)]
enum Reply {
    Pending,
    Difference(f64),
    Adopt,
}

/// Settings of one training run.
#[derive(Clone, Debug)]
pub struct TrainerSettings {
    /// The strategy's label (for messages).
    pub label: String,
    /// The seed.
    pub seed: u64,
    /// k.
    pub workers: u32,
    /// α.
    pub alpha: f64,
    /// Minibatch size.
    pub batch: usize,
    /// The coupling.
    pub coupling: Coupling,
    /// The local optimizer (for its Hessian schedule).
    pub optimizer: Optimizer,
    /// Evaluate the center every this many rounds.
    pub evaluate_every: u64,
    /// The round limit (`stop.rounds`): that round is evaluated on the whole test set.
    pub last_round: u64,
    /// Whether intermediate evaluations use the test subset.
    pub test_subset: bool,
}

/// The latest round end not (yet) measured on the whole test set.
#[derive(Clone, Debug)]
struct Pending {
    /// A copy of the center at that moment.
    slot: Slot,
    /// Its row, to be evaluated on the whole test set.
    row: RoundMetrics,
    /// Whether the metrics already end with this round's subset row.
    recorded: bool,
}

/// Follows a run and trains.
pub struct Trainer<B: Backend> {
    backend: B,
    strategy: Box<dyn WeightingStrategy + Send>,
    settings: TrainerSettings,
    samplers: Vec<Sampler>,
    batch: Vec<u32>,
    probe_keys: Vec<u32>,
    exchanges: BTreeMap<u64, Exchange>,
    recent_gaps: Vec<Option<f64>>,
    local_loss: Vec<Option<f64>>,
    timeouts: Vec<u32>,
    down: Vec<bool>,
    /// What disrupted each worker when, for the oracle.
    disruptions: Disruptions,
    barriers: u64,
    last_barrier: Vec<u64>,
    updates: u64,
    /// Rounds completed.
    round: u64,
    /// Sum and count of a_m since the previous metrics row.
    round_weight: (f64, u64),
    pending: Option<Pending>,
    metrics: Vec<RoundMetrics>,
    divergence: Option<Divergence>,
}

impl<B: Backend> Trainer<B> {
    /// A trainer over `backend`, drawing worker i's minibatches from `indices[i]`.
    pub fn new(
        backend: B,
        strategy: Box<dyn WeightingStrategy + Send>,
        settings: TrainerSettings,
        indices: Vec<Vec<u32>>,
        trace: &Trace,
    ) -> Self {
        let k = settings.workers as usize;
        let samplers = indices
            .into_iter()
            .enumerate()
            .map(|(w, ix)| Sampler::new(ix, settings.seed, w as u32))
            .collect();
        Trainer {
            backend,
            strategy,
            samplers,
            batch: Vec::with_capacity(settings.batch),
            probe_keys: Vec::new(),
            exchanges: BTreeMap::new(),
            recent_gaps: vec![None; k],
            local_loss: vec![None; k],
            timeouts: vec![0; k],
            down: vec![false; k],
            disruptions: Disruptions::new(trace, k),
            barriers: 0,
            last_barrier: vec![0; k],
            updates: 0,
            round: 0,
            round_weight: (0.0, 0),
            pending: None,
            metrics: Vec::new(),
            divergence: None,
            settings,
        }
    }

    /// The backend, and the metrics and divergence, once the last round end is
    /// measured on the whole test set.
    pub fn finish(mut self) -> (B, Vec<RoundMetrics>, Option<Divergence>) {
        if let Some(Pending { slot, mut row, recorded }) = self.pending.take() {
            row.evaluation = self.backend.evaluate_slot(slot, TestSet::Full);
            self.backend.release(slot);
            if let Err(what) = finite(&row.evaluation) {
                if self.divergence.is_none() {
                    self.round = row.round - 1;
                    let _ = self.diverge(None, what);
                }
            } else if recorded {
                *self.metrics.last_mut().expect("the subset row was recorded") = row;
            } else {
                self.metrics.push(row);
            }
        }
        (self.backend, self.metrics, self.divergence)
    }

    fn round_end(&mut self, round: u64, now: SimTime) -> ControlFlow<()> {
        let last = round == self.settings.last_round;
        let scheduled = last || round.is_multiple_of(self.settings.evaluate_every.max(1));
        let on = if self.settings.test_subset && !last { TestSet::Subset } else { TestSet::Full };
        // A row covers the updates since the previous row.
        let (sum, count) = self.round_weight;
        if scheduled {
            self.round_weight = (0.0, 0);
        }
        let mut row = RoundMetrics {
            round,
            time: now,
            evaluation: Evaluation { test_accuracy: 0.0, test_loss: 0.0, train_loss: 0.0 },
            updates: self.updates,
            mean_master_weight: if count > 0 { sum / count as f64 } else { 0.0 },
            workers_down: self.down.iter().filter(|&&d| d).count() as u32,
            test_set: on,
        };
        // Any round end may turn out to be the last (time limit, stall): keep the
        // center unless it is measured on the whole test set right now.
        let previous = self.pending.take();
        if scheduled && on == TestSet::Full {
            if let Some(p) = previous {
                self.backend.release(p.slot);
            }
        } else {
            let slot = previous.map_or_else(|| self.backend.new_slot(), |p| p.slot);
            self.backend.snapshot_center(slot);
            let full = RoundMetrics { test_set: TestSet::Full, ..row.clone() };
            self.pending = Some(Pending { slot, row: full, recorded: scheduled });
        }
        if scheduled {
            row.evaluation = self.backend.evaluate_center(on);
            if let Err(what) = finite(&row.evaluation) {
                return self.diverge(None, what);
            }
            self.metrics.push(row);
        }
        self.round = round;
        ControlFlow::Continue(())
    }

    fn diverge(&mut self, worker: Option<u32>, what: String) -> ControlFlow<()> {
        self.divergence = Some(Divergence {
            strategy: self.settings.label.clone(),
            seed: self.settings.seed,
            round: self.round + 1,
            worker,
            what,
        });
        ControlFlow::Break(())
    }

    fn local_step(&mut self, worker: u32, step: u64) -> ControlFlow<()> {
        let w = worker as usize;
        self.samplers[w].next_batch(self.settings.batch, &mut self.batch);
        self.probe_keys.clear();
        let probes = hessian_probes(&self.settings.optimizer, step);
        self.probe_keys.extend((0..probes).map(|p| probe_key(self.settings.seed, worker, step, p)));
        let request = StepRequest { worker: w, step, batch: &self.batch, probe_keys: &self.probe_keys };
        let loss = self.backend.local_step(request);
        if !loss.is_finite() {
            return self.diverge(Some(worker), format!("the local loss at step {step} is {loss}"));
        }
        self.local_loss[w] = Some(f64::from(loss));
        ControlFlow::Continue(())
    }

    /// Weights for one exchange whose payload is in `slot`, as of now.
    fn decide(
        &mut self,
        worker: u32,
        slot: Slot,
        staleness: u64,
        previous: Option<SimTime>,
        now: SimTime,
    ) -> Result<(f64, Weights), ControlFlow<()>> {
        let gap = self.backend.gap(slot);
        if !gap.is_finite() {
            return Err(self.diverge(Some(worker), format!("the gap ‖x_i − x̃‖ is {gap}")));
        }
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
            local_loss: self.local_loss[worker as usize],
            timeouts: self.timeouts[worker as usize],
            disrupted,
            now,
        };
        let weights = self.strategy.weights(&ctx);
        self.round_weight.0 += weights.master;
        self.round_weight.1 += 1;
        Ok((gap, weights))
    }

    fn served(&mut self, exchange: u64, reply: Reply) {
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
            self.backend.release(slot);
        }
    }

    fn barrier(
        &mut self,
        now: SimTime,
        participants: &[Participant],
        previous: &[Option<SimTime>],
    ) -> ControlFlow<()> {
        self.barriers += 1;
        let k = u64::from(self.settings.workers);
        let mut parts = Vec::with_capacity(participants.len());
        let mut gaps = Vec::with_capacity(participants.len());
        for (p, &prev) in participants.iter().zip(previous) {
            let w = p.worker as usize;
            let Some(slot) = self.exchanges.get(&p.exchange).and_then(|e| e.slot) else { continue };
            // A barrier counts as k updates: present at every barrier ⇒ k − 1.
            let staleness = k * (self.barriers - self.last_barrier[w]) - 1;
            let (gap, weights) = match self.decide(p.worker, slot, staleness, prev, now) {
                Ok(decision) => decision,
                Err(flow) => return flow,
            };
            self.last_barrier[w] = self.barriers;
            parts.push((slot, weights.master, weights.worker, p.exchange));
            gaps.push((w, gap));
        }
        for (w, gap) in gaps {
            self.recent_gaps[w] = Some(gap);
        }
        let slots: Vec<(Slot, f64)> = parts.iter().map(|&(s, a_m, _, _)| (s, a_m)).collect();
        if self.settings.coupling == Coupling::SyncAverage {
            self.backend.barrier_average(&slots);
            for &(_, _, _, exchange) in &parts {
                self.served(exchange, Reply::Adopt);
            }
        } else {
            self.backend.barrier_update(&slots);
            for &(_, _, a_w, exchange) in &parts {
                self.served(exchange, Reply::Difference(a_w));
            }
        }
        self.updates += 1;
        ControlFlow::Continue(())
    }
}

impl<B: Backend> Observer for Trainer<B> {
    fn observe(&mut self, now: SimTime, happening: &Happening) -> ControlFlow<()> {
        match *happening {
            Happening::Step { worker, step } => return self.local_step(worker, step),
            Happening::Send { worker, exchange } => {
                let slot = self.backend.new_slot();
                self.backend.snapshot_worker(worker as usize, slot);
                let entry =
                    Exchange { slot: Some(slot), served: false, timed_out: false, reply: Reply::Pending };
                self.exchanges.insert(exchange, entry);
            }
            Happening::Update { worker, exchange, staleness, previous, timeouts } => {
                self.timeouts[worker as usize] = timeouts;
                let Some(slot) = self.exchanges.get(&exchange).and_then(|e| e.slot) else {
                    return ControlFlow::Continue(());
                };
                let (gap, weights) = match self.decide(worker, slot, staleness, previous, now) {
                    Ok(decision) => decision,
                    Err(flow) => return flow,
                };
                self.recent_gaps[worker as usize] = Some(gap);
                self.backend.master_update(slot, weights.master);
                self.updates += 1;
                self.served(exchange, Reply::Difference(weights.worker));
            }
            Happening::Barrier { participants, previous } => {
                return self.barrier(now, participants, previous);
            }
            Happening::Reply { worker, exchange } => {
                let entry = self.exchanges.get(&exchange).copied();
                match entry {
                    Some(Exchange { slot: Some(slot), reply: Reply::Difference(a_w), .. }) => {
                        self.backend.apply_difference(worker as usize, slot, a_w)
                    }
                    Some(Exchange { slot: Some(slot), reply: Reply::Adopt, .. }) => {
                        self.backend.adopt(worker as usize, slot)
                    }
                    _ => {}
                }
                self.finish_exchange(exchange);
            }
            Happening::Timeout { exchange, .. } => {
                if let Some(entry) = self.exchanges.get_mut(&exchange) {
                    entry.timed_out = true;
                    if entry.served {
                        self.finish_exchange(exchange);
                    }
                }
            }
            // Up: never served. Down: served, but the reply is gone.
            Happening::Lost { worker, exchange, cause, .. } => {
                if cause == Loss::Dropped {
                    self.disruptions.dropped(worker, now);
                }
                self.finish_exchange(exchange);
            }
            Happening::FetchSend { exchange, .. } => {
                // A header-only request: the payload comes with the master's answer.
                let entry = Exchange { slot: None, served: false, timed_out: false, reply: Reply::Adopt };
                self.exchanges.insert(exchange, entry);
            }
            Happening::FetchServe { exchange, .. } => {
                let gave_up = self.exchanges.get(&exchange).is_none_or(|e| e.timed_out);
                if gave_up {
                    self.exchanges.remove(&exchange);
                } else {
                    let slot = self.backend.new_slot();
                    self.backend.snapshot_center(slot);
                    let entry =
                        Exchange { slot: Some(slot), served: true, timed_out: false, reply: Reply::Adopt };
                    self.exchanges.insert(exchange, entry);
                }
            }
            Happening::Fetched { worker, exchange } => {
                if let Some(slot) = self.exchanges.get(&exchange).and_then(|e| e.slot) {
                    self.backend.adopt(worker as usize, slot);
                }
                self.finish_exchange(exchange);
            }
            Happening::Crash { worker, .. } => self.down[worker as usize] = true,
            Happening::Recover { worker } => self.down[worker as usize] = false,
            Happening::RoundEnd { round } => return self.round_end(round, now),
            Happening::Skip { .. } => {}
        }
        ControlFlow::Continue(())
    }
}

/// Why an evaluation is not usable, if it is not.
fn finite(evaluation: &Evaluation) -> Result<(), String> {
    let values = [evaluation.test_accuracy, evaluation.test_loss, evaluation.train_loss];
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(format!("the center's test loss is {}", evaluation.test_loss))
    }
}
