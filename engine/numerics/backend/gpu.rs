//! The GPU backend: every run's state on the device, every flush one submission.
//!
//! Per run the device holds each worker's parameters and optimizer state (m, v,
//! D), the center and the message slots; each distinct dataset ([`SplitData`]) is
//! uploaded once and shared by the runs on it. [`GpuBackend::execute`] records
//! every pending operation of every given run into one [`Recording`], submits it
//! once and reads every scalar of the flush back in one download.
//!
//! Operations go in the order of [`schedule`]: level by level, where the local
//! steps of a level, across runs and workers, form waves. A wave copies its
//! workers' parameters side by side and runs each kernel of a local step once
//! for all of them (batched matrix products, repeated column sums), so a flush
//! of many runs costs a few dozen dispatches per level instead of a few dozen
//! per step. Every element of every step is computed exactly as alone.
//!
//! The math is [`crate::numerics::model`]'s, kernel for kernel (see
//! `record_step`), with fixed-order sums everywhere, so the same programs give the
//! same bits however runs are grouped into `execute` calls. It agrees with the
//! CPU backend within rounding, not bit for bit: matrix products sum in another
//! order, and where the CPU sums in f64 the GPU sums in f32 —
//!
//! - gaps: f32 partials of 4096 squares, added in f64 on the host;
//! - evaluations: as the CPU, chunks of 512 rows whose mean loss is summed in f32
//!   in row order, the chunk means added in f64 on the host;
//! - barrier averages: Σ (w_i / Σw)·slot_i in f32 in part order, the normalized
//!   weights computed in f64 and rounded once (the CPU sums w_i·slot_i in f64);
//!   within a few ulps of the largest |slot_i|.

mod schedule;

use std::sync::Arc;

use schedule::{At, Stage};

use super::{Backend, BackendError, Evaluation, Op, Params, Program, RunId, TestSet};
use crate::data::{Samples, SplitData};
use crate::numerics::gpu::reduce::partials_per_pair;
use crate::numerics::gpu::{
    ApplyDifference, BarrierAverage, BarrierUpdate, Batched, Copies, Gemm, GpuBuffer, GpuContext, GpuError,
    LayerShape, MasterUpdate, MatrixLayout, OptimizerBuffers, OptimizerStep, ProbeLayout, Recording,
    SoftmaxBuffers, Span, StateOffsets,
};
use crate::numerics::model::Mlp;
use crate::scenario::Optimizer;

/// Rows per chunk of an evaluation, as the CPU backend's.
const EVAL_CHUNK: usize = 512;

impl From<GpuError> for BackendError {
    fn from(error: GpuError) -> Self {
        match error {
            GpuError::DeviceLost { .. } => BackendError::DeviceLost(error.to_string()),
            GpuError::OutOfMemory { .. } => BackendError::OutOfMemory(error.to_string()),
            _ => BackendError::Kernel(error.to_string()),
        }
    }
}

/// Training state on a GPU.
pub struct GpuBackend<'d> {
    context: Arc<GpuContext>,
    mlp: Mlp,
    optimizer: Optimizer,
    /// Parameters per model.
    n: usize,
    datasets: Vec<Option<DeviceData<'d>>>,
    runs: Vec<Option<GpuRun>>,
    scratch: Scratch,
    /// The most local steps one wave holds (device limits and a memory budget).
    max_wave: usize,
}

impl std::fmt::Debug for GpuBackend<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBackend")
            .field("adapter", &self.context.adapter().name)
            .field("mlp", &self.mlp)
            .field("runs", &self.runs.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

/// Samples on the device.
struct DeviceSet {
    x: GpuBuffer<f32>,
    y: GpuBuffer<u32>,
    rows: usize,
}

impl DeviceSet {
    fn upload(context: &GpuContext, label: &str, samples: &Samples) -> Result<Self, GpuError> {
        let labels: Vec<u32> = samples.y.iter().map(|&y| u32::from(y)).collect();
        Ok(DeviceSet {
            x: context.upload(&format!("{label} x"), &samples.x)?,
            y: context.upload(&format!("{label} labels"), &labels)?,
            rows: samples.len(),
        })
    }
}

/// One [`SplitData`] on the device.
struct DeviceData<'d> {
    source: &'d SplitData,
    train: DeviceSet,
    test: DeviceSet,
    test_subset: Option<DeviceSet>,
    train_eval: DeviceSet,
}

impl DeviceData<'_> {
    fn test_set(&self, on: TestSet) -> &DeviceSet {
        match (on, &self.test_subset) {
            (TestSet::Subset, Some(subset)) => subset,
            _ => &self.test,
        }
    }
}

/// One run's state: worker w's vectors at `w · n` in each worker buffer.
struct GpuRun {
    data: usize,
    params: GpuBuffer<f32>,
    first: GpuBuffer<f32>,
    /// AdaHessian only: v and D.
    second: Option<GpuBuffer<f32>>,
    diagonal: Option<GpuBuffer<f32>>,
    center: GpuBuffer<f32>,
    /// Slot s at `s · n`; room for `slot_capacity` slots.
    slots: GpuBuffer<f32>,
    slot_capacity: usize,
}

