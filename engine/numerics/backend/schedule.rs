//! The order a flush executes its work in: every resource's operations in
//! their recorded order, and as many local steps as possible together, in waves
//! (one batched pass on the GPU; spread over threads on the CPU).
//!
//! A resource is a worker's state, a message slot or the center of one run. An
//! operation is ready once the operations recorded before it on each of its
//! resources are done. The schedule runs every ready operation but local steps
//! at once, as a group (ready operations share no resource, so a backend may run
//! a group's operations in any order, or together), then those that became
//! ready, until none is left; then all ready local steps at once, as waves; and
//! so on. Deferring steps while anything else can go lets a run's
//! workers, whose exchanges pass through the center one by one, step together,
//! and the steps of every run of the flush with them. Each operation computes
//! the same bits wherever it lands, so how runs are grouped never shows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::numerics::backend::{Op, Params, Program};

/// One operation of one run: indices into the flush's work and the run's ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::numerics::backend) struct At {
    /// The run's index in the flush.
    pub run: usize,
    /// The operation's index in its program.
    pub op: usize,
}

/// What a flush records, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::numerics::backend) enum Stage {
    /// Operations other than local steps, ready together (so sharing no
    /// resource), in flush order.
    Singles(Vec<At>),
    /// Local steps of equal minibatch rows and probe count, of different (run,
    /// worker) pairs, in flush order.
    Wave { steps: Vec<At>, rows: usize, probes: usize },
}

/// What an operation reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Resource {
    Worker(u32),
    Slot(usize),
    Center,
    /// The run's recent gaps, which every `Weigh` reads and updates.
    RecentGaps,
}

fn resources(program: &Program, op: &Op) -> Vec<Resource> {
    use Resource::{Center, Slot, Worker};
    match op {
        Op::LocalStep { worker, .. } => vec![Worker(*worker)],
        Op::SnapshotWorker { worker, slot }
        | Op::ApplyDifference { worker, slot, .. }
        | Op::Adopt { worker, slot } => vec![Worker(*worker), Slot(*slot)],
        Op::SnapshotCenter { slot } | Op::Gap { slot, .. } | Op::MasterUpdate { slot, .. } => {
            vec![Center, Slot(*slot)]
        }
        Op::BarrierUpdate { parts } | Op::BarrierAverage { parts } => {
            std::iter::once(Center).chain(program.parts(parts).iter().map(|&(s, _)| Slot(s))).collect()
        }
        // Its slots order it after their gaps and before what reads its weights
        // (the slot's update, then the reply that applies it).
        Op::Weigh { parts, .. } => std::iter::once(Resource::RecentGaps)
            .chain(program.weighed(parts).iter().map(|&(_, s, _)| Slot(s)))
            .collect(),
        Op::Evaluate { params: Params::Center, .. } => vec![Center],
        Op::Evaluate { params: Params::Slot(slot), .. } | Op::Release { slot } => vec![Slot(*slot)],
    }
}

/// Per operation of `program`: how many earlier operations it waits for (the
/// last one on each of its resources), and which later ones wait for it.
fn dependencies(program: &Program) -> (Vec<usize>, Vec<Vec<usize>>) {
    let ops = program.ops();
    let mut last: HashMap<Resource, usize> = HashMap::new();
    let mut waits = vec![0; ops.len()];
    let mut unblocks = vec![Vec::new(); ops.len()];
    for (index, op) in ops.iter().enumerate() {
        let before: BTreeSet<usize> =
            resources(program, op).into_iter().filter_map(|r| last.insert(r, index)).collect();
        waits[index] = before.len();
        for b in before {
            unblocks[b].push(index);
        }
    }
    (waits, unblocks)
}

