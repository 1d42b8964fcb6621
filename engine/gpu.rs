//! The GPU layer: a wgpu device context and the WGSL compute kernels
//! (`shaders/*.wgsl`, one file per kernel family) that reproduce the CPU reference.
//!
//! A [`GpuContext`] owns the device, the queue and every compiled kernel. Work is
//! recorded into a [`Recording`] (kernels run in recorded order) and sent as one
//! submission; [`GpuContext::download`] waits and reads a buffer back. Every
//! kernel batches over many independent problems — (run, worker) pairs — in one
//! dispatch, and every reduction has a fixed order (no float atomics, no subgroup
//! sums), so the same inputs on the same device give the same bits.
//!
//! Nothing here panics on a device or driver failure: wgpu errors are caught by
//! error scopes or by the context's uncaptured-error handler and come back as
//! [`GpuError`].

mod context;
mod kernel;
pub mod matmul;
pub mod probe;
pub mod reduce;

pub use context::{
    AdapterSelection, AdapterSummary, GpuBuffer, GpuContext, GpuError, Recording, gpu_or_skip, list_adapters,
};
pub use matmul::{Gemm, MatrixLayout};
pub use probe::ProbeLayout;

/// Every compiled kernel, built once per context.
#[derive(Debug)]
struct Kernels {
    matmul: matmul::Pipelines,
    probe: probe::Pipelines,
    reduce: reduce::Pipelines,
}

impl Kernels {
    fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        Ok(Kernels {
            matmul: matmul::Pipelines::new(device)?,
            probe: probe::Pipelines::new(device)?,
            reduce: reduce::Pipelines::new(device)?,
        })
    }
}
