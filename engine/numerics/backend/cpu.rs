//! The CPU reference backend: plain Rust, `f32`, every buffer a `Vec`.
//!
//! Runs are independent; [`CpuBackend::execute`] executes each run's program in
//! order, one operation at a time. Scratch buffers (activations, gradient, the
//! gathered minibatch) are shared by the runs, since execution is sequential.
//!
//! With more than one thread ([`CpuBackend::with_threads`]), a flush is executed
//! in the GPU backend's order instead (see `schedule.rs`): every resource's
//! operations in their recorded order, and the ready local steps of all workers
//! together, spread over the threads, each with its own scratch. A step reads
//! and writes only its worker's state, so where and beside what it runs never
//! changes a bit (tested against one thread).

use std::ops::Range;

use super::schedule::{self, At, Stage};
use super::{Backend, BackendError, Evaluation, Op, Params, Program, RunId, ScalarId, Slot, TestSet};
use crate::data::SplitData;
use crate::numerics::config::Optimizer;
use crate::numerics::model::{Mlp, Workspace, accuracy_and_loss, gradient, gradient_and_hutchinson};
use crate::numerics::optim::LocalOptimizer;
use crate::numerics::weigh::weigh_together;

/// Parameters × minibatch rows below which a local step is not spread over
/// threads (the paper's 784-256-256-10 at batch 128 is 30 M; the quickstart's
/// model well under 1 M).
const MIN_THREADED_WORK: usize = 4 << 20;

/// Rows evaluated per forward pass when measuring the center.
const EVAL_CHUNK: usize = 512;

/// Training state on the CPU.
#[derive(Debug)]
pub struct CpuBackend<'d> {
    mlp: Mlp,
    optimizer: Optimizer,
    /// Minibatch rows of a local step.
    batch: usize,
    runs: Vec<Option<CpuRun<'d>>>,
    scratch: Scratch,
    /// One more scratch per thread beyond the first, for waves of local steps.
    more: Vec<Scratch>,
}

/// One run's state.
#[derive(Debug)]
struct CpuRun<'d> {
    data: &'d SplitData,
    workers: Vec<Vec<f32>>,
    optimizers: Vec<LocalOptimizer>,
    center: Vec<f32>,
    /// Indexed by slot number; a slot's storage appears when it is first written.
    slots: Vec<Vec<f32>>,
    /// Each worker's most recent weighed gap, for `Weigh`.
    recent_gaps: Vec<Option<f64>>,
}

/// Buffers every run's operations use in turn.
#[derive(Debug)]
struct Scratch {
    workspace: Workspace<f32>,
    eval_workspace: Workspace<f32>,
    gradient: Vec<f32>,
    diagonal: Vec<f32>,
    batch_x: Vec<f32>,
    batch_y: Vec<u8>,
}

impl Scratch {
    fn new(mlp: &Mlp, batch: usize) -> Scratch {
        let n = mlp.parameter_count();
        Scratch {
            workspace: Workspace::new(mlp, batch),
            eval_workspace: Workspace::new(mlp, EVAL_CHUNK),
            gradient: vec![0.0; n],
            diagonal: vec![0.0; n],
            batch_x: Vec::with_capacity(batch * mlp.inputs()),
            batch_y: Vec::with_capacity(batch),
        }
    }
}

impl<'d> CpuBackend<'d> {
    /// A backend training `mlp` with `optimizer` on minibatches of `batch` samples.
    pub fn new(mlp: Mlp, optimizer: &Optimizer, batch: usize) -> Self {
        CpuBackend {
            scratch: Scratch::new(&mlp, batch),
            more: Vec::new(),
            optimizer: optimizer.clone(),
            batch,
            runs: Vec::new(),
            mlp,
        }
    }

