//! The GPU backend: every run's state on the device, every flush one submission.
//!
//! Per run the device holds each worker's parameters and optimizer state (m, v,
//! D), the center and the message slots; each distinct dataset ([`SplitData`]) is
//! uploaded once and shared by the runs on it. [`GpuBackend::execute`] records
//! every pending operation of every given run, run after run and each run's in
//! recorded order, into one [`Recording`], submits it once and reads every scalar
//! of the flush back in one download.
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

use std::sync::Arc;

use super::{Backend, BackendError, Evaluation, Op, Params, Program, RunId, TestSet};
use crate::data::{Samples, SplitData};
use crate::numerics::gpu::reduce::partials_per_pair;
use crate::numerics::gpu::{
    ApplyDifference, BarrierAverage, BarrierUpdate, Batched, Gemm, GpuBuffer, GpuContext, GpuError,
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

/// Activations and gradients every local step and evaluation uses in turn.
struct Scratch {
    /// Rows the per-layer buffers hold.
    rows: usize,
    /// Probe vectors `probes` holds.
    probe_capacity: usize,
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
    grad: GpuBuffer<f32>,
    product: GpuBuffer<f32>,
    probes: GpuBuffer<f32>,
}

impl Scratch {
    fn new(context: &GpuContext, mlp: &Mlp, rows: usize, probes: usize) -> Result<Self, GpuError> {
        let n = mlp.parameter_count();
        let per_layer = |name: &str| -> Result<Vec<GpuBuffer<f32>>, GpuError> {
            (0..mlp.layers()).map(|l| context.zeros(&format!("{name} {l}"), rows * mlp.fan_out(l))).collect()
        };
        Ok(Scratch {
            rows,
            probe_capacity: probes,
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
            grad: context.zeros("gradient", n)?,
            product: context.zeros("Hessian-vector product", n)?,
            probes: context.zeros("probes", probes.max(1) * n)?,
        })
    }
}

/// Where an operation's operands and results go in the flush's tables.
#[derive(Clone, Copy, Default)]
struct Place {
    /// Its words in the table (batch indices, then probe keys; a gap's pair).
    table: usize,
    /// Its first word in the results.
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
        let scratch = Scratch::new(&context, &mlp, batch.max(1), probes)?;
        Ok(GpuBackend {
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

    /// Lays out the flush: each op's table words and results, the table itself,
    /// and what the scratch and the slots must hold.
    fn plan(&self, work: &[(RunId, &mut Program)]) -> Plan {
        let mut plan = Plan::default();
        for (run, program) in work {
            let state = self.run(*run);
            let data = self.datasets[state.data].as_ref().expect("a run's dataset is on the device");
            let mut places = Vec::with_capacity(program.ops().len());
            let mut slots = 0;
            for op in program.ops() {
                let place = Place { table: plan.table.len(), results: plan.results };
                match op {
                    Op::LocalStep { batch, probes, .. } => {
                        let indices = program.indices(batch);
                        let keys = program.keys(probes);
                        plan.table.extend_from_slice(indices);
                        plan.table.extend_from_slice(keys);
                        plan.rows = plan.rows.max(indices.len());
                        plan.probes = plan.probes.max(keys.len());
                        plan.results += 2;
                    }
                    Op::Gap { slot, .. } => {
                        plan.table.extend([(slot * self.n) as u32, 0]);
                        plan.results += partials_per_pair(self.n);
                        slots = slots.max(slot + 1);
                    }
                    Op::Evaluate { params, on, .. } => {
                        let (test, train) = (data.test_set(*on), &data.train_eval);
                        plan.rows = plan.rows.max(test.rows).max(train.rows);
                        plan.results +=
                            2 * (test.rows.div_ceil(EVAL_CHUNK) + train.rows.div_ceil(EVAL_CHUNK));
                        if let Params::Slot(slot) = params {
                            slots = slots.max(slot + 1);
                        }
                    }
                    Op::SnapshotWorker { slot, .. }
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
                places.push(place);
            }
            plan.slots.push(slots);
            plan.places.push(places);
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
        if plan.rows > self.scratch.rows || plan.probes > self.scratch.probe_capacity {
            let rows = plan.rows.max(self.scratch.rows);
            let probes = plan.probes.max(self.scratch.probe_capacity);
            self.scratch = Scratch::new(&context, &self.mlp, rows, probes)?;
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
        for ((run, program), places) in work.iter().zip(&plan.places) {
            let state = self.runs[run.0].as_ref().expect("a run of this backend that was not removed");
            let data = self.datasets[state.data].as_ref().expect("a run's dataset is on the device");
            let flush = Flush {
                mlp: &self.mlp,
                optimizer: &self.optimizer,
                scratch: &self.scratch,
                table: &table,
                results: &results,
            };
            for (op, place) in program.ops().iter().zip(places) {
                flush.record(&mut recording, state, data, program, op, *place)?;
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
    /// Per run, per op.
    places: Vec<Vec<Place>>,
    /// Per run, the slots it needs room for.
    slots: Vec<usize>,
    table: Vec<u32>,
    results: usize,
    /// The most rows a forward pass handles.
    rows: usize,
    /// The most probes of a local step.
    probes: usize,
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

/// One product of a batch of one.
fn gemm(m: usize, n: usize, k: usize, beta: f32, a: MatrixLayout, b: MatrixLayout, c: MatrixLayout) -> Gemm {
    Gemm { m, n, k, batch: 1, alpha: 1.0, beta, a, b, c }
}

const AT_ZERO: Batched = Batched { offset: 0, batch_stride: 0 };

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
            Op::LocalStep { worker, step, batch, probes, .. } => {
                let rows = batch.len();
                let keys = place.table + rows..place.table + rows + probes.len();
                self.record_step(
                    rec,
                    run,
                    data,
                    *worker as usize,
                    *step,
                    (place.table, rows),
                    keys,
                    place.results,
                )?;
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

    /// z_l = a_{l−1} W_lᵀ + b_l, a_l = σ(z_l) for every layer, on `rows` rows of
    /// `input` with the parameters at `params.1` of `params.0`.
    fn forward(
        &self,
        rec: &mut Recording<'_>,
        input: &GpuBuffer<f32>,
        rows: usize,
        (params, base): (&GpuBuffer<f32>, usize),
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let last = self.mlp.layers() - 1;
        for l in 0..=last {
            let (w, b, fan_in, fan_out) = layer(self.mlp, l);
            let a = if l == 0 { input } else { &s.post[l - 1] };
            let product = gemm(
                rows,
                fan_out,
                fan_in,
                0.0,
                dense(0, fan_in),
                dense(base + w, fan_in).t(),
                dense(0, fan_out),
            );
            rec.matmul(&product, a, params, &s.pre[l])?;
            let shape = LayerShape { rows, cols: fan_out, batch: 1 };
            let bias = (params, Batched { offset: base + b, batch_stride: 0 });
            if l < last {
                rec.bias_activation(
                    shape,
                    Some(self.mlp.activation()),
                    bias,
                    (&s.pre[l], AT_ZERO),
                    Some((&s.post[l], AT_ZERO)),
                )?;
            } else {
                rec.bias_activation(shape, None, bias, (&s.pre[l], AT_ZERO), None)?;
            }
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
        params: (&GpuBuffer<f32>, usize),
        set: &DeviceSet,
        at: usize,
    ) -> Result<(), GpuError> {
        if set.rows == 0 {
            return Ok(());
        }
        self.forward(rec, &set.x, set.rows, params)?;
        let buffers = self.softmax(&set.y, false);
        rec.cross_entropy(set.rows, self.mlp.classes(), buffers, None, self.results)?;
        rec.chunk_losses(set.rows, EVAL_CHUNK, buffers, Span::at(self.results, at))
    }

    /// One local step of worker `w`: gather, forward, loss, backward, on refresh
    /// steps the Hutchinson estimate (one R-pass pair per probe), then the
    /// optimizer step. The loss goes to `results[at]`.
    #[allow(clippy::too_many_arguments)]
    fn record_step(
        &self,
        rec: &mut Recording<'_>,
        run: &GpuRun,
        data: &DeviceData<'_>,
        w: usize,
        step: u64,
        (indices, rows): (usize, usize),
        keys: std::ops::Range<usize>,
        at: usize,
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let mlp = self.mlp;
        let n = mlp.parameter_count();
        let base = w * n;
        let last = mlp.layers() - 1;
        let classes = mlp.classes();
        let activation = mlp.activation();
        let params = &run.params;
        rec.gather_rows(
            rows,
            mlp.inputs(),
            Span::at(self.table, indices),
            &data.train.x,
            &data.train.y,
            &s.batch_x,
            &s.batch_y,
        )?;
        self.forward(rec, &s.batch_x, rows, (params, base))?;
        let scale = 1.0f32 / rows as f32;
        let buffers = self.softmax(&s.batch_y, false);
        rec.cross_entropy(rows, classes, buffers, Some(scale), self.results)?;
        rec.chunk_losses(rows, rows, buffers, Span::at(self.results, at))?;
        // Backward: ∇W_l = δ_lᵀ a_{l−1}, ∇b_l = Σ_rows δ_l, δ_{l−1} = (δ_l W_l) ⊙ σ'.
        for l in (0..=last).rev() {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let g =
                gemm(fan_out, fan_in, rows, 0.0, dense(0, fan_out).t(), dense(0, fan_in), dense(wo, fan_in));
            rec.matmul(&g, &s.delta[l], input, &s.grad)?;
            rec.column_sums(rows, fan_out, Span::at(&s.delta[l], 0), Span::at(&s.grad, bo))?;
            if l > 0 {
                let up = gemm(
                    rows,
                    fan_in,
                    fan_out,
                    0.0,
                    dense(0, fan_out),
                    dense(base + wo, fan_in),
                    dense(0, fan_in),
                );
                rec.matmul(&up, &s.delta[l], params, &s.upstream[l - 1])?;
                let spans = [
                    Span::at(&s.upstream[l - 1], 0),
                    Span::at(&s.pre[l - 1], 0),
                    Span::at(&s.post[l - 1], 0),
                ];
                rec.times_derivative(activation, rows * fan_in, spans, Span::at(&s.delta[l - 1], 0))?;
            }
        }
        let adahessian = matches!(self.optimizer, Optimizer::AdaHessian(_));
        if adahessian && !keys.is_empty() {
            let diagonal = run.diagonal.as_ref().expect("AdaHessian runs hold a diagonal");
            let count = keys.len();
            let layout = ProbeLayout { len: n, first: 0, offset: 0, stride: n };
            rec.probes_from(self.table, keys, layout, &s.probes)?;
            let weight = 1.0f32 / count as f32;
            for q in 0..count {
                self.record_r_passes(rec, params, base, rows, q * n)?;
                let spans = [Span::at(&s.probes, q * n), Span::at(&s.product, 0)];
                rec.hutchinson(n, spans, weight, q == 0, Span::at(diagonal, base))?;
            }
        }
        let at = StateOffsets { params: base, grad: 0, first: base, second: base, diagonal: base, len: n };
        let buffers = OptimizerBuffers {
            params,
            grad: &s.grad,
            first: &run.first,
            second: run.second.as_ref(),
            diagonal: run.diagonal.as_ref(),
        };
        rec.optimizer_steps(&[OptimizerStep { optimizer: self.optimizer, step, at }], buffers)
    }

    /// The R-forward and R-backward passes in direction `probes[v..v + n]`,
    /// after the forward and backward passes: H·v into the product buffer.
    fn record_r_passes(
        &self,
        rec: &mut Recording<'_>,
        params: &GpuBuffer<f32>,
        base: usize,
        rows: usize,
        v: usize,
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let mlp = self.mlp;
        let last = mlp.layers() - 1;
        let activation = mlp.activation();
        // R{z_l} = a_{l−1} V_lᵀ + R{a_{l−1}} W_lᵀ + c_l;  R{a_l} = σ'(z_l) ⊙ R{z_l}.
        for l in 0..=last {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let direction = gemm(
                rows,
                fan_out,
                fan_in,
                0.0,
                dense(0, fan_in),
                dense(v + wo, fan_in).t(),
                dense(0, fan_out),
            );
            rec.matmul(&direction, input, &s.probes, &s.r_pre[l])?;
            if l > 0 {
                let chained = gemm(
                    rows,
                    fan_out,
                    fan_in,
                    1.0,
                    dense(0, fan_in),
                    dense(base + wo, fan_in).t(),
                    dense(0, fan_out),
                );
                rec.matmul(&chained, &s.r_post[l - 1], params, &s.r_pre[l])?;
            }
            let shape = LayerShape { rows, cols: fan_out, batch: 1 };
            let bias = (&s.probes, Batched { offset: v + bo, batch_stride: 0 });
            rec.bias_activation(shape, None, bias, (&s.r_pre[l], AT_ZERO), None)?;
            if l < last {
                let spans = [Span::at(&s.r_pre[l], 0), Span::at(&s.pre[l], 0), Span::at(&s.post[l], 0)];
                rec.times_derivative(activation, rows * fan_out, spans, Span::at(&s.r_post[l], 0))?;
            }
        }
        let scale = 1.0f32 / rows as f32;
        rec.r_output(rows, mlp.classes(), self.softmax(&s.batch_y, true), scale, self.results)?;
        // (Hv)_W = R{δ_l}ᵀ a_{l−1} + δ_lᵀ R{a_{l−1}};  (Hv)_b = Σ_rows R{δ_l};
        // R{δ_{l−1}} = (R{δ_l} W_l + δ_l V_l) ⊙ σ' + g ⊙ σ'' ⊙ R{z}.
        for l in (0..=last).rev() {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let first =
                gemm(fan_out, fan_in, rows, 0.0, dense(0, fan_out).t(), dense(0, fan_in), dense(wo, fan_in));
            rec.matmul(&first, &s.r_delta[l], input, &s.product)?;
            if l > 0 {
                let second = gemm(
                    fan_out,
                    fan_in,
                    rows,
                    1.0,
                    dense(0, fan_out).t(),
                    dense(0, fan_in),
                    dense(wo, fan_in),
                );
                rec.matmul(&second, &s.delta[l], &s.r_post[l - 1], &s.product)?;
            }
            rec.column_sums(rows, fan_out, Span::at(&s.r_delta[l], 0), Span::at(&s.product, bo))?;
            if l > 0 {
                let through = gemm(
                    rows,
                    fan_in,
                    fan_out,
                    0.0,
                    dense(0, fan_out),
                    dense(base + wo, fan_in),
                    dense(0, fan_in),
                );
                rec.matmul(&through, &s.r_delta[l], params, &s.r_upstream[l - 1])?;
                let along = gemm(
                    rows,
                    fan_in,
                    fan_out,
                    1.0,
                    dense(0, fan_out),
                    dense(v + wo, fan_in),
                    dense(0, fan_in),
                );
                rec.matmul(&along, &s.delta[l], &s.probes, &s.r_upstream[l - 1])?;
                let spans = [
                    Span::at(&s.r_upstream[l - 1], 0),
                    Span::at(&s.pre[l - 1], 0),
                    Span::at(&s.post[l - 1], 0),
                    Span::at(&s.upstream[l - 1], 0),
                    Span::at(&s.r_pre[l - 1], 0),
                ];
                rec.r_backward(activation, rows * fan_in, spans, Span::at(&s.r_delta[l - 1], 0))?;
            }
        }
        Ok(())
    }
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
