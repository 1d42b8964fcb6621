//! The GPU backend: every run's state on the device, every flush one submission.
//!
//! Each kind of state (worker parameters, optimizer moments and kept Hessian
//! diagonals, centers, message slots, recent gaps) of every run lives in one
//! arena (`arena.rs`): pages of at most one binding, a region per run, so that
//! one dispatch given a page reaches every run in it. Each distinct dataset
//! ([`SplitData`]) is uploaded once and shared by the runs on it.
//! [`GpuBackend::execute`] records every pending operation of every given run
//! into one recording, submits it (in parts, so the GPU starts early) and
//! reads every scalar of the flush back in one download.
//!
//! Operations go in the order of `schedule`: each resource's in recorded order,
//! local steps deferred while anything else can run. The other operations come
//! in groups that share no state, and a group's operations of one kind on the
//! same pages are one dispatch for all runs (gaps, weighings, master updates,
//! replies, snapshots and adopts as span copies). Then all ready steps of all
//! runs and workers go together, as waves: a wave copies its workers'
//! parameters side by side (one copy dispatch) and runs each kernel of a local
//! step once for all of them (batched matrix products, repeated column sums),
//! then one optimizer dispatch. So a flush of many runs costs a few dozen
//! dispatches per wave and a few per group instead of a few per operation.
//! Every element of every step is computed exactly as alone.
//!
//! The math is [`crate::numerics::model`]'s, kernel for kernel (see
//! `record.rs`), with fixed-order sums everywhere, so the same programs give the
//! same bits however runs are grouped into `execute` calls. It agrees with the
//! CPU backend within rounding, not bit for bit: matrix products sum in another
//! order, and where the CPU sums in f64 the GPU sums in f32 —
//!
//! - gaps: f32 partials of 4096 squares, added in f64 on the host;
//! - weights a strategy's ratio rule computes on the device (`Weigh`): the gap
//!   from the same partials added in f32, the median and the formula in f32,
//!   so that no exchange waits for the host;
//! - evaluations: as the CPU, chunks of 512 rows whose mean loss is summed in f32
//!   in row order, the chunk means added in f64 on the host;
//! - barrier averages: Σ (w_i / Σw)·slot_i in f32 in part order, the normalized
//!   weights computed in f64 and rounded once (the CPU sums w_i·slot_i in f64);
//!   within a few ulps of the largest |slot_i|.

mod arena;
mod datasets;
mod plan;
mod record;
mod scalars;
mod scratch;

use std::sync::Arc;

use super::schedule::{At, Stage};
use arena::{Arena, Region};
use datasets::DeviceData;
use plan::Plan;
use record::{Flush, Single, WaveStep};
use scalars::write_scalars;
use scratch::{Capacity, Scratch, max_wave};

use super::{Backend, BackendError, Op, Program, RunId};
use crate::data::SplitData;
use crate::numerics::config::Optimizer;
use crate::numerics::gpu::{GpuBuffer, GpuContext, GpuError, Recording};
use crate::numerics::model::Mlp;

/// Rows per chunk of an evaluation, as the CPU backend's.
const EVAL_CHUNK: usize = 512;

/// Dispatches recorded before a flush submits what it has so far.
const SUBMIT_EVERY: usize = 1024;

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
    arenas: Arenas,
    scratch: Scratch,
    /// The most local steps one wave holds (device limits and a memory budget).
    max_wave: usize,
    flush_buffers: FlushBuffers,
}

/// A flush's table and results, kept and grown rather than made per flush.
#[derive(Default)]
struct FlushBuffers {
    table: Option<GpuBuffer<u32>>,
    results: Option<GpuBuffer<f32>>,
}

impl FlushBuffers {
    /// A table of at least `table` words and results of at least `results`.
    fn fit(
        &mut self,
        context: &GpuContext,
        table: usize,
        results: usize,
    ) -> Result<(&GpuBuffer<u32>, &GpuBuffer<f32>), GpuError> {
        grow(context, &mut self.table, "flush table", table)?;
        grow(context, &mut self.results, "flush results", results)?;
        Ok((self.table.as_ref().expect("grown"), self.results.as_ref().expect("grown")))
    }
}