    /// The same backend executing the ready local steps of a flush on `threads`
    /// threads (1: one operation at a time, in recorded order). The results are
    /// the same bits whatever the count.
    /// Models whose steps are too small to be worth a thread (one local step of
    /// a smaller product of parameters and batch rows, about a millisecond of
    /// work, costs less than starting threads for it) stay on one.
    pub fn with_threads(mut self, threads: usize) -> Self {
        let worth_it = self.mlp.parameter_count() * self.batch >= MIN_THREADED_WORK;
        let threads = if worth_it { threads.max(1) } else { 1 };
        self.more = (1..threads).map(|_| Scratch::new(&self.mlp, self.batch)).collect();
        self
    }

    /// Overwrites a worker's parameters (tests, warm starts).
    pub fn set_worker(&mut self, run: RunId, worker: usize, params: &[f32]) {
        self.run(run).workers[worker].copy_from_slice(params);
    }

    /// Overwrites the center (tests, warm starts).
    pub fn set_center(&mut self, run: RunId, params: &[f32]) {
        self.run(run).center.copy_from_slice(params);
    }

    fn run(&mut self, run: RunId) -> &mut CpuRun<'d> {
        self.runs[run.0].as_mut().expect("a run of this backend that was not removed")
    }
}

impl<'d> Backend<'d> for CpuBackend<'d> {
    fn describe(&self) -> String {
        "cpu".into()
    }

    fn add_run(
        &mut self,
        data: &'d SplitData,
        workers: usize,
        initial: &[f32],
    ) -> Result<RunId, BackendError> {
        let n = self.mlp.parameter_count();
        assert_eq!(initial.len(), n, "initial parameters of the backend's model");
        self.runs.push(Some(CpuRun {
            data,
            workers: vec![initial.to_vec(); workers],
            optimizers: vec![LocalOptimizer::new(&self.optimizer, n); workers],
            center: initial.to_vec(),
            slots: Vec::new(),
            recent_gaps: vec![None; workers],
        }));
        Ok(RunId(self.runs.len() - 1))
    }

    fn execute(&mut self, work: &mut [(RunId, &mut Program)]) -> Result<(), BackendError> {
        if !self.more.is_empty() {
            self.execute_in_waves(work);
            return Ok(());
        }
        for (run, program) in work.iter_mut() {
            let state = self.runs[run.0].as_mut().expect("a run of this backend that was not removed");
            for index in 0..program.ops().len() {
                execute_op(&self.mlp, state, &mut self.scratch, program, index);
            }
            program.executed();
        }
        Ok(())
    }

    fn remove_run(&mut self, run: RunId) {
        self.runs[run.0] = None;
    }

    fn worker_parameters(&mut self, run: RunId, worker: usize) -> Vec<f32> {
        self.run(run).workers[worker].clone()
    }

    fn center_parameters(&mut self, run: RunId) -> Vec<f32> {
        self.run(run).center.clone()
    }
}