/// What the scratch must hold: rows of activations, local steps of a wave, and
/// probe vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Capacity {
    /// Rows of every per-layer buffer: a wave's steps' rows side by side, or an
    /// evaluation's.
    rows: usize,
    /// Local steps whose parameter-sized vectors fit.
    steps: usize,
    /// Probe vectors.
    probes: usize,
}

impl Capacity {
    fn max(self, other: Capacity) -> Capacity {
        Capacity {
            rows: self.rows.max(other.rows),
            steps: self.steps.max(other.steps),
            probes: self.probes.max(other.probes),
        }
    }
}

/// Activations and gradients every wave and evaluation uses in turn. A wave of
/// P steps of B rows keeps step p's rows from row p·B of every per-layer buffer
/// and its parameter-sized vectors from p·n.
struct Scratch {
    capacity: Capacity,
    batch_x: GpuBuffer<f32>,
    batch_y: GpuBuffer<u32>,
    /// Per layer, `rows × fan_out`.
    pre: Vec<GpuBuffer<f32>>,
    post: Vec<GpuBuffer<f32>>,
    delta: Vec<GpuBuffer<f32>>,
    upstream: Vec<GpuBuffer<f32>>,
    r_pre: Vec<GpuBuffer<f32>>,
    r_post: Vec<GpuBuffer<f32>>,
    r_delta: Vec<GpuBuffer<f32>>,
    r_upstream: Vec<GpuBuffer<f32>>,
    /// Per-row losses and correctness.
    stats: GpuBuffer<f32>,
    /// Per step: its worker's parameters (copied in), gradient, H·z, and the
    /// fresh Hessian diagonal (copied out).
    weights: GpuBuffer<f32>,
    grad: GpuBuffer<f32>,
    product: GpuBuffer<f32>,
    diagonal: GpuBuffer<f32>,
    /// Step p's probe q at (p · probes + q) · n.
    probes: GpuBuffer<f32>,
}

impl Scratch {
    fn new(context: &GpuContext, mlp: &Mlp, capacity: Capacity) -> Result<Self, GpuError> {
        let n = mlp.parameter_count();
        let Capacity { rows, steps, probes } = capacity;
        let per_layer = |name: &str| -> Result<Vec<GpuBuffer<f32>>, GpuError> {
            (0..mlp.layers()).map(|l| context.zeros(&format!("{name} {l}"), rows * mlp.fan_out(l))).collect()
        };
        let per_step = |name: &str| context.zeros::<f32>(name, steps.max(1) * n);
        Ok(Scratch {
            capacity,
            batch_x: context.zeros("minibatch x", rows * mlp.inputs())?,
            batch_y: context.zeros("minibatch labels", rows)?,
            pre: per_layer("z")?,
            post: per_layer("a")?,
            delta: per_layer("delta")?,
            upstream: per_layer("upstream")?,
            r_pre: per_layer("R z")?,
            r_post: per_layer("R a")?,
            r_delta: per_layer("R delta")?,
            r_upstream: per_layer("R upstream")?,
            stats: context.zeros("row statistics", 2 * rows)?,
            weights: per_step("wave parameters")?,
            grad: per_step("gradients")?,
            product: per_step("Hessian-vector products")?,
            diagonal: per_step("fresh Hessian diagonals")?,
            probes: context.zeros("probes", probes.max(1) * n)?,
        })
    }
}

/// The most local steps of one wave.
const MAX_WAVE: usize = 256;

/// Scratch bytes the steps of a wave may take together.
const WAVE_BUDGET: u64 = 1 << 30;

/// How many local steps of `batch` rows and `probes` probes one wave may hold:
/// every operand must fit one storage binding, and all the steps' scratch
/// `WAVE_BUDGET`.
fn max_wave(context: &GpuContext, mlp: &Mlp, batch: usize, probes: usize) -> usize {
    let n = mlp.parameter_count();
    let fans: Vec<usize> = (0..mlp.layers()).map(|l| mlp.fan_out(l)).collect();
    let widest = fans.iter().copied().chain([mlp.inputs()]).max().unwrap_or(1);
    let largest = 4 * (n * probes.max(1)).max(batch * widest).max(1) as u64;
    let per_layer: usize = fans.iter().sum();
    let per_step = 4 * (n * (4 + probes) + batch * (mlp.inputs() + 3 + 8 * per_layer)).max(1) as u64;
    let by_binding = context.max_binding_bytes() / largest;
    let by_budget = WAVE_BUDGET / per_step;
    usize::try_from(by_binding.min(by_budget)).unwrap_or(MAX_WAVE).clamp(1, MAX_WAVE)
}

/// Where an operation's (or a wave's) operands and results go in the flush's
/// tables.
#[derive(Clone, Copy, Default)]
struct Place {
    /// Its words in the table (a wave: every step's batch indices, then every
    /// step's probe keys; a gap: its pair).
    table: usize,
    /// Its first word in the results (a wave: step p's loss at + 2p).
    results: usize,
}

/// One local step of a wave.
struct WaveStep<'w, 'd> {
    run: &'w GpuRun,
    data: &'w DeviceData<'d>,
    worker: usize,
    /// Its optimizer step t.
    step: u64,
}

