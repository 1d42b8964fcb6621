//! The elementwise and column parts of the backward and R-passes
//! (`shaders/backprop.wgsl`): bias gradients as column sums, σ' and σ'' products,
//! and the Hutchinson accumulation.

use bytemuck::{Pod, Zeroable};

use super::{Span, fits, one_dimension, shape, word};
use crate::numerics::config::Activation;
use crate::numerics::gpu::GpuError;
use crate::numerics::gpu::context::Recording;
use crate::numerics::gpu::kernel::Kernel;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct BackpropParams {
    count: u32,
    rows: u32,
    cols: u32,
    offsets: [u32; 5],
    off_out: u32,
    weight: f32,
    first: u32,
    strides: [u32; 3],
    pad: [u32; 2],
}

/// Copies of a repeated column-sum or Hutchinson operation: copy b reads its
/// first two inputs and writes its output at each span's offset + b · stride.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Copies {
    /// How many.
    pub count: usize,
    /// Between consecutive copies of the first input, the second, and the output.
    pub strides: [usize; 3],
}

impl Copies {
    /// One operation.
    pub const ONE: Copies = Copies { count: 1, strides: [0; 3] };
}

/// The operands of a backprop kernel: up to five inputs and the output.
struct Operands<'b> {
    inputs: [Option<Span<'b, f32>>; 5],
    out: Span<'b, f32>,
}

impl Recording<'_> {
    #[allow(clippy::too_many_arguments)]
    fn backprop(
        &mut self,
        operation: &str,
        kernel: &Kernel,
        operands: Operands<'_>,
        count: usize,
        (rows, cols): (usize, usize),
        (weight, first): (f32, bool),
        threads: (usize, usize),
        copies: Copies,
    ) -> Result<(), GpuError> {
        if threads.0 == 0 || copies.count == 0 {
            return Ok(());
        }
        let input_len = if rows > 0 { rows * cols } else { count };
        let out_len = if rows > 0 { cols } else { count };
        // Where the last copy's operand starts: if it fits, every copy's does.
        let last = |offset: usize, stride: usize| offset + (copies.count - 1) * stride;
        let mut offsets = [0u32; 5];
        let mut buffers = Vec::with_capacity(6);
        let Some(fallback) = operands.inputs[0] else {
            return Err(shape(operation, "the first input is missing".into()));
        };
        for (i, input) in operands.inputs.iter().enumerate() {
            // An unused input binds the first input's buffer again (never read).
            let span = input.unwrap_or(fallback);
            if input.is_some() {
                offsets[i] = fits(operation, "input", span, input_len)?;
                let stride = copies.strides.get(i).copied().unwrap_or(0);
                fits(operation, "input", Span { offset: last(span.offset, stride), ..span }, input_len)?;
            }
            buffers.push(&span.buffer.buffer);
        }
        let out = operands.out;
        let off_out = fits(operation, "output", out, out_len)?;
        fits(operation, "output", Span { offset: last(out.offset, copies.strides[2]), ..out }, out_len)?;
        if operands.inputs.iter().flatten().any(|s| s.buffer.buffer == out.buffer.buffer) {
            return Err(shape(operation, "the output is also an input".into()));
        }
        buffers.push(&out.buffer.buffer);
        let params = BackpropParams {
            count: word(operation, count)?,
            rows: word(operation, rows)?,
            cols: word(operation, cols)?,
            offsets,
            off_out,
            weight,
            first: u32::from(first),
            strides: [
                word(operation, copies.strides[0])?,
                word(operation, copies.strides[1])?,
                word(operation, copies.strides[2])?,
            ],
            pad: [0; 2],
        };
        let mut workgroups = one_dimension(operation, threads.0, threads.1)?;
        workgroups[1] = word(operation, copies.count)?;
        if workgroups[1] > 65_535 {
            return Err(shape(operation, format!("{} copies exceed 65535", copies.count)));
        }
        self.dispatch(kernel, bytemuck::bytes_of(&params), &buffers, workgroups);
        Ok(())
    }

    /// Records `out[c] = Σ_r matrix[r][c]` (rows in order) for a `rows × cols`
    /// row-major matrix, a bias gradient, for each of `copies` (the matrix's
    /// stride first, the output's last).
    pub fn column_sums(
        &mut self,
        rows: usize,
        cols: usize,
        matrix: Span<'_, f32>,
        out: Span<'_, f32>,
        copies: Copies,
    ) -> Result<(), GpuError> {
        let kernel = &self.context.kernels.passes.column_sums;
        let operands = Operands { inputs: [Some(matrix), None, None, None, None], out };
        let threads = (cols, 64);
        self.backprop("column sums", kernel, operands, 0, (rows, cols), (1.0, false), threads, copies)
    }

    /// Records `out = x ⊙ σ'(z)` over `count` elements (σ' from z for ReLU, from
    /// a = σ(z) for tanh): a hidden δ from its upstream gradient, or R{a} from R{z}.
    pub fn times_derivative(
        &mut self,
        activation: Activation,
        count: usize,
        [x, z, a]: [Span<'_, f32>; 3],
        out: Span<'_, f32>,
    ) -> Result<(), GpuError> {
        let kernel = &self.context.kernels.passes.derivatives(activation).times_derivative;
        let operands = Operands { inputs: [Some(x), Some(z), Some(a), None, None], out };
        let threads = (count, 256);
        self.backprop("times σ'", kernel, operands, count, (0, 0), (1.0, false), threads, Copies::ONE)
    }

    /// Records R{δ} = R{up} ⊙ σ'(z) + g ⊙ σ''(z) ⊙ R{z} over `count` elements
    /// (σ'' = 0 for ReLU).
    pub fn r_backward(
        &mut self,
        activation: Activation,
        count: usize,
        [r_up, z, a, g, r_z]: [Span<'_, f32>; 5],
        out: Span<'_, f32>,
    ) -> Result<(), GpuError> {
        let kernel = &self.context.kernels.passes.derivatives(activation).r_backward;
        let operands = Operands { inputs: [Some(r_up), Some(z), Some(a), Some(g), Some(r_z)], out };
        let threads = (count, 256);
        self.backprop("R backward", kernel, operands, count, (0, 0), (1.0, false), threads, Copies::ONE)
    }

    /// Records D ← D + z ⊙ (H z) · weight over `count` elements, D starting from
    /// 0 when `first`, for each of `copies` (strides of z, H z and D).
    #[allow(clippy::too_many_arguments)]
    pub fn hutchinson(
        &mut self,
        count: usize,
        [z, hz]: [Span<'_, f32>; 2],
        weight: f32,
        first: bool,
        diagonal: Span<'_, f32>,
        copies: Copies,
    ) -> Result<(), GpuError> {
        let kernel = &self.context.kernels.passes.hutchinson;
        let operands = Operands { inputs: [Some(z), Some(hz), None, None, None], out: diagonal };
        let threads = (count, 256);
        self.backprop("hutchinson", kernel, operands, count, (0, 0), (weight, first), threads, copies)
    }
}
