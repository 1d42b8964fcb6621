//! Minibatch gathering (`shaders/batch.wgsl`): a batch's feature rows and labels
//! copied out of a training set, plain or one-byte coded.

use bytemuck::{Pod, Zeroable};

use super::{Span, fits, one_dimension, word};
use crate::numerics::gpu::GpuError;
use crate::numerics::gpu::context::{GpuBuffer, Recording};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct BatchParams {
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
    /// One-byte codes, four to a word, into `palette` (see [`crate::numerics::gpu::codes`]).
    Coded {
        /// The codes.
        codes: &'b GpuBuffer<u32>,
        /// The values they stand for.
        palette: &'b GpuBuffer<f32>,
    },
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
}
