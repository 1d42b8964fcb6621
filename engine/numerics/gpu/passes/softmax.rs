//! Softmax cross-entropy and evaluation sums (`shaders/softmax.wgsl`): per-row
//! losses and correctness, output deltas, R{δ_L}, and chunk means.

use bytemuck::{Pod, Zeroable};

use super::{Span, fits, one_dimension, word};
use crate::numerics::gpu::GpuError;
use crate::numerics::gpu::context::{GpuBuffer, Recording};
use crate::numerics::gpu::kernel::Kernel;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct SoftmaxParams {
    rows: u32,
    classes: u32,
    label_offset: u32,
    z_offset: u32,
    p_offset: u32,
    delta_offset: u32,
    scale: f32,
    mode: u32,
    results_offset: u32,
    pad: [u32; 3],
}

/// The buffers of a softmax cross-entropy: labels, logits, probabilities, deltas
/// and the per-row statistics (`2 · rows`: losses, then 1/0 for correct rows).
#[derive(Clone, Copy, Debug)]
pub struct SoftmaxBuffers<'b> {
    /// The rows' labels.
    pub labels: Span<'b, u32>,
    /// The logits z (or R{z} for [`Recording::r_output`]).
    pub z: Span<'b, f32>,
    /// The probabilities p.
    pub prob: Span<'b, f32>,
    /// δ (or R{δ}).
    pub delta: Span<'b, f32>,
    /// Per-row losses and correctness, from offset 0.
    pub stats: &'b GpuBuffer<f32>,
}

impl Recording<'_> {
    /// Records the softmax cross-entropy of `rows` rows of `classes` logits: the
    /// per-row loss and correctness into `stats`, and with `scale = Some(1/B)`
    /// (training) the probabilities and δ = (p − onehot)·scale.
    pub fn cross_entropy(
        &mut self,
        rows: usize,
        classes: usize,
        buffers: SoftmaxBuffers<'_>,
        scale: Option<f32>,
        results: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        const OP: &str = "softmax cross-entropy";
        let params = self.softmax_params(OP, rows, classes, buffers, scale.is_some())?;
        let params =
            SoftmaxParams { scale: scale.unwrap_or(1.0), mode: u32::from(scale.is_some()), ..params };
        let kernel = &self.context.kernels.passes.cross_entropy;
        self.softmax_dispatch(kernel, params, buffers, results, rows)
    }

    /// Records R{δ_L} = p ⊙ (R{z} − ⟨p, R{z}⟩)·scale for `rows` rows (R{z} in
    /// `buffers.z`, the result in `buffers.delta`).
    pub fn r_output(
        &mut self,
        rows: usize,
        classes: usize,
        buffers: SoftmaxBuffers<'_>,
        scale: f32,
        results: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        const OP: &str = "R output delta";
        let params = SoftmaxParams { scale, ..self.softmax_params(OP, rows, classes, buffers, true)? };
        let kernel = &self.context.kernels.passes.r_output;
        self.softmax_dispatch(kernel, params, buffers, results, rows)
    }

    /// Records, for each chunk of `chunk` rows of the `rows` in `buffers.stats`,
    /// the mean loss (f32 bits) and the correct count (u32) into
    /// `results[results_offset + 2c ..]`.
    pub fn chunk_losses(
        &mut self,
        rows: usize,
        chunk: usize,
        buffers: SoftmaxBuffers<'_>,
        results: Span<'_, f32>,
    ) -> Result<(), GpuError> {
        const OP: &str = "chunk losses";
        if rows == 0 {
            return Ok(());
        }
        let chunks = rows.div_ceil(chunk.max(1));
        let params = SoftmaxParams {
            rows: word(OP, rows)?,
            mode: word(OP, chunk.max(1))?,
            results_offset: fits(OP, "results", results, 2 * chunks)?,
            ..SoftmaxParams::zeroed()
        };
        fits(OP, "statistics", Span::at(buffers.stats, 0), 2 * rows)?;
        let kernel = &self.context.kernels.passes.chunk_losses;
        let workgroups = one_dimension(OP, chunks, 64)?;
        let storage = [
            &buffers.labels.buffer.buffer,
            &buffers.z.buffer.buffer,
            &buffers.prob.buffer.buffer,
            &buffers.delta.buffer.buffer,
            &buffers.stats.buffer,
            &results.buffer.buffer,
        ];
        self.dispatch(kernel, bytemuck::bytes_of(&params), &storage, workgroups);
        Ok(())
    }

    fn softmax_params(
        &self,
        operation: &str,
        rows: usize,
        classes: usize,
        buffers: SoftmaxBuffers<'_>,
        training: bool,
    ) -> Result<SoftmaxParams, GpuError> {
        let len = rows * classes;
        let (p_offset, delta_offset) = if training {
            (fits(operation, "p", buffers.prob, len)?, fits(operation, "delta", buffers.delta, len)?)
        } else {
            (0, 0)
        };
        fits(operation, "statistics", Span::at(buffers.stats, 0), 2 * rows)?;
        Ok(SoftmaxParams {
            rows: word(operation, rows)?,
            classes: word(operation, classes)?,
            label_offset: fits(operation, "labels", buffers.labels, rows)?,
            z_offset: fits(operation, "z", buffers.z, len)?,
            p_offset,
            delta_offset,
            ..SoftmaxParams::zeroed()
        })
    }

    fn softmax_dispatch(
        &mut self,
        kernel: &Kernel,
        params: SoftmaxParams,
        buffers: SoftmaxBuffers<'_>,
        results: &GpuBuffer<f32>,
        rows: usize,
    ) -> Result<(), GpuError> {
        if rows == 0 {
            return Ok(());
        }
        let workgroups = one_dimension("softmax", rows, 64)?;
        let storage = [
            &buffers.labels.buffer.buffer,
            &buffers.z.buffer.buffer,
            &buffers.prob.buffer.buffer,
            &buffers.delta.buffer.buffer,
            &buffers.stats.buffer,
            &results.buffer,
        ];
        self.dispatch(kernel, bytemuck::bytes_of(&params), &storage, workgroups);
        Ok(())
    }
}
