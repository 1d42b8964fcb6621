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
//!
//! The [`Trainer`] is defined here; `happenings` records each happening,
//! `updates` the master's weighted updates and barriers, and `checks` reads back
//! what the backend computed.

pub mod driver;
pub mod experiment;
pub mod timeline;
pub mod together;

mod checks;
mod happenings;
mod updates;

use std::collections::BTreeMap;
use std::fmt;

use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::data::Sampler;
use crate::numerics::backend::{Evaluation, RunId, TestSet};
use crate::numerics::program::{EvaluationId, Program, ScalarId, Slot, Weight};
use crate::scenario::{Coupling, Optimizer};
use crate::timing::disruptions::Disruptions;
use crate::weighting::{Reads, WeightingStrategy};
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
    Difference(Weight),
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
    /// The a_m the row's mean weight averages.
    weights: Vec<Weight>,
    /// Whether the metrics already end with this round's subset row.
    recorded: bool,
}

/// A metrics row whose evaluation is recorded.
#[derive(Clone, Debug)]
struct Row {
    metrics: RoundMetrics,
    evaluation: EvaluationId,
    /// The a_m its mean weight averages (some computed on the backend).
    weights: Vec<Weight>,
    /// The happening (a round end) that recorded it.
    happening: usize,
}

/// The end of the run: the pending round end's evaluation on the whole test set.
#[derive(Clone, Debug)]
struct FinalRow {
    row: RoundMetrics,
    evaluation: EvaluationId,
    weights: Vec<Weight>,
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
    /// Every a_m since the previous metrics row, in order.
    round_weights: Vec<Weight>,
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
        // A strategy whose rule the backend evaluates reads no gap on the host.
        let (program, reads) = match strategy.ratio_rule() {
            Some(rule) => (Program::new().with_rule(rule), Reads { gap: false, ..strategy.reads() }),
            None => (Program::new(), strategy.reads()),
        };
        Trainer {
            timeline,
            next: 0,
            stop_after: None,
            run,
            program,
            state: State::Running,
            reads,
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
            round_weights: Vec::new(),
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
}
