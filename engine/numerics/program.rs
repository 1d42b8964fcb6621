//! A run's recorded numerics: the operations the trainer asks for, in order, and
//! the scalars they produce, read back only after a backend executed them.
//!
//! The trainer never waits for a number it does not need now: it records local
//! steps, snapshots, gaps, master updates, barriers, replies and evaluations into
//! a [`Program`], each scalar-producing operation returning a [`ScalarId`]. A
//! backend executes the recorded operations (one run's, or many runs' at once) and
//! writes the scalars; after that flush the trainer reads them. Per resource (a
//! worker, the center, a slot) the backend must keep the recorded order.
//!
//! Slots (message buffers) are numbered by the program, which reuses released
//! numbers; a backend creates a slot's storage when it is first written.
//!
//! Every recorded operation is folded into a running FNV-1a fingerprint
//! ([`Program::fingerprint`]), so a test can pin a run's whole program like the
//! event log's hash pins its timing.

use std::ops::Range;
use std::sync::Arc;

use crate::numerics::backend::{Evaluation, TestSet};
use crate::numerics::weigh::RatioRule;

/// A message buffer of one run.
pub type Slot = usize;

/// A scalar a recorded operation produces (its index among the run's scalars).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScalarId(pub u32);

/// The three scalars of an evaluation: test accuracy, test loss, training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvaluationId(pub ScalarId);

/// A weight of an exchange: decided as the run was recorded, or a scalar a
/// `Weigh` operation computes on the backend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Weight {
    /// Known when recorded.
    Value(f64),
    /// Computed by an earlier `Weigh` of the same run.
    Scalar(ScalarId),
}

impl From<f64> for Weight {
    fn from(value: f64) -> Self {
        Weight::Value(value)
    }
}

/// Which parameters an evaluation measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Params {
    /// The center.
    Center,
    /// A slot (a snapshot of the center).
    Slot(Slot),
}

/// One recorded operation. Variable-length operands (a minibatch, probe keys,
/// barrier parts) are ranges into the program's side tables.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// One local optimizer step of a worker; `loss` ← the minibatch loss before it.
    LocalStep {
        /// The worker.
        worker: u32,
        /// Its optimizer step t (1-based).
        step: u64,
        /// The minibatch's sample indices, in [`Program::indices`].
        batch: Range<u32>,
        /// Hutchinson probe keys (empty unless this step refreshes the Hessian
        /// diagonal), in [`Program::keys`].
        probes: Range<u32>,
        /// Where the loss goes.
        loss: ScalarId,
    },
    /// slot ← x_worker.
    SnapshotWorker {
        /// The worker.
        worker: u32,
        /// The slot.
        slot: Slot,
    },
    /// slot ← x̃.
    SnapshotCenter {
        /// The slot.
        slot: Slot,
    },
    /// out ← ‖slot − x̃‖₂ (squares summed in f64, in element order).
    Gap {
        /// The slot.
        slot: Slot,
        /// Where the gap goes.
        out: ScalarId,
    },
    /// The weights of exchanges decided together (one, or a barrier's
    /// participants) by the program's [`RatioRule`]: each against the run's
    /// recent gaps as they were before any of them, which then become theirs.
    /// Part i's (a_m, a_w) go to scalars `out + 2i` and `out + 2i + 1`.
    Weigh {
        /// (worker, slot, gap) per part, in [`Program::weighed`]; the gap is a
        /// scalar computed earlier from that slot.
        parts: Range<u32>,
        /// α.
        alpha: f64,
        /// The first of the 2·parts scalars.
        out: ScalarId,
    },
    /// Asynchronous EASGD at the master: e = slot − x̃; x̃ ← x̃ + a_m·e; slot ← e.
    MasterUpdate {
        /// The slot.
        slot: Slot,
        /// a_m.
        a_m: Weight,
    },
    /// Synchronous EASGD: every e_i = slot_i − x̃ against the same x̃, then
    /// x̃ ← x̃ + Σ a_m,i·e_i in part order and slot_i ← e_i.
    BarrierUpdate {
        /// (slot, a_m) pairs in [`Program::parts`].
        parts: Range<u32>,
    },
    /// Synchronous averaging: x̃ ← Σ w_i·slot_i / Σ w_i (unchanged if Σ w_i = 0),
    /// then every slot_i ← x̃.
    BarrierAverage {
        /// (slot, w) pairs in [`Program::parts`].
        parts: Range<u32>,
    },
    /// At the worker: x ← x − a_w·slot (the slot holds e).
    ApplyDifference {
        /// The worker.
        worker: u32,
        /// The slot.
        slot: Slot,
        /// a_w.
        a_w: Weight,
    },
    /// At the worker: x ← slot.
    Adopt {
        /// The worker.
        worker: u32,
        /// The slot.
        slot: Slot,
    },
    /// out ← the evaluation of `params` on `on` (and of the training loss on the
    /// fixed training sample).
    Evaluate {
        /// What is evaluated.
        params: Params,
        /// Which test samples.
        on: TestSet,
        /// Where the three scalars go.
        out: EvaluationId,
    },
    /// The slot's contents are no longer needed (its number may be reused).
    Release {
        /// The slot.
        slot: Slot,
    },
}

