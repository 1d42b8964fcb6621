//! Laying out a flush: the order of its stages, where each operation's table
//! words and results go, and the room the scratch buffers and slots must have.

use std::collections::HashMap;

use super::record::batch_of;
use super::scratch::Capacity;
use super::{EVAL_CHUNK, GpuBackend};
use crate::numerics::backend::schedule::{self, At, Stage};
use crate::numerics::backend::{Op, Params, Program, RunId, ScalarId};
use crate::numerics::gpu::reduce::partials_per_pair;

/// Where an operation's (or a wave's) operands and results go in the flush's
/// tables.
#[derive(Clone, Copy, Default)]
pub(super) struct Place {
    /// Its words in the table (a wave: every step's batch indices, then every
    /// step's probe keys; a gap: its pair).
    pub(super) table: usize,
    /// Its first word in the results (a wave: step p's loss at + 2p).
    pub(super) results: usize,
}

/// A flush's layout (see [`GpuBackend::plan`]).
#[derive(Default)]
pub(super) struct Plan {
    /// What to record, in order, and where each stage's words go.
    pub(super) stages: Vec<(Stage, Place)>,
    /// Per run, per op (a wave's step: its loss's word).
    pub(super) places: Vec<Vec<Place>>,
    /// Per run, where this flush puts the scalars later operations of the
    /// flush read on the device: a gap's first partial, a weight.
    pub(super) located: Vec<HashMap<ScalarId, usize>>,
    pub(super) table: Vec<u32>,
    pub(super) results: usize,
    pub(super) capacity: Capacity,
}

impl GpuBackend<'_> {
    /// Lays out the flush: its stages, each stage's table words and results,
    /// the table itself, and what the scratch and the slots must hold.
    pub(super) fn plan(&self, work: &[(RunId, &mut Program)]) -> Plan {
        let programs: Vec<&Program> = work.iter().map(|(_, p)| &**p).collect();
        let mut plan = Plan {
            places: programs.iter().map(|p| vec![Place::default(); p.ops().len()]).collect(),
            located: vec![HashMap::new(); programs.len()],
            ..Plan::default()
        };
        for mut stage in schedule::stages(&programs, self.max_wave) {
            let place = Place { table: plan.table.len(), results: plan.results };
            match &mut stage {
                Stage::Singles(group) => {
                    // Operations that can share a dispatch side by side, so that
                    // a stretch of gaps has its pairs and partials in a row.
                    group.sort_by_key(|at| {
                        let op = &programs[at.run].ops()[at.op];
                        (batch_of(op, self.run(work[at.run].0)), *at)
                    });
                    for at in group.iter() {
                        self.place_single(&mut plan, work, *at);
                    }
                }
                Stage::Wave { steps, rows, probes } => {
                    let count = steps.len();
                    for at in steps.iter() {
                        if let Op::LocalStep { batch, .. } = &programs[at.run].ops()[at.op] {
                            plan.table.extend_from_slice(programs[at.run].indices(batch));
                        }
                    }
                    for at in steps.iter() {
                        if let Op::LocalStep { probes, .. } = &programs[at.run].ops()[at.op] {
                            plan.table.extend_from_slice(programs[at.run].keys(probes));
                        }
                    }
                    for (p, at) in steps.iter().enumerate() {
                        plan.places[at.run][at.op] = Place { results: place.results + 2 * p, ..place };
                    }
                    plan.results += 2 * count;
                    let needs = Capacity { rows: *rows * count, steps: count, probes: *probes * count };
                    plan.capacity = plan.capacity.max(needs);
                }
            }
            plan.stages.push((stage, place));
        }
        plan
    }

    /// Places the operation `at`, not a local step, at the end of the plan's
    /// table and results so far.
    fn place_single(&self, plan: &mut Plan, work: &[(RunId, &mut Program)], at: At) {
        let place = Place { table: plan.table.len(), results: plan.results };
        match &work[at.run].1.ops()[at.op] {
            Op::Gap { slot, out } => {
                let run = self.run(work[at.run].0);
                let pair = [run.slots.at + slot * self.n, run.center.at];
                plan.table.extend(pair.map(|offset| offset as u32));
                plan.located[at.run].insert(*out, plan.results);
                plan.results += partials_per_pair(self.n);
            }
            Op::Weigh { parts, out, .. } => {
                for i in 0..2 * parts.len() as u32 {
                    plan.located[at.run].insert(ScalarId(out.0 + i), plan.results + i as usize);
                }
                plan.results += 2 * parts.len();
            }
            Op::Evaluate { on, .. } => {
                let (_, data) = self.run_data(work[at.run].0);
                let (test, train) = (data.test_set(*on), &data.train_eval);
                let rows = test.rows.max(train.rows);
                plan.capacity = plan.capacity.max(Capacity { rows, ..Capacity::default() });
                plan.results += 2 * (test.rows.div_ceil(EVAL_CHUNK) + train.rows.div_ceil(EVAL_CHUNK));
            }
            _ => {}
        }
        plan.places[at.run][at.op] = place;
    }
}

/// The slots `program` refers to: one more than the highest.
pub(super) fn slots_needed(program: &Program) -> usize {
    let mut slots = 0;
    for op in program.ops() {
        match op {
            Op::LocalStep { .. } | Op::Evaluate { params: Params::Center, .. } => {}
            Op::Weigh { parts, .. } => {
                for &(_, slot, _) in program.weighed(parts) {
                    slots = slots.max(slot + 1);
                }
            }
            Op::Evaluate { params: Params::Slot(slot), .. }
            | Op::Gap { slot, .. }
            | Op::SnapshotWorker { slot, .. }
            | Op::SnapshotCenter { slot }
            | Op::MasterUpdate { slot, .. }
            | Op::ApplyDifference { slot, .. }
            | Op::Adopt { slot, .. }
            | Op::Release { slot } => slots = slots.max(slot + 1),
            Op::BarrierUpdate { parts } | Op::BarrierAverage { parts } => {
                for &(slot, _) in program.parts(parts) {
                    slots = slots.max(slot + 1);
                }
            }
        }
    }
    slots
}