/// Replaces `buffer` by one of at least `len` elements (twice the old length,
/// so a growing flush soon stops making buffers) unless it holds that many.
fn grow<T: bytemuck::Pod>(
    context: &GpuContext,
    buffer: &mut Option<GpuBuffer<T>>,
    label: &str,
    len: usize,
) -> Result<(), GpuError> {
    let held = buffer.as_ref().map_or(0, GpuBuffer::len);
    if held < len.max(1) {
        *buffer = Some(context.zeros(label, len.max(1).max(2 * held))?);
    }
    Ok(())
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
/// Whether a worker's Hessian diagonal is read by later steps (AdaHessian
/// refreshing it only every `hessian_every` > 1 steps), so is kept in its run;
/// with a refresh every step the optimizer reads it where the wave computed it.
pub(super) fn keeps_diagonal(optimizer: &Optimizer) -> bool {
    matches!(optimizer, Optimizer::AdaHessian(a) if a.hessian_every > 1)
}

fn initial_slots(workers: usize) -> usize {
    (2 * workers).max(4)
}

/// One run's state, a region of each arena: worker w's vectors at `w · n` in
/// each worker region.
struct GpuRun {
    data: usize,
    params: Region,
    first: Region,
    /// AdaHessian only: v and D.
    second: Option<Region>,
    diagonal: Option<Region>,
    center: Region,
    /// Slot s at `s · n`; room for `slot_capacity` slots.
    slots: Region,
    slot_capacity: usize,
    workers: usize,
    /// Each worker's most recent weighed gap (negative before its first).
    recent: Region,
}

/// Every run's state, one arena per kind, so that a dispatch given a page of
/// each reaches every run in them.
struct Arenas {
    params: Arena,
    first: Arena,
    second: Arena,
    diagonal: Arena,
    center: Arena,
    slots: Arena,
    recent: Arena,
}

impl Arenas {
    fn new(context: &GpuContext) -> Self {
        Arenas {
            params: Arena::new(context, "worker parameters"),
            first: Arena::new(context, "first moments"),
            second: Arena::new(context, "second moments"),
            diagonal: Arena::new(context, "Hessian diagonals"),
            center: Arena::new(context, "centers"),
            slots: Arena::new(context, "slots"),
            recent: Arena::new(context, "recent gaps"),
        }
    }

    /// Gives every region of `run` back.
    fn free(&mut self, run: &GpuRun) {
        self.params.free(run.params);
        self.first.free(run.first);
        if let Some(region) = run.second {
            self.second.free(region);
        }
        if let Some(region) = run.diagonal {
            self.diagonal.free(region);
        }
        self.center.free(run.center);
        self.slots.free(run.slots);
        self.recent.free(run.recent);
    }
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
            arenas: Arenas::new(&context),
            max_wave,
            n: mlp.parameter_count(),
            context,
            mlp,
            optimizer: optimizer.clone(),
            datasets: Vec::new(),
            runs: Vec::new(),
            scratch,
            flush_buffers: FlushBuffers::default(),
        })
    }

    /// The device context.
    pub fn context(&self) -> &Arc<GpuContext> {
        &self.context
    }

    fn run(&self, run: RunId) -> &GpuRun {
        self.runs[run.0].as_ref().expect("a run of this backend that was not removed")
    }

    /// A run's state and its dataset.
    fn run_data(&self, run: RunId) -> (&GpuRun, &DeviceData<'d>) {
        let state = self.run(run);
        let data = self.datasets[state.data].as_ref().expect("a run's dataset is on the device");
        (state, data)
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
        // Before building every worker's copy on the host.
        self.arenas.params.fits(workers * n)?;
        let context = &self.context;
        let everyone: Vec<f32> = initial.iter().copied().cycle().take(workers * n).collect();
        let adahessian = matches!(self.optimizer, Optimizer::AdaHessian(_));
        let a = &mut self.arenas;
        let slot_capacity = initial_slots(workers);
        // Every region's zeroing (and any page growth) in one submission.
        let mut recording = context.record("adding a run");
        let rec = &mut recording;
        let run = GpuRun {
            data,
            params: a.params.allocate(context, rec, workers * n, Some(&everyone))?,
            first: a.first.allocate(context, rec, workers * n, None)?,
            second: adahessian.then(|| a.second.allocate(context, rec, workers * n, None)).transpose()?,
            // Kept only when later steps reuse a refreshed diagonal.
            diagonal: keeps_diagonal(&self.optimizer)
                .then(|| a.diagonal.allocate(context, rec, workers * n, None))
                .transpose()?,
            center: a.center.allocate(context, rec, n, Some(initial))?,
            slots: a.slots.allocate(context, rec, slot_capacity * n, None)?,
            slot_capacity,
            workers,
            recent: a.recent.allocate(context, rec, workers.max(1), Some(&vec![-1.0f32; workers.max(1)]))?,
        };
        context.submit(recording)?;
        self.runs.push(Some(run));
        Ok(RunId(self.runs.len() - 1))
    }

    /// About the device memory a run of `workers` workers takes when added:
    /// every worker's parameters and optimizer state, the center and the
    /// message slots (which grow when a flush needs more).
    pub fn run_bytes(mlp: &Mlp, optimizer: &Optimizer, workers: usize) -> u64 {
        let per_worker = match optimizer {
            Optimizer::AdaHessian(_) if keeps_diagonal(optimizer) => 4,
            Optimizer::AdaHessian(_) => 3,
            Optimizer::Sgd(_) => 2,
        };
        let vectors = workers * per_worker + 1 + initial_slots(workers);
        (vectors * mlp.parameter_count() * std::mem::size_of::<f32>()) as u64
    }

    /// Plans, records and submits one flush of `work`'s pending operations,
    /// then reads their scalars back.
    fn flush(&mut self, work: &mut [(RunId, &mut Program)]) -> Result<(), GpuError> {
        if work.iter().all(|(_, p)| p.ops().is_empty()) {
            for (_, program) in work.iter_mut() {
                program.executed();
            }
            return Ok(());
        }
        // Slots first: the plan's table words are where they end up.
        self.grow_slots(work)?;
        let plan = self.plan(work);
        let context = Arc::clone(&self.context);
        let capacity = self.scratch.capacity.max(plan.capacity);
        if capacity != self.scratch.capacity {
            self.scratch = Scratch::new(&context, &self.mlp, capacity)?;
        }
        let mut recording = context.record("execute");
        // Out of `self` while the stages borrow it; put back once read.
        let mut buffers = std::mem::take(&mut self.flush_buffers);
        let (table, results) = buffers.fit(&context, plan.table.len(), plan.results)?;
        context.write(table, 0, &plan.table)?;
        recording.clear(results, plan.results)?;
        self.record_stages(&mut recording, work, &plan, (table, results))?;
        context.submit(recording)?;
        let values = context.download_first(results, plan.results)?;
        self.flush_buffers = buffers;
        for ((run, program), places) in work.iter_mut().zip(&plan.places) {
            let (_, data) = self.run_data(*run);
            write_scalars(program, places, &values, data, self.n);
            program.executed();
        }
        Ok(())
    }

    /// Gives each run of `work` room for the slots its program refers to: a
    /// bigger region, the old contents copied over (submitted now, so before
    /// the flush), the old region freed.
    fn grow_slots(&mut self, work: &[(RunId, &mut Program)]) -> Result<(), GpuError> {
        let n = self.n;
        for (run, program) in work {
            let needed = plan::slots_needed(program);
            let state = self.runs[run.0].as_mut().expect("a run of this backend that was not removed");
            if needed > state.slot_capacity {
                let capacity = needed.max(2 * state.slot_capacity);
                let slots = &mut self.arenas.slots;
                let mut recording = self.context.record("growing slots");
                let bigger = slots.allocate(&self.context, &mut recording, capacity * n, None)?;
                let ((old, from), (new, to)) = (slots.of(state.slots), slots.of(bigger));
                // wgpu copies between two buffers only, and both may be one page.
                let len = state.slot_capacity * n;
                let between = self.context.zeros::<f32>("slots being moved", len)?;
                recording.copy(old, from, &between, 0, len)?;
                recording.copy(&between, 0, new, to, len)?;
                self.context.submit(recording)?;
                slots.free(std::mem::replace(&mut state.slots, bigger));
                state.slot_capacity = capacity;
            }
        }
        Ok(())
    }

    /// Records the plan's stages in order, with the flush's `table` and
    /// `results`: a single operation of one run, or a wave of local steps.
    fn record_stages(
        &self,
        recording: &mut Recording<'_>,
        work: &[(RunId, &mut Program)],
        plan: &Plan,
        (table, results): (&GpuBuffer<u32>, &GpuBuffer<f32>),
    ) -> Result<(), GpuError> {
        let flush = Flush {
            mlp: &self.mlp,
            optimizer: &self.optimizer,
            scratch: &self.scratch,
            arenas: &self.arenas,
            table,
            results,
        };
        let state_of = |at: &At| self.run_data(work[at.run].0);
        for (stage, place) in &plan.stages {
            match stage {
                Stage::Singles(group) => {
                    let group: Vec<Single<'_, '_>> = group
                        .iter()
                        .map(|at| {
                            let (run, data) = state_of(at);
                            let program = &*work[at.run].1;
                            let (op, place) = (&program.ops()[at.op], plan.places[at.run][at.op]);
                            Single { run, data, program, op, place, located: &plan.located[at.run] }
                        })
                        .collect();
                    flush.record_singles(recording, &group)?;
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
                    flush.record_wave(recording, &steps, (*rows, *probes), *place)?;
                }
            }
            // A long flush goes to the GPU in parts, so that it computes the
            // first while the rest is recorded (the same commands, in order).
            if recording.dispatches() >= SUBMIT_EVERY {
                recording.submit_so_far()?;
            }
        }
        Ok(())
    }

    /// `n` elements from `at` in `region` of `arena`.
    fn download_part(&self, arena: &Arena, region: Region, at: usize) -> Vec<f32> {
        // A failed read-back (a lost device) gives an empty vector: these are for
        // tests and debugging, and the next execute reports the error.
        let (buffer, start) = arena.of(region);
        self.context.download_range(buffer, start + at, self.n).unwrap_or_default()
    }
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
            self.arenas.free(&removed);
            let still_used = self.runs.iter().flatten().any(|r| r.data == removed.data);
            if !still_used {
                self.datasets[removed.data] = None;
            }
        }
    }

    fn worker_parameters(&mut self, run: RunId, worker: usize) -> Vec<f32> {
        self.download_part(&self.arenas.params, self.run(run).params, worker * self.n)
    }

    fn center_parameters(&mut self, run: RunId) -> Vec<f32> {
        self.download_part(&self.arenas.center, self.run(run).center, 0)
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
}