/// The operations of one run not yet executed, and every scalar it produced so far.
#[derive(Clone, Debug)]
pub struct Program {
    ops: Vec<Op>,
    indices: Vec<u32>,
    keys: Vec<u32>,
    parts: Vec<(Slot, Weight)>,
    weighed: Vec<(u32, Slot, ScalarId)>,
    /// What `Weigh` operations evaluate.
    rule: Option<Arc<dyn RatioRule>>,
    /// Every scalar of the run; those at or past `known` are not computed yet.
    scalars: Vec<f64>,
    known: usize,
    slots: usize,
    free_slots: Vec<Slot>,
    fingerprint: u64,
    recorded: u64,
}

impl Default for Program {
    fn default() -> Self {
        Self::new()
    }
}

use crate::fingerprint::{self, FNV_OFFSET};

impl Program {
    /// An empty program.
    pub fn new() -> Self {
        Program {
            ops: Vec::new(),
            indices: Vec::new(),
            keys: Vec::new(),
            parts: Vec::new(),
            weighed: Vec::new(),
            rule: None,
            scalars: Vec::new(),
            known: 0,
            slots: 0,
            free_slots: Vec::new(),
            fingerprint: FNV_OFFSET,
            recorded: 0,
        }
    }

    /// The same program, its `Weigh` operations evaluating `rule`.
    pub fn with_rule(mut self, rule: Arc<dyn RatioRule>) -> Self {
        self.rule = Some(rule);
        self
    }

    /// What its `Weigh` operations evaluate, if it records any.
    pub fn rule(&self) -> Option<&Arc<dyn RatioRule>> {
        self.rule.as_ref()
    }

    // ----- recording -----

    /// A slot number not in use (a released one when there is one).
    pub fn new_slot(&mut self) -> Slot {
        self.free_slots.pop().unwrap_or_else(|| {
            self.slots += 1;
            self.slots - 1
        })
    }

    /// Records that `slot` is no longer needed and frees its number.
    pub fn release(&mut self, slot: Slot) {
        self.push(Op::Release { slot });
        self.free_slots.push(slot);
    }

    /// Records a local step; its loss is the returned scalar.
    pub fn local_step(&mut self, worker: u32, step: u64, batch: &[u32], probe_keys: &[u32]) -> ScalarId {
        let batch = extend(&mut self.indices, batch);
        let probes = extend(&mut self.keys, probe_keys);
        let loss = self.new_scalars(1);
        self.push(Op::LocalStep { worker, step, batch, probes, loss });
        loss
    }

    /// Records slot ← x_worker.
    pub fn snapshot_worker(&mut self, worker: u32, slot: Slot) {
        self.push(Op::SnapshotWorker { worker, slot });
    }

    /// Records slot ← x̃.
    pub fn snapshot_center(&mut self, slot: Slot) {
        self.push(Op::SnapshotCenter { slot });
    }

    /// Records ‖slot − x̃‖₂.
    pub fn gap(&mut self, slot: Slot) -> ScalarId {
        let out = self.new_scalars(1);
        self.push(Op::Gap { slot, out });
        out
    }

    /// Records the weighing of (worker, slot, gap) parts by the program's rule;
    /// returns each part's (a_m, a_w).
    pub fn weigh(&mut self, parts: &[(u32, Slot, ScalarId)], alpha: f64) -> Vec<(Weight, Weight)> {
        assert!(self.rule.is_some(), "a program weighs only with a rule");
        let out = self.new_scalars(2 * parts.len());
        let parts = extend(&mut self.weighed, parts);
        self.push(Op::Weigh { parts: parts.clone(), alpha, out });
        (0..parts.len() as u32)
            .map(|i| (Weight::Scalar(ScalarId(out.0 + 2 * i)), Weight::Scalar(ScalarId(out.0 + 2 * i + 1))))
            .collect()
    }

    /// Records an asynchronous master update.
    pub fn master_update(&mut self, slot: Slot, a_m: impl Into<Weight>) {
        self.push(Op::MasterUpdate { slot, a_m: a_m.into() });
    }