impl CpuBackend<'_> {
    /// Executes a flush in the schedule's order: operations other than local
    /// steps one at a time, group by group, the ready local steps of every run as waves spread
    /// over the threads.
    fn execute_in_waves(&mut self, work: &mut [(RunId, &mut Program)]) {
        let stages = {
            let programs: Vec<&Program> = work.iter().map(|(_, p)| &**p).collect();
            schedule::stages(&programs, usize::MAX)
        };
        for stage in stages {
            match stage {
                Stage::Singles(group) => {
                    for at in group {
                        let (run, program) = &mut work[at.run];
                        let state =
                            self.runs[run.0].as_mut().expect("a run of this backend that was not removed");
                        execute_op(&self.mlp, state, &mut self.scratch, program, at.op);
                    }
                }
                Stage::Wave { steps, .. } => self.wave(work, &steps),
            }
        }
        for (_, program) in work.iter_mut() {
            program.executed();
        }
    }

    /// The local steps `steps` (of different workers) on the threads, each
    /// thread a contiguous share with its own scratch; then their losses.
    fn wave(&mut self, work: &mut [(RunId, &mut Program)], steps: &[At]) {
        let CpuBackend { mlp, runs, scratch, more, .. } = self;
        let mlp = &*mlp;
        let mut losses: Vec<(At, ScalarId, f32)> = Vec::with_capacity(steps.len());
        {
            let programs: Vec<&Program> = work.iter().map(|(_, p)| &**p).collect();
            let mut tasks = Vec::with_capacity(steps.len());
            // Each run's state once, borrowed apart from the others'.
            let index_of: std::collections::HashMap<usize, usize> =
                work.iter().enumerate().map(|(index, (run, _))| (run.0, index)).collect();
            for (id, state) in runs.iter_mut().enumerate() {
                let (Some(&index), Some(state)) = (index_of.get(&id), state.as_mut()) else { continue };
                let CpuRun { data, workers, optimizers, .. } = state;
                let mut mine: Vec<At> = steps.iter().copied().filter(|at| at.run == index).collect();
                let worker_of = |at: &At| match programs[index].ops()[at.op] {
                    Op::LocalStep { worker, .. } => worker as usize,
                    _ => unreachable!("a wave holds local steps only"),
                };
                mine.sort_by_key(worker_of);
                let mut states = workers.iter_mut().zip(optimizers.iter_mut()).enumerate();
                for at in mine {
                    let w = worker_of(&at);
                    let (_, (params, optimizer)) =
                        states.find(|(i, _)| *i == w).expect("each worker steps at most once a wave");
                    tasks.push(Task { at, params, optimizer, data, program: programs[index] });
                }
            }
            tasks.sort_by_key(|t| t.at);
            let share = tasks.len().div_ceil(1 + more.len()).max(1);
            let scratches = std::iter::once(&mut *scratch).chain(more.iter_mut());
            std::thread::scope(|scope| {
                let handles: Vec<_> = tasks
                    .chunks_mut(share)
                    .zip(scratches)
                    .map(|(chunk, scratch)| {
                        scope
                            .spawn(move || chunk.iter_mut().map(|t| t.step(mlp, scratch)).collect::<Vec<_>>())
                    })
                    .collect();
                for handle in handles {
                    losses.extend(handle.join().expect("a local step never panics"));
                }
            });
        }
        for (at, loss, value) in losses {
            work[at.run].1.set_scalar(loss, f64::from(value));
        }
    }
}

/// One local step of a wave: the worker's state and what the step reads.
struct Task<'a> {
    at: At,
    params: &'a mut Vec<f32>,
    optimizer: &'a mut LocalOptimizer,
    data: &'a SplitData,
    program: &'a Program,
}

impl Task<'_> {
    /// Steps the worker; returns where, which scalar and the minibatch loss.
    fn step(&mut self, mlp: &Mlp, scratch: &mut Scratch) -> (At, ScalarId, f32) {
        let Op::LocalStep { step, ref batch, ref probes, loss, .. } = self.program.ops()[self.at.op] else {
            unreachable!("a wave holds local steps only")
        };
        let value = step_worker(
            mlp,
            (self.data, self.program),
            (self.params, self.optimizer),
            scratch,
            step,
            (batch, probes),
        );
        (self.at, loss, value)
    }
}

