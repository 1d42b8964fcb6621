//! The trainer: follows a seed's happenings and records the numbers they call for
//! — local steps, EASGD exchanges weighted by a strategy, evaluations of the
//! center — into a [`Program`] that a backend executes in batches.
//!
//! # Record, then execute
//!
//! [`Trainer::advance`] walks the seed's [`Timeline`] and records operations until
//! a decision needs a number not computed yet (a strategy that [`Reads`] the gap
//! or the local loss), the program is long enough to hand over, or the run ends.
//! The driver ([`driver`]) then has a backend execute the program (together with
//! other runs' programs) and calls [`Trainer::resolve`], which reads the new
//! scalars: it fills in the metrics and checks, in recorded order, that every
//! loss, gap and evaluation is finite. Strategies that read nothing (`uniform`,
//! `staleness`, `oracle`) never wait.
//!
//! A run whose numbers stop being finite diverged at the first such check. Since
//! the check comes after the fact, the trainer stops there, and the run is
//! replayed with [`Trainer::stopping_after`] that happening, which gives exactly
//! what a run stopped on the spot gives (see [`crate::training::experiment`]).
//!
//! # Evaluation
//!
//! The center is evaluated at the end of every `evaluate_every`-th round, on the
//! test subset when the scenario has one, and always at the end of the run's last
//! round on the whole test set, whatever stops the run. Only the `stop.rounds`
//! limit is known in advance; a run can also end on its time limit or by stalling,
//! so at every round end that was not just measured on the whole test set the
//! center is copied into a slot, and the end of the run evaluates the copy of the
//! last round end on the whole test set (replacing that round's subset row, if it
//! has one). Only evaluated rounds get a row in the metrics.
//!
//! The trainer never decides *when* anything happens; the same timeline drives
//! every strategy. Message payloads live in slots keyed by exchange id; a slot is
//! released once nothing can refer to it any more (replied, lost, or served after
//! its worker gave up on it).

pub mod driver;
pub mod experiment;

pub mod timeline;
pub mod together;

use std::collections::BTreeMap;
use std::fmt;

use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::data::Sampler;
use crate::numerics::backend::{Evaluation, RunId, TestSet};
use crate::numerics::model::probe::probe_key;
use crate::numerics::program::{EvaluationId, Params, Program, ScalarId, Slot};
use crate::scenario::{Coupling, Optimizer};
use crate::timing::disruptions::Disruptions;
use crate::timing::observe::{Happening, Loss, Participant};
use crate::weighting::{ExchangeContext, Reads, WeightingStrategy, Weights};
use timeline::Timeline;

/// The center's metrics at the end of one round.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A metrics row whose evaluation is recorded.
#[derive(Clone, Debug)]
struct Row {
    metrics: RoundMetrics,
    evaluation: EvaluationId,
    /// The happening (a round end) that recorded it.
    happening: usize,
}

/// The end of the run: the pending round end's evaluation on the whole test set.
#[derive(Clone, Debug)]
struct FinalRow {
    row: RoundMetrics,
    evaluation: EvaluationId,
    recorded: bool,
}

/// What must be finite, checked in recorded order once computed.
#[derive(Clone, Copy, Debug)]
struct Check {
    what: Checked,
    /// The happening that recorded it.
    happening: usize,
    /// The round in progress then.
    round: u64,
    worker: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
enum Checked {
    Loss { step: u64, loss: ScalarId },
    Gap(ScalarId),
    Evaluation(EvaluationId),
}

/// Where a trainer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Walking the timeline.
    Running,
    /// The final evaluation is recorded; it finishes at the next resolve.
    Finishing,
    /// Nothing more to do.
    Done,
}

/// What [`Trainer::advance`] stopped for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The program must be executed (and [`Trainer::resolve`] called) to go on.
    Flush,
    /// The run is over; [`Trainer::finish`] gives its results.
    Done,
}

/// A decision that needs numbers not computed yet.
struct Blocked;