    /// Records a synchronous EASGD barrier over (slot, a_m) parts.
    pub fn barrier_update(&mut self, parts: &[(Slot, Weight)]) {
        let parts = extend(&mut self.parts, parts);
        self.push(Op::BarrierUpdate { parts });
    }

    /// Records a synchronous averaging barrier over (slot, weight) parts.
    pub fn barrier_average(&mut self, parts: &[(Slot, Weight)]) {
        let parts = extend(&mut self.parts, parts);
        self.push(Op::BarrierAverage { parts });
    }

    /// Records x_worker ← x_worker − a_w·slot.
    pub fn apply_difference(&mut self, worker: u32, slot: Slot, a_w: impl Into<Weight>) {
        self.push(Op::ApplyDifference { worker, slot, a_w: a_w.into() });
    }

    /// Records x_worker ← slot.
    pub fn adopt(&mut self, worker: u32, slot: Slot) {
        self.push(Op::Adopt { worker, slot });
    }

    /// Records an evaluation.
    pub fn evaluate(&mut self, params: Params, on: TestSet) -> EvaluationId {
        let out = EvaluationId(self.new_scalars(3));
        self.push(Op::Evaluate { params, on, out });
        out
    }

    // ----- reading results -----

    /// A weight's value, once known.
    pub fn weight(&self, weight: Weight) -> Option<f64> {
        match weight {
            Weight::Value(v) => Some(v),
            Weight::Scalar(id) => self.scalar(id),
        }
    }

    /// The scalar's value, once a backend computed it.
    pub fn scalar(&self, id: ScalarId) -> Option<f64> {
        ((id.0 as usize) < self.known).then(|| self.scalars[id.0 as usize])
    }

    /// The evaluation, once a backend computed it.
    pub fn evaluation(&self, id: EvaluationId) -> Option<Evaluation> {
        let base = id.0.0 as usize;
        (base + 2 < self.known).then(|| Evaluation {
            test_accuracy: self.scalars[base],
            test_loss: self.scalars[base + 1],
            train_loss: self.scalars[base + 2],
        })
    }

    /// Operations recorded and not yet executed.
    pub fn pending(&self) -> usize {
        self.ops.len()
    }

    /// Samples referenced by the pending local steps.
    pub fn pending_samples(&self) -> usize {
        self.indices.len()
    }

    /// A fingerprint of every operation recorded so far (kinds, operands, weights
    /// to the bit), to catch accidental changes to what a run computes.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Operations recorded so far, executed or not.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    // ----- execution (backends) -----

    /// The pending operations, in recorded order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// A local step's sample indices.
    pub fn indices(&self, range: &Range<u32>) -> &[u32] {
        &self.indices[range.start as usize..range.end as usize]
    }

    /// A local step's probe keys.
    pub fn keys(&self, range: &Range<u32>) -> &[u32] {
        &self.keys[range.start as usize..range.end as usize]
    }

    /// A barrier's (slot, weight) parts.
    pub fn parts(&self, range: &Range<u32>) -> &[(Slot, Weight)] {
        &self.parts[range.start as usize..range.end as usize]
    }

    /// A weighing's (worker, slot, gap) parts.
    pub fn weighed(&self, range: &Range<u32>) -> &[(u32, Slot, ScalarId)] {
        &self.weighed[range.start as usize..range.end as usize]
    }

    /// A scalar this flush computed or an earlier one did (a backend, while
    /// executing: for an operation that reads what an earlier one wrote).
    pub fn computed(&self, id: ScalarId) -> f64 {
        self.scalars[id.0 as usize]
    }

    /// A weight's value while executing (see [`Program::computed`]).
    pub fn weight_now(&self, weight: Weight) -> f64 {
        match weight {
            Weight::Value(v) => v,
            Weight::Scalar(id) => self.computed(id),
        }
    }

    /// Writes a scalar (a backend, while executing).
    pub fn set_scalar(&mut self, id: ScalarId, value: f64) {
        self.scalars[id.0 as usize] = value;
    }

    /// Writes an evaluation's three scalars (a backend, while executing).
    pub fn set_evaluation(&mut self, id: EvaluationId, evaluation: Evaluation) {
        let base = id.0.0 as usize;
        self.scalars[base] = evaluation.test_accuracy;
        self.scalars[base + 1] = evaluation.test_loss;
        self.scalars[base + 2] = evaluation.train_loss;
    }

    /// Marks everything pending as executed: its scalars become readable.
    pub fn executed(&mut self) {
        self.ops.clear();
        self.indices.clear();
        self.keys.clear();
        self.parts.clear();
        self.weighed.clear();
        self.known = self.scalars.len();
    }

