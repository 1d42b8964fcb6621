//! The GPU backend's working buffers: activations, gradients and probes that every
//! wave and evaluation of a flush uses in turn, and how many steps a wave may hold.

use crate::numerics::gpu::{GpuBuffer, GpuContext, GpuError};
use crate::numerics::model::Mlp;

/// What the scratch must hold: rows of activations, local steps of a wave, and
/// probe vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Capacity {
    /// Rows of every per-layer buffer: a wave's steps' rows side by side, or an
    /// evaluation's.
    pub rows: usize,
    /// Local steps whose parameter-sized vectors fit.
    pub steps: usize,
    /// Probe vectors.
    pub probes: usize,
}

impl Capacity {
    pub fn max(self, other: Capacity) -> Capacity {
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
pub(super) struct Scratch {
    pub capacity: Capacity,
    pub batch_x: GpuBuffer<f32>,
    pub batch_y: GpuBuffer<u32>,
    /// Per layer, `rows × fan_out`.
    pub pre: Vec<GpuBuffer<f32>>,
    pub post: Vec<GpuBuffer<f32>>,
    pub delta: Vec<GpuBuffer<f32>>,
    pub upstream: Vec<GpuBuffer<f32>>,
    pub r_pre: Vec<GpuBuffer<f32>>,
    pub r_post: Vec<GpuBuffer<f32>>,
    pub r_delta: Vec<GpuBuffer<f32>>,
    pub r_upstream: Vec<GpuBuffer<f32>>,
    /// Per-row losses and correctness.
    pub stats: GpuBuffer<f32>,
    /// Per step: its worker's parameters (copied in), gradient, H·z, and the
    /// fresh Hessian diagonal (copied out).
    pub weights: GpuBuffer<f32>,
    pub grad: GpuBuffer<f32>,
    pub product: GpuBuffer<f32>,
    pub diagonal: GpuBuffer<f32>,
    /// Step p's probe q at (p · probes + q) · n.
    pub probes: GpuBuffer<f32>,
}

impl Scratch {
    pub fn new(context: &GpuContext, mlp: &Mlp, capacity: Capacity) -> Result<Self, GpuError> {
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
pub(super) fn max_wave(context: &GpuContext, mlp: &Mlp, batch: usize, probes: usize) -> usize {
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