/// A program this long is handed to the backend even if nothing waits on it,
/// which bounds the memory of recorded work.
const MAX_PENDING_OPS: usize = 4096;
/// Likewise for the minibatch indices of recorded local steps.
const MAX_PENDING_SAMPLES: usize = 1 << 18;

/// Follows a run and records its numerics.
pub struct Trainer<'t> {
    timeline: &'t Timeline,
    /// The next happening to handle.
    next: usize,
    /// Replaying a diverged run: stop after this happening.
    stop_after: Option<usize>,
    run: RunId,
    program: Program,
    state: State,
    strategy: Box<dyn WeightingStrategy + Send>,
    reads: Reads,
    settings: TrainerSettings,
    samplers: Vec<Sampler>,
    batch: Vec<u32>,
    probe_keys: Vec<u32>,
    exchanges: BTreeMap<u64, Exchange>,
    recent_gaps: Vec<Option<f64>>,
    /// Each worker's latest local loss.
    local_loss: Vec<Option<ScalarId>>,
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
    final_row: Option<FinalRow>,
    rows: Vec<Row>,
    checks: Vec<Check>,
    /// Checks done so far.
    checked: usize,
    /// The gaps recorded for a happening that waits on them.
    blocked: Option<(usize, Vec<ScalarId>)>,
    /// The first check that failed: its happening and what it says.
    divergence: Option<(usize, Divergence)>,
}

