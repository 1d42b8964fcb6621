//! The non-matrix parts of the MLP's passes on the GPU: minibatch gathering
//! (`shaders/batch.wgsl`), softmax cross-entropy and evaluation sums
//! (`shaders/softmax.wgsl`), and the elementwise and column parts of the
//! backward and R-passes (`shaders/backprop.wgsl`). The matrix products go
//! through [`Recording::matmul`](super::Recording::matmul), bias and activation
//! through [`Recording::bias_activation`](super::Recording::bias_activation).
//!
//! Each call records one kernel for one problem; every sum runs in one thread in
//! a fixed order. This file compiles the kernels and holds the checks they
//! share; each shader's recording calls live in a submodule (`gather`,
//! `softmax`, `backprop`).

mod backprop;
mod gather;
mod softmax;

use backprop::BackpropParams;
pub use backprop::Copies;
use gather::BatchParams;
pub use gather::Features;
pub use softmax::SoftmaxBuffers;
use softmax::SoftmaxParams;

use super::GpuError;
use super::context::GpuBuffer;
use super::kernel::{Access, Kernel, groups, kernel, module};
use crate::numerics::config::Activation;

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