/// Executes the program's `index`-th pending operation on `run`.
fn execute_op(mlp: &Mlp, run: &mut CpuRun, scratch: &mut Scratch, program: &mut Program, index: usize) {
    match program.ops()[index].clone() {
        Op::LocalStep { worker, step, batch, probes, loss } => {
            let value = local_step(mlp, run, scratch, program, (worker as usize, step), (&batch, &probes));
            program.set_scalar(loss, f64::from(value));
        }
        Op::SnapshotWorker { worker, slot } => {
            let source = &run.workers[worker as usize];
            write_slot(&mut run.slots, slot, source);
        }
        Op::SnapshotCenter { slot } => write_slot(&mut run.slots, slot, &run.center),
        Op::Gap { slot, out } => program.set_scalar(out, gap(&run.slots[slot], &run.center)),
        Op::Weigh { parts, alpha, out } => weigh(run, program, &parts, alpha, out),
        Op::MasterUpdate { slot, a_m } => {
            master_update(&mut run.slots[slot], &mut run.center, program.weight_now(a_m))
        }
        Op::BarrierUpdate { parts } => barrier_update(run, &weights_now(program, &parts)),
        Op::BarrierAverage { parts } => barrier_average(run, &weights_now(program, &parts)),
        Op::ApplyDifference { worker, slot, a_w } => {
            let a_w = program.weight_now(a_w) as f32;
            for (x, &e) in run.workers[worker as usize].iter_mut().zip(&run.slots[slot]) {
                *x -= a_w * e;
            }
        }
        Op::Adopt { worker, slot } => run.workers[worker as usize].copy_from_slice(&run.slots[slot]),
        Op::Evaluate { params, on, out } => {
            let params = match params {
                Params::Center => &run.center,
                Params::Slot(slot) => &run.slots[slot],
            };
            let evaluation = evaluate(mlp, run.data, params, on, &mut scratch.eval_workspace);
            program.set_evaluation(out, evaluation);
        }
        Op::Release { .. } => {}
    }
}

/// One local step of worker `w` at optimizer step `step`: gathers the minibatch
/// `batch`, computes the gradient (and, with probe keys, the Hutchinson
/// diagonal), and steps the worker's optimizer. Returns the minibatch loss.
fn local_step(
    mlp: &Mlp,
    run: &mut CpuRun,
    scratch: &mut Scratch,
    program: &Program,
    (w, step): (usize, u64),
    (batch, probes): (&Range<u32>, &Range<u32>),
) -> f32 {
    let state = (&mut run.workers[w], &mut run.optimizers[w]);
    step_worker(mlp, (run.data, program), state, scratch, step, (batch, probes))
}

/// [`local_step`] on a worker's parameters and optimizer, wherever they are
/// held: the one computation every thread count runs.
fn step_worker(
    mlp: &Mlp,
    (data, program): (&SplitData, &Program),
    (params, optimizer): (&mut Vec<f32>, &mut LocalOptimizer),
    scratch: &mut Scratch,
    step: u64,
    (batch, probes): (&Range<u32>, &Range<u32>),
) -> f32 {
    let inputs = mlp.inputs();
    scratch.batch_x.clear();
    scratch.batch_y.clear();
    for &i in program.indices(batch) {
        let i = i as usize;
        scratch.batch_x.extend_from_slice(&data.train.x[i * inputs..(i + 1) * inputs]);
        scratch.batch_y.push(data.train.y[i]);
    }
    let keys = program.keys(probes);
    let (value, fresh) = if keys.is_empty() {
        let value = gradient(
            mlp,
            params,
            &scratch.batch_x,
            &scratch.batch_y,
            &mut scratch.workspace,
            &mut scratch.gradient,
        );
        (value, None)
    } else {
        let value = gradient_and_hutchinson(
            mlp,
            params,
            &scratch.batch_x,
            &scratch.batch_y,
            keys,
            &mut scratch.workspace,
            &mut scratch.gradient,
            &mut scratch.diagonal,
        );
        (value, Some(&scratch.diagonal[..]))
    };
    optimizer.step(params, &scratch.gradient, fresh, step);
    value
}

/// A `Weigh`: the rule's weights of each part from the gaps computed before it.
fn weigh(run: &mut CpuRun, program: &mut Program, parts: &Range<u32>, alpha: f64, out: ScalarId) {
    let rule = std::sync::Arc::clone(program.rule().expect("a program that weighs has a rule"));
    let gaps: Vec<(u32, f64)> =
        program.weighed(parts).iter().map(|&(worker, _, gap)| (worker, program.computed(gap))).collect();
    let weights = weigh_together(&*rule, alpha, &mut run.recent_gaps, &gaps);
    for (i, (a_m, a_w)) in weights.into_iter().enumerate() {
        program.set_scalar(ScalarId(out.0 + 2 * i as u32), a_m);
        program.set_scalar(ScalarId(out.0 + 2 * i as u32 + 1), a_w);
    }
}