impl<'t> Trainer<'t> {
    /// A trainer for backend run `run`, following `timeline` (recorded under
    /// `trace`), drawing worker i's minibatches from `indices[i]`.
    pub fn new(
        run: RunId,
        timeline: &'t Timeline,
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
            timeline,
            next: 0,
            stop_after: None,
            run,
            program: Program::new(),
            state: State::Running,
            reads: strategy.reads(),
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
            final_row: None,
            rows: Vec::new(),
            checks: Vec::new(),
            checked: 0,
            blocked: None,
            divergence: None,
            settings,
        }
    }

    /// The same trainer, stopping after happening `index`: the replay of a run
    /// that diverged there.
    pub fn stopping_after(mut self, index: usize) -> Self {
        self.stop_after = Some(index);
        self
    }

    /// The backend run it records for.
    pub fn run(&self) -> RunId {
        self.run
    }

    /// Its program (for the backend to execute).
    pub fn program_mut(&mut self) -> &mut Program {
        &mut self.program
    }

    /// Its program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Whether the run is over.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// How much of the run is behind it, from 0 to 1: the share of its seed's
    /// happenings walked (1 once done, whatever stopped it).
    pub fn fraction_done(&self) -> f64 {
        if self.is_done() || self.timeline.is_empty() {
            return 1.0;
        }
        (self.next as f64 / self.timeline.len() as f64).min(1.0)
    }

    /// The happening at which the run diverged, once known.
    pub fn diverged_at(&self) -> Option<usize> {
        self.divergence.as_ref().map(|(index, _)| *index)
    }

    /// Records operations until the run needs the backend (or is over).
    pub fn advance(&mut self) -> Progress {
        while self.state == State::Running {
            let stopped = self.divergence.is_some() || self.stop_after.is_some_and(|last| self.next > last);
            if stopped || self.next >= self.timeline.len() {
                self.record_finish();
                break;
            }
            if self.program.pending() >= MAX_PENDING_OPS
                || self.program.pending_samples() >= MAX_PENDING_SAMPLES
            {
                return Progress::Flush;
            }
            let (now, happening) = self.timeline.get(self.next);
            match self.handle(self.next, now, &happening) {
                Ok(()) => self.next += 1,
                Err(Blocked) => return Progress::Flush,
            }
        }
        match self.state {
            State::Done => Progress::Done,
            _ => Progress::Flush,
        }
    }

    /// Reads what the backend computed since the last call: checks it in
    /// recorded order, and ends the run when it diverged (in a replay, once its
    /// last evaluation is in) or its final evaluation is in.
    pub fn resolve(&mut self) {
        while let Some(&check) = self.checks.get(self.checked) {
            let failure = match check.what {
                Checked::Loss { step, loss } => match self.program.scalar(loss) {
                    None => break,
                    Some(v) if v.is_finite() => None,
                    Some(v) => Some(format!("the local loss at step {step} is {}", v as f32)),
                },
                Checked::Gap(gap) => match self.program.scalar(gap) {
                    None => break,
                    Some(v) if v.is_finite() => None,
                    Some(v) => Some(format!("the gap ‖x_i − x̃‖ is {v}")),
                },
                Checked::Evaluation(id) => match self.program.evaluation(id) {
                    None => break,
                    Some(e) => finite(&e).err(),
                },
            };
            self.checked += 1;
            if let (Some(what), None) = (failure, &self.divergence) {
                let divergence = Divergence {
                    strategy: self.settings.label.clone(),
                    seed: self.settings.seed,
                    round: check.round,
                    worker: check.worker,
                    what,
                };
                self.divergence = Some((check.happening, divergence));
                if self.stop_after.is_none() {
                    // The trainer has gone past the divergence; the run is replayed.
                    self.state = State::Done;
                    return;
                }
            }
        }
        if self.state == State::Finishing && self.checked == self.checks.len() {
            self.complete();
        }
    }

    /// The metrics and the divergence, if any.
    pub fn finish(self) -> (Vec<RoundMetrics>, Option<Divergence>) {
        let mut metrics: Vec<RoundMetrics> = Vec::with_capacity(self.rows.len());
        let cut = self.divergence.as_ref().map_or(usize::MAX, |(index, _)| *index);
        for row in self.rows.iter().filter(|r| r.happening < cut) {
            let mut m = row.metrics.clone();
            m.evaluation = self.program.evaluation(row.evaluation).expect("every recorded row was evaluated");
            metrics.push(m);
        }
        let mut divergence = self.divergence.map(|(_, d)| d);
        if let Some(FinalRow { mut row, evaluation, recorded }) = self.final_row {
            row.evaluation = self.program.evaluation(evaluation).expect("the final row was evaluated");
            if let Err(what) = finite(&row.evaluation) {
                if divergence.is_none() {
                    divergence = Some(Divergence {
                        strategy: self.settings.label.clone(),
                        seed: self.settings.seed,
                        round: row.round,
                        worker: None,
                        what,
                    });
                }
            } else if recorded {
                *metrics.last_mut().expect("the subset row was recorded") = row;
            } else {
                metrics.push(row);
            }
        }
        (metrics, divergence)
    }

    /// At the end of the timeline (or of a replay): the last round end's
    /// evaluation on the whole test set.
    fn record_finish(&mut self) {
        if let Some(Pending { slot, row, recorded }) = self.pending.take() {
            let evaluation = self.program.evaluate(Params::Slot(slot), TestSet::Full);
            self.program.release(slot);
            self.final_row = Some(FinalRow { row, evaluation, recorded });
        }
        self.state = State::Finishing;
    }

    fn complete(&mut self) {
        self.state = State::Done;
    }

    fn check(&mut self, what: Checked, happening: usize, worker: Option<u32>) {
        self.checks.push(Check { what, happening, round: self.round + 1, worker });
    }

    fn handle(&mut self, index: usize, now: SimTime, happening: &Happening) -> Result<(), Blocked> {
        match *happening {
            Happening::Step { worker, step } => self.local_step(index, worker, step),
            Happening::Send { worker, exchange } => {
                // Only a request the master will serve needs the parameters it carries.
                let slot = self.timeline.is_served(exchange).then(|| {
                    let slot = self.program.new_slot();
                    self.program.snapshot_worker(worker, slot);
                    slot
                });
                let entry = Exchange { slot, served: false, timed_out: false, reply: Reply::Pending };
                self.exchanges.insert(exchange, entry);
            }
            Happening::Update { worker, exchange, staleness, previous, timeouts } => {
                self.timeouts[worker as usize] = timeouts;
                let Some(slot) = self.exchanges.get(&exchange).and_then(|e| e.slot) else {
                    return Ok(());
                };
                let gaps = self.gaps(index, &[(worker, slot)])?;
                let (gap, weights) = self.decide(worker, gaps[0], staleness, previous, now);
                if self.reads.gap {
                    self.recent_gaps[worker as usize] = Some(gap);
                }
                self.program.master_update(slot, weights.master);
                self.updates += 1;
                self.served(exchange, Reply::Difference(weights.worker));
            }
            Happening::Barrier { participants, previous } => {
                self.barrier(index, now, participants, previous)?
            }
            Happening::Reply { worker, exchange } => {
                let entry = self.exchanges.get(&exchange).copied();
                match entry {
                    Some(Exchange { slot: Some(slot), reply: Reply::Difference(a_w), .. }) => {
                        self.program.apply_difference(worker, slot, a_w)
                    }
                    Some(Exchange { slot: Some(slot), reply: Reply::Adopt, .. }) => {
                        self.program.adopt(worker, slot)
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
                    let slot = self.program.new_slot();
                    self.program.snapshot_center(slot);
                    let entry =
                        Exchange { slot: Some(slot), served: true, timed_out: false, reply: Reply::Adopt };
                    self.exchanges.insert(exchange, entry);
                }
            }
            Happening::Fetched { worker, exchange } => {
                if let Some(slot) = self.exchanges.get(&exchange).and_then(|e| e.slot) {
                    self.program.adopt(worker, slot);
                }
                self.finish_exchange(exchange);
            }
            Happening::Crash { worker, .. } => self.down[worker as usize] = true,
            Happening::Recover { worker } => self.down[worker as usize] = false,
            Happening::RoundEnd { round } => self.round_end(index, round, now),
            Happening::Skip { .. } => {}
        }
        Ok(())
    }

    fn round_end(&mut self, index: usize, round: u64, now: SimTime) {
        let last = round == self.settings.last_round;
        let scheduled = last || round.is_multiple_of(self.settings.evaluate_every.max(1));
        let on = if self.settings.test_subset && !last { TestSet::Subset } else { TestSet::Full };
        // A row covers the updates since the previous row.
        let (sum, count) = self.round_weight;
        if scheduled {
            self.round_weight = (0.0, 0);
        }
        let row = RoundMetrics {
            round,
            time: now,
            evaluation: Evaluation { test_accuracy: f64::NAN, test_loss: f64::NAN, train_loss: f64::NAN },
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
                self.program.release(p.slot);
            }
        } else {
            let slot = previous.map_or_else(|| self.program.new_slot(), |p| p.slot);
            self.program.snapshot_center(slot);
            let full = RoundMetrics { test_set: TestSet::Full, ..row.clone() };
            self.pending = Some(Pending { slot, row: full, recorded: scheduled });
        }
        if scheduled {
            let evaluation = self.program.evaluate(Params::Center, on);
            self.check(Checked::Evaluation(evaluation), index, None);
            self.rows.push(Row { metrics: row, evaluation, happening: index });
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
        self.round_weight.0 += weights.master;
        self.round_weight.1 += 1;
        (gap, weights)
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
            self.program.release(slot);
        }
    }

    fn barrier(
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
        let k = u64::from(self.settings.workers);
        let mut decided = Vec::with_capacity(present.len());
        let mut gaps = Vec::with_capacity(present.len());
        for (&(i, worker, slot), &gap_id) in present.iter().zip(&gap_ids) {
            let w = worker as usize;
            // A barrier counts as k updates: present at every barrier ⇒ k − 1.
            let staleness = k * (self.barriers - self.last_barrier[w]) - 1;
            let (gap, weights) = self.decide(worker, gap_id, staleness, previous[i], now);
            self.last_barrier[w] = self.barriers;
            decided.push((slot, weights.master, weights.worker, participants[i].exchange));
            gaps.push((w, gap));
        }
        if self.reads.gap {
            for (w, gap) in gaps {
                self.recent_gaps[w] = Some(gap);
            }
        }
        let slots: Vec<(Slot, f64)> = decided.iter().map(|&(s, a_m, _, _)| (s, a_m)).collect();
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
