//! The GPU backend: every run's state on the device, every flush one submission.
//!
//! Per run the device holds each worker's parameters and optimizer state (m, v,
//! D), the center and the message slots; each distinct dataset ([`SplitData`]) is
//! uploaded once and shared by the runs on it. [`GpuBackend::execute`] records
//! every pending operation of every given run into one recording, submits it
//! once and reads every scalar of the flush back in one download.
//!
//! Operations go in the order of `schedule`: each resource's in recorded order,
//! local steps deferred while anything else can run, then all ready steps of all
//! runs and workers together, as waves. A wave copies its
//! workers' parameters side by side and runs each kernel of a local step once
//! for all of them (batched matrix products, repeated column sums), so a flush
//! of many runs costs a few dozen dispatches per wave instead of a few dozen
//! per step. Every element of every step is computed exactly as alone.
//!
//! The math is [`crate::numerics::model`]'s, kernel for kernel (see
//! `record.rs`), with fixed-order sums everywhere, so the same programs give the
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

mod record;
mod schedule;
mod scratch;

use std::sync::Arc;

use record::{Flush, WaveStep};
use schedule::{At, Stage};
use scratch::{Capacity, Scratch, max_wave};

use super::{Backend, BackendError, Evaluation, Op, Params, Program, RunId, TestSet};
use crate::data::{Samples, SplitData};
use crate::numerics::config::Optimizer;
use crate::numerics::gpu::reduce::partials_per_pair;
use crate::numerics::gpu::{Features, GpuBuffer, GpuContext, GpuError, codes};
use crate::numerics::model::Mlp;

/// Rows per chunk of an evaluation, as the CPU backend's.
const EVAL_CHUNK: usize = 512;

impl From<GpuError> for BackendError {
    fn from(error: GpuError) -> Self {
        match error {
            GpuError::DeviceLost { .. } => BackendError::DeviceLost(error.to_string()),
            GpuError::OutOfMemory { .. } => BackendError::OutOfMemory(error.to_string()),
            GpuError::TooLarge { .. } => BackendError::Unsupported(error.to_string()),
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

/// Message slots a run starts with: two per worker, at least four.
fn initial_slots(workers: usize) -> usize {
    (2 * workers).max(4)
}

/// Samples on the device, as evaluations read them.
struct DeviceSet {
    x: GpuBuffer<f32>,
    y: GpuBuffer<u32>,
    rows: usize,
}

impl DeviceSet {
    fn upload(context: &GpuContext, label: &str, samples: &Samples) -> Result<Self, GpuError> {
        Ok(DeviceSet {
            x: bindable(context, &format!("the {label} set's features"), &samples.x)?,
            y: labels(context, label, samples)?,
            rows: samples.len(),
        })
    }
}

/// A training set on the device, as the minibatch gather reads it: one-byte
/// codes when it has at most 256 distinct feature values (every image dataset;
/// a quarter of the memory), else the values.
struct TrainSet {
    features: TrainFeatures,
    y: GpuBuffer<u32>,
}

enum TrainFeatures {
    Plain(GpuBuffer<f32>),
    Coded { codes: GpuBuffer<u32>, palette: GpuBuffer<f32> },
}

impl TrainSet {
    fn upload(context: &GpuContext, samples: &Samples) -> Result<Self, GpuError> {
        // The gather indexes features with 32-bit integers.
        if u32::try_from(samples.x.len()).is_err() {
            let (bytes, limit) = (samples.x.len() as u64, u64::from(u32::MAX));
            return Err(GpuError::TooLarge { what: "the training set's feature codes".into(), bytes, limit });
        }
        let features = match codes::encode(&samples.x) {
            Some((codes, palette)) => TrainFeatures::Coded {
                codes: bindable(context, "the training set's feature codes", &codes)?,
                palette: context.upload("train palette", &palette)?,
            },
            None => TrainFeatures::Plain(bindable(context, "the training set's features", &samples.x)?),
        };
        Ok(TrainSet { features, y: labels(context, "training", samples)? })
    }

    fn features(&self) -> Features<'_> {
        match &self.features {
            TrainFeatures::Plain(x) => Features::Plain(x),
            TrainFeatures::Coded { codes, palette } => Features::Coded { codes, palette },
        }
    }
}

/// Uploads `data` as one buffer a kernel binds whole: an error naming `what`
/// when it is larger than the adapter can bind at once.
fn bindable<T: bytemuck::Pod>(
    context: &GpuContext,
    what: &str,
    data: &[T],
) -> Result<GpuBuffer<T>, GpuError> {
    let (bytes, limit) = (std::mem::size_of_val(data) as u64, context.max_binding_bytes());
    if bytes > limit {
        return Err(GpuError::TooLarge { what: what.to_string(), bytes, limit });
    }
    context.upload(what, data)
}

fn labels(context: &GpuContext, set: &str, samples: &Samples) -> Result<GpuBuffer<u32>, GpuError> {
    let labels: Vec<u32> = samples.y.iter().map(|&y| u32::from(y)).collect();
    bindable(context, &format!("the {set} set's labels"), &labels)
}

/// One [`SplitData`] on the device. Its training and test sets are shared with
/// every other split of the same loaded data (seeds, sweep points): uploaded once.
struct DeviceData<'d> {
    source: &'d SplitData,
    train: Arc<TrainSet>,
    test: Arc<DeviceSet>,
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
        let train = self.shared_set(&data.train, |d| (&d.source.train, &d.train), TrainSet::upload)?;
        let test = self.shared_set(
            &data.test,
            |d| (&d.source.test, &d.test),
            |c, s| DeviceSet::upload(c, "test", s),
        )?;
        let device = DeviceData {
            source: data,
            train,
            test,
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

    /// `samples` on the device: the set uploaded for another split of the very
    /// same samples (`of` picks a dataset's samples and their set), or a new
    /// `upload`.
    fn shared_set<S>(
        &self,
        samples: &Arc<Samples>,
        of: for<'a> fn(&'a DeviceData<'d>) -> (&'a Arc<Samples>, &'a Arc<S>),
        upload: fn(&GpuContext, &Samples) -> Result<S, GpuError>,
    ) -> Result<Arc<S>, GpuError> {
        let known = self.datasets.iter().flatten().map(of).find(|(source, _)| Arc::ptr_eq(source, samples));
        match known {
            Some((_, set)) => Ok(Arc::clone(set)),
            None => Ok(Arc::new(upload(&self.context, samples)?)),
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
        let slot_capacity = initial_slots(workers);
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

    /// About the device memory a run of `workers` workers takes when added:
    /// every worker's parameters and optimizer state, the center and the
    /// message slots (which grow when a flush needs more).
    pub fn run_bytes(mlp: &Mlp, optimizer: &Optimizer, workers: usize) -> u64 {
        let per_worker = match optimizer {
            Optimizer::AdaHessian(_) => 4,
            Optimizer::Sgd(_) => 2,
        };
        let vectors = workers * per_worker + 1 + initial_slots(workers);
        (vectors * mlp.parameter_count() * std::mem::size_of::<f32>()) as u64
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
                    match &programs[at.run].ops()[at.op] {
                        Op::Gap { slot, .. } => {
                            plan.table.extend([(slot * self.n) as u32, 0]);
                            plan.results += partials_per_pair(self.n);
                        }
                        Op::Evaluate { on, .. } => {
                            let state = self.run(work[at.run].0);
                            let data =
                                self.datasets[state.data].as_ref().expect("a run's dataset is on the device");
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