/// The stages of a flush of `programs`, waves of at most `max_wave` steps.
pub(in crate::numerics::backend) fn stages(programs: &[&Program], max_wave: usize) -> Vec<Stage> {
    let (mut waits, unblocks): (Vec<Vec<usize>>, Vec<Vec<Vec<usize>>>) =
        programs.iter().map(|p| dependencies(p)).unzip();
    let is_step = |at: At| matches!(programs[at.run].ops()[at.op], Op::LocalStep { .. });
    let mut singles = BTreeSet::new();
    let mut steps = BTreeSet::new();
    for (run, waits) in waits.iter().enumerate() {
        for op in (0..waits.len()).filter(|&op| waits[op] == 0) {
            let at = At { run, op };
            if is_step(at) {
                steps.insert(at)
            } else {
                singles.insert(at)
            };
        }
    }
    let mut done = |at: At, singles: &mut BTreeSet<At>, steps: &mut BTreeSet<At>| {
        for &op in &unblocks[at.run][at.op] {
            waits[at.run][op] -= 1;
            if waits[at.run][op] == 0 {
                let next = At { run: at.run, op };
                if is_step(next) {
                    steps.insert(next)
                } else {
                    singles.insert(next)
                };
            }
        }
    };
    let mut stages = Vec::new();
    loop {
        while !singles.is_empty() {
            let group: Vec<At> = std::mem::take(&mut singles).into_iter().collect();
            for &at in &group {
                done(at, &mut singles, &mut steps);
            }
            stages.push(Stage::Singles(group));
        }
        if steps.is_empty() {
            break;
        }
        let mut waves: BTreeMap<(usize, usize), Vec<At>> = BTreeMap::new();
        for at in std::mem::take(&mut steps) {
            if let Op::LocalStep { batch, probes, .. } = &programs[at.run].ops()[at.op] {
                waves.entry((batch.len(), probes.len())).or_default().push(at);
            }
        }
        for ((rows, probes), ready) in waves {
            for chunk in ready.chunks(max_wave.max(1)) {
                stages.push(Stage::Wave { steps: chunk.to_vec(), rows, probes });
            }
            for at in ready {
                done(at, &mut singles, &mut steps);
            }
        }
    }
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two workers stepping twice, a snapshot and a master update in between.
    fn program() -> Program {
        let mut p = Program::default();
        p.local_step(0, 1, &[1, 2], &[7]);
        p.local_step(1, 1, &[3, 4], &[]);
        p.local_step(0, 2, &[5, 6], &[]);
        p.snapshot_worker(0, 0);
        p.master_update(0, crate::numerics::program::Weight::Value(0.5));
        p.local_step(1, 2, &[7, 8], &[]);
        p
    }

    #[test]
    fn steps_wait_for_everything_else_and_then_go_together_across_runs() {
        let (a, b) = (program(), program());
        let stages = stages(&[&a, &b], 8);
        let at = |run, op| At { run, op };
        assert_eq!(
            stages,
            vec![
                // Both workers' first steps of both runs, by shape.
                Stage::Wave { steps: vec![at(0, 1), at(1, 1)], rows: 2, probes: 0 },
                Stage::Wave { steps: vec![at(0, 0), at(1, 0)], rows: 2, probes: 1 },
                // Worker 0's second steps and worker 1's, though recorded apart.
                Stage::Wave { steps: vec![at(0, 2), at(0, 5), at(1, 2), at(1, 5)], rows: 2, probes: 0 },
                // Worker 0's snapshots, then the master updates that read them,
                // each group across both runs.
                Stage::Singles(vec![at(0, 3), at(1, 3)]),
                Stage::Singles(vec![at(0, 4), at(1, 4)]),
            ]
        );
    }

    #[test]
    fn every_resource_keeps_its_recorded_order() {
        // A chain through the center: worker 1's step waits for its own adopt,
        // which waits for worker 0's update of the center.
        let mut p = Program::default();
        p.local_step(0, 1, &[1], &[]);
        p.snapshot_worker(0, 0);
        p.master_update(0, crate::numerics::program::Weight::Value(0.5));
        p.snapshot_center(1);
        p.adopt(1, 1);
        p.local_step(1, 1, &[2], &[]);
        let stages = stages(&[&p], 8);
        let order: Vec<usize> = stages
            .iter()
            .flat_map(|s| match s {
                Stage::Singles(group) => group.iter().map(|at| at.op).collect::<Vec<_>>(),
                Stage::Wave { steps, .. } => steps.iter().map(|at| at.op).collect(),
            })
            .collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_groups_operations_share_no_resource() {
        // Two runs of workers exchanging through their centers, every ready
        // operation grouped: no two of a group may touch the same state.
        let mut p = Program::default();
        for worker in 0..3 {
            p.local_step(worker, 1, &[worker], &[]);
            p.snapshot_worker(worker, worker as usize);
            p.master_update(worker as usize, crate::numerics::program::Weight::Value(0.5));
            p.apply_difference(worker, worker as usize, crate::numerics::program::Weight::Value(0.5));
            p.snapshot_center(3 + worker as usize);
            p.adopt(worker, 3 + worker as usize);
        }
        let programs = [&p, &p.clone()];
        let stages = stages(&programs, 8);
        let mut groups = 0;
        for stage in &stages {
            if let Stage::Singles(group) = stage {
                groups += 1;
                let mut seen = std::collections::HashSet::new();
                for at in group {
                    for resource in resources(programs[at.run], &programs[at.run].ops()[at.op]) {
                        assert!(seen.insert((at.run, resource)), "{resource:?} twice in {group:?}");
                    }
                }
            }
        }
        // Each run's exchanges chain through its center, the two runs side by side.
        let singles: usize = stages.iter().map(|s| if let Stage::Singles(g) = s { g.len() } else { 0 }).sum();
        assert_eq!(singles, 2 * 15);
        assert!(groups < singles / 2, "{groups} groups of {singles} operations");
    }

    #[test]
    fn waves_never_exceed_their_limit() {
        let (a, b) = (program(), program());
        let stages = stages(&[&a, &b], 3);
        let longest =
            stages.iter().map(|s| if let Stage::Wave { steps, .. } = s { steps.len() } else { 0 }).max();
        assert_eq!(longest, Some(3));
        let steps: usize =
            stages.iter().map(|s| if let Stage::Wave { steps, .. } = s { steps.len() } else { 0 }).sum();
        assert_eq!(steps, 8);
    }
}