impl<'d> GpuBackend<'d> {
    /// A backend training `mlp` with `optimizer` on minibatches of `batch`
    /// samples, on `context`'s device (shareable with other backends).
    pub fn new(
        context: Arc<GpuContext>,
        mlp: Mlp,
        optimizer: &Optimizer,
        batch: usize,
    ) -> Result<Self, GpuError> {
        let probes = match optimizer {
            Optimizer::AdaHessian(c) => c.probes as usize,
            Optimizer::Sgd(_) => 0,
        };
        let capacity = Capacity { rows: batch.max(1), steps: 1, probes };
        let scratch = Scratch::new(&context, &mlp, capacity)?;
        let max_wave = max_wave(&context, &mlp, batch.max(1), probes);
        Ok(GpuBackend {
            max_wave,
            n: mlp.parameter_count(),
            context,
            mlp,
            optimizer: optimizer.clone(),
            datasets: Vec::new(),
            runs: Vec::new(),
            scratch,
        })
    }

    /// The device context.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.context
    }

    fn run(&self, run: RunId) -> &GpuRun {
        self.runs[run.0].as_ref().expect("a run of this backend that was not removed")
    }

    /// The dataset index of `data`, uploading it on first use.
    fn dataset(&mut self, data: &'d SplitData) -> Result<usize, GpuError> {
        let known =
            self.datasets.iter().position(|d| d.as_ref().is_some_and(|d| std::ptr::eq(d.source, data)));
        if let Some(index) = known {
            return Ok(index);
        }
        let context = &self.context;
        let device = DeviceData {
            source: data,
            train: DeviceSet::upload(context, "train", &data.train)?,
            test: DeviceSet::upload(context, "test", &data.test)?,
            test_subset: data
                .test_subset
                .as_ref()
                .map(|s| DeviceSet::upload(context, "test subset", s))
                .transpose()?,
            train_eval: DeviceSet::upload(context, "train sample", &data.train_eval)?,
        };
        match self.datasets.iter().position(Option::is_none) {
            Some(free) => {
                self.datasets[free] = Some(device);
                Ok(free)
            }
            None => {
                self.datasets.push(Some(device));
                Ok(self.datasets.len() - 1)
            }
        }
    }

    fn add(&mut self, data: &'d SplitData, workers: usize, initial: &[f32]) -> Result<RunId, GpuError> {
        let n = self.n;
        if initial.len() != n || data.inputs != self.mlp.inputs() || data.classes != self.mlp.classes() {
            return Err(GpuError::Shape {
                operation: "adding a run".into(),
                message: format!(
                    "{} initial parameters, data of {} inputs and {} classes for a model of {n} \
                     parameters, {} inputs and {} classes",
                    initial.len(),
                    data.inputs,
                    data.classes,
                    self.mlp.inputs(),
                    self.mlp.classes()
                ),
            });
        }
        let data = self.dataset(data)?;
        let context = &self.context;
        let everyone: Vec<f32> = initial.iter().copied().cycle().take(workers * n).collect();
        let adahessian = matches!(self.optimizer, Optimizer::AdaHessian(_));
        let state = |label: &str| context.zeros::<f32>(label, workers * n);
        let slot_capacity = (2 * workers).max(4);
        let run = GpuRun {
            data,
            params: context.upload("worker parameters", &everyone)?,
            first: state("first moments")?,
            second: adahessian.then(|| state("second moments")).transpose()?,
            diagonal: adahessian.then(|| state("Hessian diagonals")).transpose()?,
            center: context.upload("center", initial)?,
            slots: context.zeros("slots", slot_capacity * n)?,
            slot_capacity,
        };
        self.runs.push(Some(run));
        Ok(RunId(self.runs.len() - 1))
    }

    /// Lays out the flush: its stages, each stage's table words and results,
    /// the table itself, and what the scratch and the slots must hold.
    fn plan(&self, work: &[(RunId, &mut Program)]) -> Plan {
        let programs: Vec<&Program> = work.iter().map(|(_, p)| &**p).collect();
        let mut plan = Plan {
            places: programs.iter().map(|p| vec![Place::default(); p.ops().len()]).collect(),
            slots: programs.iter().map(|p| slots_needed(p)).collect(),
            ..Plan::default()
        };
        for stage in schedule::stages(&programs, self.max_wave) {
            let place = Place { table: plan.table.len(), results: plan.results };
            match &stage {
                Stage::Single(at) => {
                    let program = programs[at.run];
                    let state = self.run(work[at.run].0);
                    let data = self.datasets[state.data].as_ref().expect("a run's dataset is on the device");
                    match &program.ops()[at.op] {
                        Op::Gap { slot, .. } => {
                            plan.table.extend([(slot * self.n) as u32, 0]);
                            plan.results += partials_per_pair(self.n);
                        }
                        Op::Evaluate { on, .. } => {
                            let (test, train) = (data.test_set(*on), &data.train_eval);
                            let rows = test.rows.max(train.rows);
                            plan.capacity = plan.capacity.max(Capacity { rows, ..Capacity::default() });
                            plan.results +=
                                2 * (test.rows.div_ceil(EVAL_CHUNK) + train.rows.div_ceil(EVAL_CHUNK));
                        }
                        _ => {}
                    }
                    plan.places[at.run][at.op] = place;
                }
                Stage::Wave { steps, rows, probes } => {
                    let count = steps.len();
                    for at in steps {
                        if let Op::LocalStep { batch, .. } = &programs[at.run].ops()[at.op] {
                            plan.table.extend_from_slice(programs[at.run].indices(batch));
                        }
                    }
                    for at in steps {
                        if let Op::LocalStep { probes, .. } = &programs[at.run].ops()[at.op] {
                            plan.table.extend_from_slice(programs[at.run].keys(probes));
                        }
                    }
                    for (p, at) in steps.iter().enumerate() {
                        plan.places[at.run][at.op] = Place { results: place.results + 2 * p, ..place };
                    }
                    plan.results += 2 * count;
                    let needs = Capacity { rows: rows * count, steps: count, probes: probes * count };
                    plan.capacity = plan.capacity.max(needs);
                }
            }
            plan.stages.push((stage, place));
        }
        plan
    }

    fn flush(&mut self, work: &mut [(RunId, &mut Program)]) -> Result<(), GpuError> {
        if work.iter().all(|(_, p)| p.ops().is_empty()) {
            for (_, program) in work.iter_mut() {
                program.executed();
            }
            return Ok(());
        }
        let plan = self.plan(work);
        let context = Arc::clone(&self.context);
        let capacity = self.scratch.capacity.max(plan.capacity);
        if capacity != self.scratch.capacity {
            self.scratch = Scratch::new(&context, &self.mlp, capacity)?;
        }
        let mut recording = context.record("execute");
        // Slots beyond a run's room: a bigger buffer, the old contents copied
        // first in the recording; the old buffer lives until the flush is done.
        let mut retired = Vec::new();
        for ((run, _), &needed) in work.iter().zip(&plan.slots) {
            let state = self.runs[run.0].as_mut().expect("a run of this backend that was not removed");
            if needed > state.slot_capacity {
                let capacity = needed.max(2 * state.slot_capacity);
                let bigger = context.zeros("slots", capacity * self.n)?;
                recording.copy(&state.slots, 0, &bigger, 0, state.slot_capacity * self.n)?;
                retired.push(std::mem::replace(&mut state.slots, bigger));
                state.slot_capacity = capacity;
            }
        }
        let table = context.upload("flush table", &plan.table)?;
        let results = context.zeros::<f32>("flush results", plan.results.max(1))?;
        let flush = Flush {
            mlp: &self.mlp,
            optimizer: &self.optimizer,
            scratch: &self.scratch,
            table: &table,
            results: &results,
        };
        let state_of = |at: &At| {
            let state =
                self.runs[work[at.run].0.0].as_ref().expect("a run of this backend that was not removed");
            let data = self.datasets[state.data].as_ref().expect("a run's dataset is on the device");
            (state, data)
        };
        for (stage, place) in &plan.stages {
            match stage {
                Stage::Single(at) => {
                    let (state, data) = state_of(at);
                    let program = &*work[at.run].1;
                    flush.record(&mut recording, state, data, program, &program.ops()[at.op], *place)?;
                }
                Stage::Wave { steps, rows, probes } => {
                    let steps: Vec<WaveStep<'_, '_>> = steps
                        .iter()
                        .map(|at| {
                            let (run, data) = state_of(at);
                            let Op::LocalStep { worker, step, .. } = work[at.run].1.ops()[at.op] else {
                                unreachable!("waves hold local steps only")
                            };
                            WaveStep { run, data, worker: worker as usize, step }
                        })
                        .collect();
                    flush.record_wave(&mut recording, &steps, (*rows, *probes), *place)?;
                }
            }
        }
        context.submit(recording)?;
        let values = context.download(&results)?;
        drop(retired);
        for ((run, program), places) in work.iter_mut().zip(&plan.places) {
            let state = self.runs[run.0].as_ref().expect("a run of this backend that was not removed");
            let data = self.datasets[state.data].as_ref().expect("a run's dataset is on the device");
            for (index, &place) in places.iter().enumerate() {
                match program.ops()[index].clone() {
                    Op::LocalStep { loss, .. } => program.set_scalar(loss, f64::from(values[place.results])),
                    Op::Gap { out, .. } => {
                        let partials = &values[place.results..place.results + partials_per_pair(self.n)];
                        let squares: f64 = partials.iter().map(|&s| f64::from(s)).sum();
                        program.set_scalar(out, squares.sqrt());
                    }
                    Op::Evaluate { on, out, .. } => {
                        let test = data.test_set(on);
                        let test_chunks = test.rows.div_ceil(EVAL_CHUNK);
                        let (correct, test_total) = chunk_totals(&values[place.results..], test.rows);
                        let train_at = place.results + 2 * test_chunks;
                        let (_, train_total) = chunk_totals(&values[train_at..], data.train_eval.rows);
                        program.set_evaluation(
                            out,
                            Evaluation {
                                test_accuracy: correct as f64 / test.rows.max(1) as f64,
                                test_loss: test_total / test.rows.max(1) as f64,
                                train_loss: train_total / data.train_eval.rows.max(1) as f64,
                            },
                        );
                    }
                    _ => {}
                }
            }
            program.executed();
        }
        Ok(())
    }

    fn download_part(&self, buffer: &GpuBuffer<f32>, at: usize) -> Vec<f32> {
        // A failed read-back (a lost device) gives an empty vector: these are for
        // tests and debugging, and the next execute reports the error.
        match self.context.download(buffer) {
            Ok(all) => all[at..at + self.n].to_vec(),
            Err(_) => Vec::new(),
        }
    }
}