    fn new_scalars(&mut self, count: usize) -> ScalarId {
        let id = ScalarId(u32::try_from(self.scalars.len()).expect("fewer than 2^32 scalars per run"));
        self.scalars.resize(self.scalars.len() + count, f64::NAN);
        id
    }

    fn push(&mut self, op: Op) {
        self.fold(&op);
        self.recorded += 1;
        self.ops.push(op);
    }

    /// Folds an operation, with its side-table operands, into the fingerprint.
    fn fold(&mut self, op: &Op) {
        let mut words: Vec<u64> = Vec::with_capacity(8);
        match op {
            Op::LocalStep { worker, step, batch, probes, loss } => {
                words.extend([1, u64::from(*worker), *step, u64::from(loss.0)]);
                words.extend(self.indices(batch).iter().map(|&i| u64::from(i)));
                words.push(u64::MAX);
                words.extend(self.keys(probes).iter().map(|&k| u64::from(k)));
            }
            Op::SnapshotWorker { worker, slot } => words.extend([2, u64::from(*worker), *slot as u64]),
            Op::SnapshotCenter { slot } => words.extend([3, *slot as u64]),
            Op::Gap { slot, out } => words.extend([4, *slot as u64, u64::from(out.0)]),
            Op::Weigh { parts, alpha, out } => {
                words.extend([12, alpha.to_bits(), u64::from(out.0)]);
                for &(worker, slot, gap) in self.weighed(parts) {
                    words.extend([u64::from(worker), slot as u64, u64::from(gap.0)]);
                }
            }
            Op::MasterUpdate { slot, a_m } => words.extend([5, *slot as u64, bits(*a_m)]),
            Op::BarrierUpdate { parts } | Op::BarrierAverage { parts } => {
                words.push(if matches!(op, Op::BarrierUpdate { .. }) { 6 } else { 7 });
                for &(slot, w) in self.parts(parts) {
                    words.extend([slot as u64, bits(w)]);
                }
            }
            Op::ApplyDifference { worker, slot, a_w } => {
                words.extend([8, u64::from(*worker), *slot as u64, bits(*a_w)])
            }
            Op::Adopt { worker, slot } => words.extend([9, u64::from(*worker), *slot as u64]),
            Op::Evaluate { params, on, out } => {
                let what = match params {
                    Params::Center => u64::MAX,
                    Params::Slot(s) => *s as u64,
                };
                words.extend([10, what, *on as u64, u64::from(out.0.0)]);
            }
            Op::Release { slot } => words.extend([11, *slot as u64]),
        }
        for word in words {
            self.fingerprint = fingerprint::extend(self.fingerprint, &word.to_le_bytes());
        }
    }
}

/// A weight as a fingerprint word: a value's bits (as before weights could be
/// scalars, so fingerprints of runs that weigh on the host did not move), a
/// scalar's number marked apart.
fn bits(weight: Weight) -> u64 {
    match weight {
        Weight::Value(v) => v.to_bits(),
        Weight::Scalar(id) => (0xFFF0_0000_u64 << 32) | u64::from(id.0),
    }
}

/// Appends `items` to a side table and returns where they are.
fn extend<T: Copy>(table: &mut Vec<T>, items: &[T]) -> Range<u32> {
    let start = table.len() as u32;
    table.extend_from_slice(items);
    start..table.len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_readable_only_after_execution() {
        let mut program = Program::new();
        let slot = program.new_slot();
        program.snapshot_center(slot);
        let gap = program.gap(slot);
        let eval = program.evaluate(Params::Slot(slot), TestSet::Full);
        assert_eq!(program.scalar(gap), None);
        program.set_scalar(gap, 2.5);
        let e = Evaluation { test_accuracy: 0.5, test_loss: 1.0, train_loss: 2.0 };
        program.set_evaluation(eval, e);
        assert_eq!(program.scalar(gap), None, "not before the flush ends");
        program.executed();
        assert_eq!(program.scalar(gap), Some(2.5));
        assert_eq!(program.evaluation(eval), Some(e));
        assert_eq!(program.pending(), 0);
    }

    #[test]
    fn released_slots_are_reused_and_the_fingerprint_sees_operands() {
        let mut a = Program::new();
        let s0 = a.new_slot();
        let s1 = a.new_slot();
        a.release(s0);
        assert_eq!(a.new_slot(), s0);
        assert_ne!(s0, s1);
        let mut b = Program::new();
        b.master_update(0, Weight::Value(0.25));
        let mut c = Program::new();
        c.master_update(0, Weight::Value(0.25000000000000006));
        assert_ne!(b.fingerprint(), c.fingerprint());
    }
}
