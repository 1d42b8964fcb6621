//! The non-matrix parts of the MLP's passes on the GPU: minibatch gathering
//! (`shaders/batch.wgsl`), softmax cross-entropy and evaluation sums
//! (`shaders/softmax.wgsl`), and the elementwise and column parts of the
//! backward and R-passes (`shaders/backprop.wgsl`). The matrix products go
//! through [`Recording::matmul`], bias and activation through
//! [`Recording::bias_activation`].
//!
//! Each call records one kernel for one problem; every sum runs in one thread in
//! a fixed order.

use bytemuck::{Pod, Zeroable};

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, groups, kernel, module};
use crate::numerics::config::Activation;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BatchParams {
    rows: u32,
    inputs: u32,
    index_offset: u32,
    out_row: u32,
    coded: u32,
    pad: [u32; 3],
}

/// A training set's features on the device, as the gather reads them.
#[derive(Clone, Copy, Debug)]
pub enum Features<'b> {
    /// The f32 values.
    Plain(&'b GpuBuffer<f32>),
    /// One-byte codes, four to a word, into `palette` (see [`super::codes`]).
    Coded {
        /// The codes.
        codes: &'b GpuBuffer<u32>,
        /// The values they stand for.
        palette: &'b GpuBuffer<f32>,
    },
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SoftmaxParams {
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

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BackpropParams {
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

/// One activation's backprop kernels.
#[derive(Debug)]
struct Derivatives {
    times_derivative: Kernel,
    r_backward: Kernel,
}

#[derive(Debug)]
pub(super) struct Pipelines {
    gather: Kernel,
    cross_entropy: Kernel,
    r_output: Kernel,
    chunk_losses: Kernel,
    column_sums: Kernel,
    hutchinson: Kernel,
    relu: Derivatives,
    tanh: Derivatives,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        use Access::{Read, ReadWrite};
        let batch = module(device, "batch.wgsl", include_str!("../../../shaders/batch.wgsl"))?;
        let softmax = module(device, "softmax.wgsl", include_str!("../../../shaders/softmax.wgsl"))?;
        let backprop = module(device, "backprop.wgsl", include_str!("../../../shaders/backprop.wgsl"))?;
        let gather_storage = [Read, Read, Read, Read, ReadWrite, ReadWrite];
        let softmax_storage = [Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite];
        let backprop_storage = [Read, Read, Read, Read, Read, ReadWrite];
        let soft = |label: &str, entry: &str| {
            kernel(device, &softmax, label, entry, size_of::<SoftmaxParams>(), &softmax_storage, &[])
        };
        let back = |label: &str, entry: &str, activation: f64| {
            let constants = [("ACTIVATION", activation)];
            kernel(
                device,
                &backprop,
                label,
                entry,
                size_of::<BackpropParams>(),
                &backprop_storage,
                &constants,
            )
        };
        Ok(Pipelines {
            gather: kernel(
                device,
                &batch,
                "gather rows",
                "gather",
                size_of::<BatchParams>(),
                &gather_storage,
                &[],
            )?,
            cross_entropy: soft("softmax cross-entropy", "cross_entropy")?,
            r_output: soft("R output delta", "r_output")?,
            chunk_losses: soft("chunk losses", "chunk_losses")?,
            column_sums: back("column sums", "column_sums", 1.0)?,
            hutchinson: back("hutchinson accumulate", "hutchinson", 1.0)?,
            relu: Derivatives {
                times_derivative: back("times relu'", "times_derivative", 1.0)?,
                r_backward: back("R backward relu", "r_backward", 1.0)?,
            },
            tanh: Derivatives {
                times_derivative: back("times tanh'", "times_derivative", 2.0)?,
                r_backward: back("R backward tanh", "r_backward", 2.0)?,
            },
        })
    }

    fn derivatives(&self, activation: Activation) -> &Derivatives {
        match activation {
            Activation::Relu => &self.relu,
            Activation::Tanh => &self.tanh,
        }
    }
}

/// `len` elements of a buffer from `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Span<'b, T> {
    /// The buffer.
    pub buffer: &'b GpuBuffer<T>,
    /// The first element.
    pub offset: usize,
}

impl<'b, T> Span<'b, T> {
    /// `buffer` from `offset`.
    pub fn at(buffer: &'b GpuBuffer<T>, offset: usize) -> Self {
        Span { buffer, offset }
    }
}

fn shape(operation: &str, message: String) -> GpuError {
    GpuError::Shape { operation: operation.into(), message }
}

fn word(operation: &str, v: usize) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| shape(operation, format!("{v} exceeds 32 bits")))
}

/// Checks that `len` elements from the span's offset fit its buffer.
fn fits<T>(operation: &str, name: &str, span: Span<'_, T>, len: usize) -> Result<u32, GpuError> {
    if span.offset + len > span.buffer.len() {
        return Err(shape(
            operation,
            format!(
                "{name}: {len} elements at {} overrun '{}' ({})",
                span.offset,
                span.buffer.label(),
                span.buffer.len()
            ),
        ));
    }
    word(operation, span.offset)
}

fn one_dimension(operation: &str, n: usize, size: usize) -> Result<[u32; 3], GpuError> {
    let g = groups(n, size);
    if g > 65_535 {
        return Err(shape(operation, format!("{g} workgroups exceed 65535")));
    }
    Ok([g, 1, 1])
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
    /// Records `out_x[out_row + r] = x[indices[r]]` (rows of `inputs` features)
    /// and `out_labels[out_row + r] = labels[indices[r]]` for the `rows` indices
    /// at `indices`.
    #[allow(clippy::too_many_arguments)]
    pub fn gather_rows(
        &mut self,
        rows: usize,
        inputs: usize,
        indices: Span<'_, u32>,
        x: Features<'_>,
        labels: &GpuBuffer<u32>,
        (out_x, out_labels): (&GpuBuffer<f32>, &GpuBuffer<u32>),
        out_row: usize,
    ) -> Result<(), GpuError> {
        const OP: &str = "gather rows";
        if rows == 0 || inputs == 0 {
            return Ok(());
        }
        let params = BatchParams {
            rows: word(OP, rows)?,
            inputs: word(OP, inputs)?,
            index_offset: fits(OP, "indices", indices, rows)?,
            out_row: fits(OP, "labels", Span::at(out_labels, out_row), rows)?,
            coded: u32::from(matches!(x, Features::Coded { .. })),
            pad: [0; 3],
        };
        // Plain features need no palette: any buffer fills the binding.
        let (x, palette) = match x {
            Features::Plain(values) => (&values.buffer, &values.buffer),
            Features::Coded { codes, palette } => (&codes.buffer, &palette.buffer),
        };
        fits(OP, "rows", Span::at(out_x, out_row * inputs), rows * inputs)?;
        let workgroups = one_dimension(OP, rows * inputs, 256)?;
        let kernel = &self.context.kernels.passes.gather;
        self.dispatch(
            kernel,
            bytemuck::bytes_of(&params),
            &[&indices.buffer.buffer, x, palette, &labels.buffer, &out_x.buffer, &out_labels.buffer],
            workgroups,
        );
        Ok(())
    }

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