/// A flush's layout (see [`GpuBackend::plan`]).
#[derive(Default)]
struct Plan {
    /// What to record, in order, and where each stage's words go.
    stages: Vec<(Stage, Place)>,
    /// Per run, per op (a wave's step: its loss's word).
    places: Vec<Vec<Place>>,
    /// Per run, the slots it needs room for.
    slots: Vec<usize>,
    table: Vec<u32>,
    results: usize,
    capacity: Capacity,
}

/// The slots `program` refers to: one more than the highest.
fn slots_needed(program: &Program) -> usize {
    let mut slots = 0;
    for op in program.ops() {
        match op {
            Op::LocalStep { .. } | Op::Evaluate { params: Params::Center, .. } => {}
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

/// The (correct count, Σ chunk mean · chunk rows in f64) of an evaluation's
/// chunks, as the CPU's `accuracy_and_loss`.
fn chunk_totals(values: &[f32], rows: usize) -> (u64, f64) {
    let mut correct = 0u64;
    let mut total = 0.0f64;
    for c in 0..rows.div_ceil(EVAL_CHUNK) {
        let chunk_rows = EVAL_CHUNK.min(rows - c * EVAL_CHUNK);
        total += f64::from(values[2 * c]) * chunk_rows as f64;
        correct += u64::from(values[2 * c + 1].to_bits());
    }
    (correct, total)
}

/// What recording one flush needs.
struct Flush<'f> {
    mlp: &'f Mlp,
    optimizer: &'f Optimizer,
    scratch: &'f Scratch,
    table: &'f GpuBuffer<u32>,
    results: &'f GpuBuffer<f32>,
}

/// Dense row-major `cols` columns from `offset`.
fn dense(offset: usize, cols: usize) -> MatrixLayout {
    MatrixLayout::dense(offset, cols)
}

impl Flush<'_> {
    fn record(
        &self,
        rec: &mut Recording<'_>,
        run: &GpuRun,
        data: &DeviceData<'_>,
        program: &Program,
        op: &Op,
        place: Place,
    ) -> Result<(), GpuError> {
        let n = self.mlp.parameter_count();
        match op {
            Op::LocalStep { .. } => {
                return Err(GpuError::Shape {
                    operation: "recording a flush".into(),
                    message: "a local step outside a wave".into(),
                });
            }
            Op::SnapshotWorker { worker, slot } => {
                rec.copy(&run.params, *worker as usize * n, &run.slots, slot * n, n)?
            }
            Op::SnapshotCenter { slot } => rec.copy(&run.center, 0, &run.slots, slot * n, n)?,
            Op::Gap { .. } => rec.squared_distances_at(
                n,
                (self.table, place.table, 1),
                &run.slots,
                &run.center,
                (self.results, place.results),
            )?,
            Op::MasterUpdate { slot, a_m } => {
                let update = MasterUpdate { slot: slot * n, center: 0, a_m: *a_m };
                rec.master_updates(n, &[update], &run.slots, &run.center)?
            }
            Op::BarrierUpdate { parts } => {
                let parts = program.parts(parts).iter().map(|&(s, a_m)| (s * n, a_m)).collect();
                rec.barrier_updates(n, &[BarrierUpdate { center: 0, parts }], &run.slots, &run.center)?
            }
            Op::BarrierAverage { parts } => {
                let parts = program.parts(parts).iter().map(|&(s, w)| (s * n, w)).collect();
                rec.barrier_average(n, &BarrierAverage { center: 0, parts }, &run.slots, &run.center)?
            }
            Op::ApplyDifference { worker, slot, a_w } => {
                let update = ApplyDifference { worker: *worker as usize * n, slot: slot * n, a_w: *a_w };
                rec.apply_differences(n, &[update], &run.params, &run.slots)?
            }
            Op::Adopt { worker, slot } => {
                rec.copy(&run.slots, slot * n, &run.params, *worker as usize * n, n)?
            }
            Op::Evaluate { params, on, .. } => {
                let params = match params {
                    Params::Center => (&run.center, 0),
                    Params::Slot(slot) => (&run.slots, slot * n),
                };
                let test = data.test_set(*on);
                self.record_evaluation(rec, params, test, place.results)?;
                let train_at = place.results + 2 * test.rows.div_ceil(EVAL_CHUNK);
                self.record_evaluation(rec, params, &data.train_eval, train_at)?;
            }
            Op::Release { .. } => {}
        }
        Ok(())
    }

    /// z_l = a_{l−1} W_lᵀ + b_l, a_l = σ(z_l) for every layer, for `steps`
    /// problems of `rows` rows side by side from row 0 of `input`, problem p with
    /// the parameters at `base + p · stride` of `params`.
    fn forward(
        &self,
        rec: &mut Recording<'_>,
        input: &GpuBuffer<f32>,
        (rows, steps): (usize, usize),
        (params, base, stride): (&GpuBuffer<f32>, usize, usize),
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let last = self.mlp.layers() - 1;
        for l in 0..=last {
            let (w, b, fan_in, fan_out) = layer(self.mlp, l);
            let a = if l == 0 { input } else { &s.post[l - 1] };
            let product = Gemm {
                m: rows,
                n: fan_out,
                k: fan_in,
                batch: steps,
                alpha: 1.0,
                beta: 0.0,
                a: rows_of(rows, fan_in),
                b: dense(base + w, fan_in).t().batched(stride),
                c: rows_of(rows, fan_out),
            };
            rec.matmul(&product, a, params, &s.pre[l])?;
            let shape = LayerShape { rows, cols: fan_out, batch: steps };
            let bias = (params, Batched { offset: base + b, batch_stride: stride });
            let each = Batched { offset: 0, batch_stride: rows * fan_out };
            let activation = (l < last).then(|| self.mlp.activation());
            let post = (l < last).then_some((&s.post[l], each));
            rec.bias_activation(shape, activation, bias, (&s.pre[l], each), post)?;
        }
        Ok(())
    }

    /// The softmax buffers of the output layer with `labels`.
    fn softmax<'b>(&'b self, labels: &'b GpuBuffer<u32>, r: bool) -> SoftmaxBuffers<'b> {
        let s = self.scratch;
        let last = self.mlp.layers() - 1;
        SoftmaxBuffers {
            labels: Span::at(labels, 0),
            z: Span::at(if r { &s.r_pre[last] } else { &s.pre[last] }, 0),
            prob: Span::at(&s.post[last], 0),
            delta: Span::at(if r { &s.r_delta[last] } else { &s.delta[last] }, 0),
            stats: &s.stats,
        }
    }

    fn record_evaluation(
        &self,
        rec: &mut Recording<'_>,
        (params, base): (&GpuBuffer<f32>, usize),
        set: &DeviceSet,
        at: usize,
    ) -> Result<(), GpuError> {
        if set.rows == 0 {
            return Ok(());
        }
        self.forward(rec, &set.x, (set.rows, 1), (params, base, 0))?;
        let buffers = self.softmax(&set.y, false);
        rec.cross_entropy(set.rows, self.mlp.classes(), buffers, None, self.results)?;
        rec.chunk_losses(set.rows, EVAL_CHUNK, buffers, Span::at(self.results, at))
    }

    /// One local step of every (run, worker) pair of a wave, each of `rows` rows
    /// and `probes` probes: copy the workers' parameters side by side, gather,
    /// forward, loss, backward, on refresh steps the Hutchinson estimate (one
    /// R-pass pair per probe, the diagonals copied back), then one optimizer
    /// dispatch per run. Step p's loss goes to `results[place.results + 2p]`.
    fn record_wave(
        &self,
        rec: &mut Recording<'_>,
        steps: &[WaveStep<'_, '_>],
        (rows, probes): (usize, usize),
        place: Place,
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let mlp = self.mlp;
        let n = mlp.parameter_count();
        let count = steps.len();
        let last = mlp.layers() - 1;
        let activation = mlp.activation();
        for (p, step) in steps.iter().enumerate() {
            rec.copy(&step.run.params, step.worker * n, &s.weights, p * n, n)?;
        }
        // One gather per stretch of steps on the same dataset.
        for (first, end) in stretches(steps, |a, b| std::ptr::eq(a.data, b.data)) {
            let data = steps[first].data;
            rec.gather_rows(
                (end - first) * rows,
                mlp.inputs(),
                Span::at(self.table, place.table + first * rows),
                &data.train.x,
                &data.train.y,
                (&s.batch_x, &s.batch_y),
                first * rows,
            )?;
        }
        self.forward(rec, &s.batch_x, (rows, count), (&s.weights, 0, n))?;
        let scale = 1.0f32 / rows as f32;
        let buffers = self.softmax(&s.batch_y, false);
        rec.cross_entropy(count * rows, mlp.classes(), buffers, Some(scale), self.results)?;
        rec.chunk_losses(count * rows, rows, buffers, Span::at(self.results, place.results))?;
        // Backward: ∇W_l = δ_lᵀ a_{l−1}, ∇b_l = Σ_rows δ_l, δ_{l−1} = (δ_l W_l) ⊙ σ'.
        for l in (0..=last).rev() {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let into_grad = |a: MatrixLayout, b: MatrixLayout| Gemm {
                m: fan_out,
                n: fan_in,
                k: rows,
                batch: count,
                alpha: 1.0,
                beta: 0.0,
                a,
                b,
                c: dense(wo, fan_in).batched(n),
            };
            rec.matmul(
                &into_grad(rows_of(rows, fan_out).t(), rows_of(rows, fan_in)),
                &s.delta[l],
                input,
                &s.grad,
            )?;
            let copies = Copies { count, strides: [rows * fan_out, 0, n] };
            rec.column_sums(rows, fan_out, Span::at(&s.delta[l], 0), Span::at(&s.grad, bo), copies)?;
            if l > 0 {
                let up = Gemm {
                    m: rows,
                    n: fan_in,
                    k: fan_out,
                    batch: count,
                    alpha: 1.0,
                    beta: 0.0,
                    a: rows_of(rows, fan_out),
                    b: dense(wo, fan_in).batched(n),
                    c: rows_of(rows, fan_in),
                };
                rec.matmul(&up, &s.delta[l], &s.weights, &s.upstream[l - 1])?;
                let spans = [
                    Span::at(&s.upstream[l - 1], 0),
                    Span::at(&s.pre[l - 1], 0),
                    Span::at(&s.post[l - 1], 0),
                ];
                let len = count * rows * fan_in;
                rec.times_derivative(activation, len, spans, Span::at(&s.delta[l - 1], 0))?;
            }
        }
        if matches!(self.optimizer, Optimizer::AdaHessian(_)) && probes > 0 {
            let layout = ProbeLayout { len: n, first: 0, offset: 0, stride: n };
            let keys = place.table + count * rows;
            rec.probes_from(self.table, keys..keys + count * probes, layout, &s.probes)?;
            let weight = 1.0f32 / probes as f32;
            for q in 0..probes {
                self.record_r_passes(rec, (rows, count), (q * n, probes * n))?;
                let spans = [Span::at(&s.probes, q * n), Span::at(&s.product, 0)];
                let copies = Copies { count, strides: [probes * n, n, n] };
                rec.hutchinson(n, spans, weight, q == 0, Span::at(&s.diagonal, 0), copies)?;
            }
            for (p, step) in steps.iter().enumerate() {
                let diagonal = step.run.diagonal.as_ref().expect("AdaHessian runs hold a diagonal");
                rec.copy(&s.diagonal, p * n, diagonal, step.worker * n, n)?;
            }
        }
        // A run's workers share its state buffers: one optimizer dispatch per run.
        for (first, end) in stretches(steps, |a, b| std::ptr::eq(a.run, b.run)) {
            let run = steps[first].run;
            let entries: Vec<OptimizerStep<'_>> = (first..end)
                .map(|p| {
                    let base = steps[p].worker * n;
                    let at = StateOffsets {
                        params: base,
                        grad: p * n,
                        first: base,
                        second: base,
                        diagonal: base,
                        len: n,
                    };
                    OptimizerStep { optimizer: self.optimizer, step: steps[p].step, at }
                })
                .collect();
            let buffers = OptimizerBuffers {
                params: &run.params,
                grad: &s.grad,
                first: &run.first,
                second: run.second.as_ref(),
                diagonal: run.diagonal.as_ref(),
            };
            rec.optimizer_steps(&entries, buffers)?;
        }
        Ok(())
    }

    /// The R-forward and R-backward passes of every step of a wave, after its
    /// forward and backward passes, step p in direction `probes[v + p · stride..]`
    /// of length n: H·v into step p's product vector.
    fn record_r_passes(
        &self,
        rec: &mut Recording<'_>,
        (rows, count): (usize, usize),
        (v, stride): (usize, usize),
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let mlp = self.mlp;
        let n = mlp.parameter_count();
        let last = mlp.layers() - 1;
        let activation = mlp.activation();
        let gemm = |(m, cols, k): (usize, usize, usize), beta: f32, a, b, c| Gemm {
            m,
            n: cols,
            k,
            batch: count,
            alpha: 1.0,
            beta,
            a,
            b,
            c,
        };
        // R{z_l} = a_{l−1} V_lᵀ + R{a_{l−1}} W_lᵀ + c_l;  R{a_l} = σ'(z_l) ⊙ R{z_l}.
        for l in 0..=last {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let shape = (rows, fan_out, fan_in);
            let (x_in, x_out) = (rows_of(rows, fan_in), rows_of(rows, fan_out));
            let direction = gemm(shape, 0.0, x_in, dense(v + wo, fan_in).t().batched(stride), x_out);
            rec.matmul(&direction, input, &s.probes, &s.r_pre[l])?;
            if l > 0 {
                let chained = gemm(shape, 1.0, x_in, dense(wo, fan_in).t().batched(n), x_out);
                rec.matmul(&chained, &s.r_post[l - 1], &s.weights, &s.r_pre[l])?;
            }
            let layer_shape = LayerShape { rows, cols: fan_out, batch: count };
            let bias = (&s.probes, Batched { offset: v + bo, batch_stride: stride });
            let each = Batched { offset: 0, batch_stride: rows * fan_out };
            rec.bias_activation(layer_shape, None, bias, (&s.r_pre[l], each), None)?;
            if l < last {
                let spans = [Span::at(&s.r_pre[l], 0), Span::at(&s.pre[l], 0), Span::at(&s.post[l], 0)];
                let len = count * rows * fan_out;
                rec.times_derivative(activation, len, spans, Span::at(&s.r_post[l], 0))?;
            }
        }
        let scale = 1.0f32 / rows as f32;
        rec.r_output(count * rows, mlp.classes(), self.softmax(&s.batch_y, true), scale, self.results)?;
        // (Hv)_W = R{δ_l}ᵀ a_{l−1} + δ_lᵀ R{a_{l−1}};  (Hv)_b = Σ_rows R{δ_l};
        // R{δ_{l−1}} = (R{δ_l} W_l + δ_l V_l) ⊙ σ' + g ⊙ σ'' ⊙ R{z}.
        for l in (0..=last).rev() {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let (x_in, x_out) = (rows_of(rows, fan_in), rows_of(rows, fan_out));
            let into_product = dense(wo, fan_in).batched(n);
            let first = gemm((fan_out, fan_in, rows), 0.0, x_out.t(), x_in, into_product);
            rec.matmul(&first, &s.r_delta[l], input, &s.product)?;
            if l > 0 {
                let second = gemm((fan_out, fan_in, rows), 1.0, x_out.t(), x_in, into_product);
                rec.matmul(&second, &s.delta[l], &s.r_post[l - 1], &s.product)?;
            }
            let copies = Copies { count, strides: [rows * fan_out, 0, n] };
            rec.column_sums(rows, fan_out, Span::at(&s.r_delta[l], 0), Span::at(&s.product, bo), copies)?;
            if l > 0 {
                let shape = (rows, fan_in, fan_out);
                let through = gemm(shape, 0.0, x_out, dense(wo, fan_in).batched(n), x_in);
                rec.matmul(&through, &s.r_delta[l], &s.weights, &s.r_upstream[l - 1])?;
                let along = gemm(shape, 1.0, x_out, dense(v + wo, fan_in).batched(stride), x_in);
                rec.matmul(&along, &s.delta[l], &s.probes, &s.r_upstream[l - 1])?;
                let spans = [
                    Span::at(&s.r_upstream[l - 1], 0),
                    Span::at(&s.pre[l - 1], 0),
                    Span::at(&s.post[l - 1], 0),
                    Span::at(&s.upstream[l - 1], 0),
                    Span::at(&s.r_pre[l - 1], 0),
                ];
                let len = count * rows * fan_in;
                rec.r_backward(activation, len, spans, Span::at(&s.r_delta[l - 1], 0))?;
            }
        }
        Ok(())
    }
}

/// The maximal runs `[first, end)` of consecutive steps that `same` pairs up.
fn stretches<T>(items: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut first = 0;
    while first < items.len() {
        let end = first + items[first..].iter().take_while(|x| same(&items[first], x)).count();
        out.push((first, end));
        first = end;
    }
    out
}

/// Problems of `rows × cols` row-major matrices side by side from 0.
fn rows_of(rows: usize, cols: usize) -> MatrixLayout {
    dense(0, cols).batched(rows * cols)
}

/// Layer `l`'s weight offset, bias offset, fan-in and fan-out.
fn layer(mlp: &Mlp, l: usize) -> (usize, usize, usize, usize) {
    (mlp.weight_offset(l), mlp.bias_offset(l), mlp.fan_in(l), mlp.fan_out(l))
}

impl<'d> Backend<'d> for GpuBackend<'d> {
    fn describe(&self) -> String {
        let adapter = self.context.adapter();
        format!("{} via {}", adapter.name, adapter.backend)
    }

    fn add_run(
        &mut self,
        data: &'d SplitData,
        workers: usize,
        initial: &[f32],
    ) -> Result<RunId, BackendError> {
        Ok(self.add(data, workers, initial)?)
    }

    fn execute(&mut self, work: &mut [(RunId, &mut Program)]) -> Result<(), BackendError> {
        Ok(self.flush(work)?)
    }

    fn remove_run(&mut self, run: RunId) {
        if let Some(removed) = self.runs[run.0].take() {
            let still_used = self.runs.iter().flatten().any(|r| r.data == removed.data);
            if !still_used {
                self.datasets[removed.data] = None;
            }
        }
    }

    fn worker_parameters(&mut self, run: RunId, worker: usize) -> Vec<f32> {
        self.download_part(&self.run(run).params, worker * self.n)
    }

    fn center_parameters(&mut self, run: RunId) -> Vec<f32> {
        self.download_part(&self.run(run).center, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_keep_their_kind() {
        let lost = GpuError::DeviceLost { reason: "reset".into() };
        assert!(matches!(BackendError::from(lost), BackendError::DeviceLost(m) if m.contains("reset")));
        let memory = GpuError::OutOfMemory { what: "slots".into() };
        assert!(matches!(BackendError::from(memory), BackendError::OutOfMemory(m) if m.contains("slots")));
        let shader = GpuError::Shader { label: "gather rows".into(), message: "bad".into() };
        assert!(matches!(BackendError::from(shader), BackendError::Kernel(m) if m.contains("gather rows")));
    }

    #[test]
    fn chunk_totals_weigh_each_chunk_by_its_rows() {
        // 600 rows: a chunk of 512 with mean 1.0 and 500 correct, one of 88 with
        // mean 2.0 and 80 correct.
        let values = [1.0f32, f32::from_bits(500), 2.0, f32::from_bits(80)];
        assert_eq!(chunk_totals(&values, 600), (580, 512.0 + 176.0));
        assert_eq!(chunk_totals(&[], 0), (0, 0.0));
    }
}
