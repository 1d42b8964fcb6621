//! Elementwise layer kernels on the GPU (`shaders/elementwise.wgsl`): bias add
//! and hidden-layer activation, batched like the matrix products.

use bytemuck::{Pod, Zeroable};

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, groups, kernel, module};
use crate::numerics::config::Activation;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    z_offset: u32,
    z_batch: u32,
    bias_offset: u32,
    bias_batch: u32,
    a_offset: u32,
    a_batch: u32,
}

#[derive(Debug)]
pub(super) struct Pipelines {
    bias_add: Kernel,
    relu: Kernel,
    tanh: Kernel,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let module = module(device, "elementwise.wgsl", include_str!("../../../shaders/elementwise.wgsl"))?;
        let size = size_of::<Params>();
        let activated = [Access::Read, Access::ReadWrite, Access::ReadWrite];
        Ok(Pipelines {
            bias_add: kernel(device, &module, "bias add", "bias_add", size, &activated[..2], &[])?,
            relu: kernel(
                device,
                &module,
                "bias + relu",
                "bias_activation",
                size,
                &activated,
                &[("ACTIVATION", 1.0)],
            )?,
            tanh: kernel(
                device,
                &module,
                "bias + tanh",
                "bias_activation",
                size,
                &activated,
                &[("ACTIVATION", 2.0)],
            )?,
        })
    }
}

/// A batch of `[rows][cols]` row-major matrices (or of `[cols]` bias vectors):
/// batch b at `offset + b · batch_stride`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batched {
    /// First element of batch 0.
    pub offset: usize,
    /// Distance between batches.
    pub batch_stride: usize,
}

/// The shape of a [`Recording::bias_activation`]: `batch` matrices of
/// `rows × cols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    /// Rows (samples).
    pub rows: usize,
    /// Columns (units).
    pub cols: usize,
    /// Independent matrices.
    pub batch: usize,
}

fn check(name: &str, buffer: &GpuBuffer<f32>, at: Batched, len: usize, batch: usize) -> Result<(), String> {
    let end = at.offset + (batch - 1) * at.batch_stride + len;
    if end > buffer.len() {
        return Err(format!(
            "{name} needs {end} elements of '{}', which has {}",
            buffer.label(),
            buffer.len()
        ));
    }
    Ok(())
}

impl Recording<'_> {
    /// Records `z[r][c] += bias[c]` and, with an activation, `a = σ(z)` (`a`
    /// must then be given, in another buffer than `z`); `None` leaves `a` alone
    /// (the output layer's logits).
    pub fn bias_activation(
        &mut self,
        shape: LayerShape,
        activation: Option<Activation>,
        bias: (&GpuBuffer<f32>, Batched),
        z: (&GpuBuffer<f32>, Batched),
        a: Option<(&GpuBuffer<f32>, Batched)>,
    ) -> Result<(), GpuError> {
        let error = |message: String| GpuError::Shape { operation: "bias and activation".into(), message };
        if shape.rows == 0 || shape.cols == 0 || shape.batch == 0 {
            return Ok(());
        }
        let len = shape.rows * shape.cols;
        check("the bias", bias.0, bias.1, shape.cols, shape.batch).map_err(error)?;
        check("z", z.0, z.1, len, shape.batch).map_err(error)?;
        let fits = |v: usize| u32::try_from(v).map_err(|_| error(format!("{v} exceeds 32 bits")));
        let mut params = Params {
            rows: fits(shape.rows)?,
            cols: fits(shape.cols)?,
            z_offset: fits(z.1.offset)?,
            z_batch: fits(z.1.batch_stride)?,
            bias_offset: fits(bias.1.offset)?,
            bias_batch: fits(bias.1.batch_stride)?,
            a_offset: 0,
            a_batch: 0,
        };
        let workgroups = [groups(len, 256), fits(shape.batch)?, 1];
        if workgroups[0] > 65_535 || workgroups[1] > 65_535 {
            return Err(error(format!("{workgroups:?} workgroups exceed 65535 per dimension")));
        }
        let kernels = &self.context.kernels.elementwise;
        match (activation, a) {
            (None, _) => {
                self.dispatch(
                    &kernels.bias_add,
                    bytemuck::bytes_of(&params),
                    &[&bias.0.buffer, &z.0.buffer],
                    workgroups,
                );
            }
            (Some(activation), Some(a)) => {
                if a.0.buffer == z.0.buffer || a.0.buffer == bias.0.buffer {
                    return Err(error(
                        "the activations must be in another buffer than z and the bias".into(),
                    ));
                }
                check("a", a.0, a.1, len, shape.batch).map_err(error)?;
                params.a_offset = fits(a.1.offset)?;
                params.a_batch = fits(a.1.batch_stride)?;
                let kernel = match activation {
                    Activation::Relu => &kernels.relu,
                    Activation::Tanh => &kernels.tanh,
                };
                self.dispatch(
                    kernel,
                    bytemuck::bytes_of(&params),
                    &[&bias.0.buffer, &z.0.buffer, &a.0.buffer],
                    workgroups,
                );
            }
            (Some(_), None) => return Err(error("an activation needs an output buffer".into())),
        }
        Ok(())
    }
}
