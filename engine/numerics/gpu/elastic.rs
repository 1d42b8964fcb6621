//! Elastic averaging updates on the GPU (`shaders/elastic.wgsl`), as the CPU
//! backend's `master_update`, `apply_difference` and `barrier_update`, many
//! entries per dispatch. A weight is given on the host or read on the device
//! from a buffer a weigh kernel wrote (so the host need not wait for it).

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, disjoint, groups, kernel, module};

#[derive(Debug)]
pub(super) struct Pipelines {
    master_update: Kernel,
    apply_difference: Kernel,
    barrier_update: Kernel,
    barrier_average: Kernel,
    /// Bound as the weights when every weight of a dispatch is given.
    no_weights: wgpu::Buffer,
}

const UNIFORM: usize = 16;

/// The index word of a weight given as bits (`NONE` in the shader).
const GIVEN: u32 = u32::MAX;

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let module = module(device, "elastic.wgsl", include_str!("../../../shaders/elastic.wgsl"))?;
        let storage = [Access::Read, Access::ReadWrite, Access::ReadWrite, Access::Read];
        let build = |label: &str, entry: &str| kernel(device, &module, label, entry, UNIFORM, &storage, &[]);
        Ok(Pipelines {
            master_update: build("master update", "master_update")?,
            apply_difference: build("apply difference", "apply_difference")?,
            barrier_update: build("barrier update", "barrier_update")?,
            barrier_average: build("barrier average", "barrier_average")?,
            no_weights: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("no weights"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            }),
        })
    }
}

/// A weight of an elastic update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ElasticWeight {
    /// Known on the host.
    Value(f64),
    /// Computed on the device: the index in the dispatch's weights buffer.
    Computed(usize),
}

impl From<f64> for ElasticWeight {
    fn from(value: f64) -> Self {
        ElasticWeight::Value(value)
    }
}

impl ElasticWeight {
    /// Its two table words (bits, index), checked against the weights buffer.
    fn words(self, operation: &str, weights: Option<&GpuBuffer<f32>>) -> Result<[u32; 2], GpuError> {
        match (self, weights) {
            (ElasticWeight::Value(v), _) => Ok([(v as f32).to_bits(), GIVEN]),
            (ElasticWeight::Computed(at), Some(buffer)) if at < buffer.len() => Ok([0, word(operation, at)?]),
            (ElasticWeight::Computed(at), _) => {
                Err(shape(operation, format!("a computed weight at {at} outside the weights buffer")))
            }
        }
    }
}

/// One asynchronous exchange on the master: the slot holding a worker's snapshot
/// becomes e = x − c and the center moves by a_m·e.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MasterUpdate {
    /// The slot's offset in the slots buffer.
    pub slot: usize,
    /// The center's offset in the centers buffer.
    pub center: usize,
    /// The master's weight a_m.
    pub a_m: ElasticWeight,
}

/// A worker's side of an exchange: x ← x − a_w·e, e in a slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApplyDifference {
    /// The worker's offset in the workers buffer.
    pub worker: usize,
    /// The slot's offset in the slots buffer.
    pub slot: usize,
    /// The worker's weight a_w.
    pub a_w: ElasticWeight,
}

/// A synchronous round on one center: every part's slot becomes e = x − c (the
/// center before the round), then the center adds a_m·e part by part.
#[derive(Clone, Debug, PartialEq)]
pub struct BarrierUpdate {
    /// The center's offset in the centers buffer.
    pub center: usize,
    /// (slot offset, a_m) per part, in order.
    pub parts: Vec<(usize, ElasticWeight)>,
}

/// A synchronous averaging round on one center: x̃ ← Σ w_i·slot_i / Σ w_i (in f32,
/// part order, with the weights normalized in f64 and rounded once; unchanged when
/// Σ w_i = 0), then every part's slot ← x̃.
#[derive(Clone, Debug, PartialEq)]
pub struct BarrierAverage {
    /// The center's offset in the centers buffer.
    pub center: usize,
    /// (slot offset, weight w_i) per part, in order: all given, or all computed
    /// (then normalized on the device, in f32).
    pub parts: Vec<(usize, ElasticWeight)>,
}

fn shape(operation: &str, message: String) -> GpuError {
    GpuError::Shape { operation: operation.into(), message }
}