/// A barrier's (slot, weight) parts with their weights' values.
fn weights_now(program: &Program, parts: &Range<u32>) -> Vec<(Slot, f64)> {
    program.parts(parts).iter().map(|&(slot, w)| (slot, program.weight_now(w))).collect()
}

/// ‖slot − center‖, the squares summed in f64.
fn gap(slot: &[f32], center: &[f32]) -> f64 {
    let squares: f64 = slot.iter().zip(center).map(|(&x, &c)| f64::from(x - c) * f64::from(x - c)).sum();
    squares.sqrt()
}

/// e = slot − center; center += a_m · e; slot ← e.
fn master_update(slot: &mut [f32], center: &mut [f32], a_m: f64) {
    let a_m = a_m as f32;
    for (s, c) in slot.iter_mut().zip(center) {
        let e = *s - *c;
        *c += a_m * e;
        *s = e;
    }
}

/// Every part's slot becomes its difference from the center, then the center
/// adds each difference times its a_m, in part order.
fn barrier_update(run: &mut CpuRun, parts: &[(Slot, f64)]) {
    for &(slot, _) in parts {
        for (s, &c) in run.slots[slot].iter_mut().zip(&run.center) {
            *s -= c;
        }
    }
    for &(slot, a_m) in parts {
        let a_m = a_m as f32;
        for (c, &e) in run.center.iter_mut().zip(&run.slots[slot]) {
            *c += a_m * e;
        }
    }
}

/// The center becomes the parts' slots averaged with their weights (summed in
/// f64; unchanged when the weights sum to zero), and every part's slot a copy
/// of it.
fn barrier_average(run: &mut CpuRun, parts: &[(Slot, f64)]) {
    let total: f64 = parts.iter().map(|&(_, w)| w).sum();
    if total > 0.0 {
        let mut sum = vec![0.0f64; run.center.len()];
        for &(slot, w) in parts {
            for (acc, &x) in sum.iter_mut().zip(&run.slots[slot]) {
                *acc += w * f64::from(x);
            }
        }
        for (c, acc) in run.center.iter_mut().zip(sum) {
            *c = (acc / total) as f32;
        }
    }
    for &(slot, _) in parts {
        run.slots[slot].copy_from_slice(&run.center);
    }
}

/// slot ← source, creating the slot's storage on first use.
fn write_slot(slots: &mut Vec<Vec<f32>>, slot: Slot, source: &[f32]) {
    if slots.len() <= slot {
        slots.resize_with(slot + 1, Vec::new);
    }
    slots[slot].clear();
    slots[slot].extend_from_slice(source);
}

/// Test accuracy and loss of `params` on the test samples `on` names, and the
/// training loss on the fixed training sample.
fn evaluate(
    mlp: &Mlp,
    data: &SplitData,
    params: &[f32],
    on: TestSet,
    workspace: &mut Workspace<f32>,
) -> Evaluation {
    let test = match (on, &data.test_subset) {
        (TestSet::Subset, Some(subset)) => subset,
        _ => &data.test,
    };
    let (correct, test_total) = accuracy_and_loss(mlp, params, &test.x, &test.y, workspace);
    let (_, train_total) = accuracy_and_loss(mlp, params, &data.train_eval.x, &data.train_eval.y, workspace);
    Evaluation {
        test_accuracy: correct as f64 / test.len().max(1) as f64,
        test_loss: test_total / test.len().max(1) as f64,
        train_loss: train_total / data.train_eval.len().max(1) as f64,
    }
}