fn word(operation: &str, v: usize) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| shape(operation, format!("{v} exceeds 32 bits")))
}

fn within(operation: &str, buffer: &GpuBuffer<f32>, offset: usize, n: usize) -> Result<(), GpuError> {
    if offset + n > buffer.len() {
        return Err(shape(
            operation,
            format!("{n} elements at {offset} overrun '{}' ({})", buffer.label(), buffer.len()),
        ));
    }
    Ok(())
}

impl Recording<'_> {
    fn elastic(
        &mut self,
        kernel: ElasticKernel,
        words: &[u32],
        uniform: [u32; 4],
        buffers: [&GpuBuffer<f32>; 2],
        weights: Option<&GpuBuffer<f32>>,
        (rows, n): (usize, usize),
    ) -> Result<(), GpuError> {
        let workgroups = [groups(n, 256), word("elastic update", rows)?, 1];
        if workgroups[0] > 65_535 || workgroups[1] > 65_535 {
            return Err(shape(
                "elastic update",
                format!("{workgroups:?} workgroups exceed 65535 per dimension"),
            ));
        }
        let kernels = &self.context.kernels.elastic;
        let kernel = match kernel {
            ElasticKernel::Master => &kernels.master_update,
            ElasticKernel::Apply => &kernels.apply_difference,
            ElasticKernel::Barrier => &kernels.barrier_update,
            ElasticKernel::Average => &kernels.barrier_average,
        };
        let weights = weights.map_or(&kernels.no_weights, |w| &w.buffer);
        self.dispatch_with_table(
            kernel,
            bytemuck::bytes_of(&uniform),
            Some(words),
            &[&buffers[0].buffer, &buffers[1].buffer, weights],
            workgroups,
        );
        Ok(())
    }

    /// Records master updates of `n` elements each; no two may share a slot or a
    /// center (record them in separate dispatches, in order).
    pub fn master_updates(
        &mut self,
        n: usize,
        updates: &[MasterUpdate],
        slots: &GpuBuffer<f32>,
        centers: &GpuBuffer<f32>,
        weights: Option<&GpuBuffer<f32>>,
    ) -> Result<(), GpuError> {
        const OP: &str = "master updates";
        if updates.is_empty() || n == 0 {
            return Ok(());
        }
        if slots.buffer == centers.buffer {
            return Err(shape(OP, "slots and centers must be separate buffers".into()));
        }
        let mut words = Vec::with_capacity(updates.len() * 5);
        for u in updates {
            within(OP, slots, u.slot, n)?;
            within(OP, centers, u.center, n)?;
            words.extend([word(OP, u.slot)?, word(OP, u.center)?, word(OP, n)?]);
            words.extend(u.a_m.words(OP, weights)?);
        }
        if !disjoint(updates.iter().map(|u| u.slot), n) || !disjoint(updates.iter().map(|u| u.center), n) {
            return Err(shape(OP, "two updates of one dispatch share a slot or a center".into()));
        }
        self.elastic(ElasticKernel::Master, &words, [0; 4], [slots, centers], weights, (updates.len(), n))
    }

    /// Records worker-side differences of `n` elements each; no two may share a
    /// worker.
    pub fn apply_differences(
        &mut self,
        n: usize,
        updates: &[ApplyDifference],
        workers: &GpuBuffer<f32>,
        slots: &GpuBuffer<f32>,
        weights: Option<&GpuBuffer<f32>>,
    ) -> Result<(), GpuError> {
        const OP: &str = "apply differences";
        if updates.is_empty() || n == 0 {
            return Ok(());
        }
        if workers.buffer == slots.buffer {
            return Err(shape(OP, "workers and slots must be separate buffers".into()));
        }
        let mut words = Vec::with_capacity(updates.len() * 5);
        for u in updates {
            within(OP, workers, u.worker, n)?;
            within(OP, slots, u.slot, n)?;
            words.extend([word(OP, u.worker)?, word(OP, u.slot)?, word(OP, n)?]);
            words.extend(u.a_w.words(OP, weights)?);
        }
        if !disjoint(updates.iter().map(|u| u.worker), n) {
            return Err(shape(OP, "two updates of one dispatch share a worker".into()));
        }
        self.elastic(ElasticKernel::Apply, &words, [0; 4], [workers, slots], weights, (updates.len(), n))
    }

    /// Records synchronous rounds of `n` elements each, one per center; no two
    /// rounds may share a center or a slot.
    pub fn barrier_updates(
        &mut self,
        n: usize,
        rounds: &[BarrierUpdate],
        slots: &GpuBuffer<f32>,
        centers: &GpuBuffer<f32>,
        weights: Option<&GpuBuffer<f32>>,
    ) -> Result<(), GpuError> {
        const OP: &str = "barrier updates";
        if rounds.is_empty() || n == 0 {
            return Ok(());
        }
        if slots.buffer == centers.buffer {
            return Err(shape(OP, "slots and centers must be separate buffers".into()));
        }
        let mut head = Vec::with_capacity(rounds.len() * 4);
        let mut parts = Vec::new();
        let mut first = 0;
        for round in rounds {
            within(OP, centers, round.center, n)?;
            head.extend([
                word(OP, round.center)?,
                word(OP, n)?,
                word(OP, first)?,
                word(OP, round.parts.len())?,
            ]);
            for &(slot, a_m) in &round.parts {
                within(OP, slots, slot, n)?;
                parts.push(word(OP, slot)?);
                parts.extend(a_m.words(OP, weights)?);
            }
            first += round.parts.len();
        }
        let all_slots = rounds.iter().flat_map(|r| r.parts.iter().map(|&(s, _)| s));
        if !disjoint(rounds.iter().map(|r| r.center), n) || (first > 0 && !disjoint(all_slots, n)) {
            return Err(shape(OP, "two rounds share a center, or two parts a slot".into()));
        }
        head.extend(parts);
        let uniform = [word(OP, rounds.len())?, 0, 0, 0];
        self.elastic(ElasticKernel::Barrier, &head, uniform, [slots, centers], weights, (rounds.len(), n))
    }

    /// Records one synchronous averaging round of `n` elements (see
    /// [`BarrierAverage`]); no two parts may share a slot.
    pub fn barrier_average(
        &mut self,
        n: usize,
        round: &BarrierAverage,
        slots: &GpuBuffer<f32>,
        centers: &GpuBuffer<f32>,
        weights: Option<&GpuBuffer<f32>>,
    ) -> Result<(), GpuError> {
        const OP: &str = "barrier average";
        if round.parts.is_empty() || n == 0 {
            return Ok(());
        }
        if slots.buffer == centers.buffer {
            return Err(shape(OP, "slots and centers must be separate buffers".into()));
        }
        within(OP, centers, round.center, n)?;
        let given: Option<Vec<f64>> = round
            .parts
            .iter()
            .map(|&(_, w)| match w {
                ElasticWeight::Value(v) => Some(v),
                ElasticWeight::Computed(_) => None,
            })
            .collect();
        let computed = round.parts.iter().filter(|(_, w)| matches!(w, ElasticWeight::Computed(_))).count();
        if given.is_none() && computed < round.parts.len() {
            return Err(shape(OP, "weights must be all given or all computed".into()));
        }
        // Given weights are normalized here in f64; computed ones on the device.
        let total: f64 = given.as_ref().map_or(0.0, |g| g.iter().sum());
        let mut words = vec![word(OP, round.center)?, word(OP, n)?, 0, word(OP, round.parts.len())?];
        for &(slot, w) in &round.parts {
            within(OP, slots, slot, n)?;
            words.push(word(OP, slot)?);
            let normalized = match w {
                ElasticWeight::Value(v) if total > 0.0 => ElasticWeight::Value(v / total),
                ElasticWeight::Value(_) => ElasticWeight::Value(0.0),
                computed => computed,
            };
            words.extend(normalized.words(OP, weights)?);
        }
        if !disjoint(round.parts.iter().map(|&(s, _)| s), n) {
            return Err(shape(OP, "two parts share a slot".into()));
        }
        let average = match given {
            Some(_) => u32::from(total > 0.0),
            None => 2,
        };
        let uniform = [1, average, 0, 0];
        self.elastic(ElasticKernel::Average, &words, uniform, [slots, centers], weights, (1, n))
    }
}

/// Which elastic kernel.
#[derive(Clone, Copy)]
enum ElasticKernel {
    Master,
    Apply,
    Barrier,
    Average,
}
