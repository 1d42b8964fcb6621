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

pub mod codes;
mod context;
pub mod copy;
pub mod elastic;
pub mod elementwise;
mod kernel;
pub mod matmul;
pub mod optim;
pub mod passes;
pub mod probe;
pub mod reduce;
pub mod weigh;

pub use context::{
    AdapterSelection, AdapterSummary, Counters, Counts, GpuBuffer, GpuContext, GpuError, Recording,
    backend_env_problem, list_adapters,
};
pub use elastic::{ApplyDifference, BarrierAverage, BarrierUpdate, ElasticWeight, MasterUpdate};
pub use elementwise::{Batched, LayerShape};
pub use matmul::{Gemm, MatrixLayout};
pub use optim::{OptimizerBuffers, OptimizerStep, StateOffsets};
pub use passes::{Copies, Features, SoftmaxBuffers, Span};
pub use probe::ProbeLayout;
pub use weigh::RunWeighing;

/// Every compiled kernel, built once per context.
#[derive(Debug)]
struct Kernels {
    copy: copy::Pipelines,
    elastic: elastic::Pipelines,
    elementwise: elementwise::Pipelines,
    matmul: matmul::Pipelines,
    optim: optim::Pipelines,
    passes: passes::Pipelines,
    probe: probe::Pipelines,
    reduce: reduce::Pipelines,
    weigh: weigh::Pipelines,
}

impl Kernels {
    fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        Ok(Kernels {
            copy: copy::Pipelines::new(device)?,
            elastic: elastic::Pipelines::new(device)?,
            elementwise: elementwise::Pipelines::new(device)?,
            matmul: matmul::Pipelines::new(device)?,
            optim: optim::Pipelines::new(device)?,
            passes: passes::Pipelines::new(device)?,
            probe: probe::Pipelines::new(device)?,
            reduce: reduce::Pipelines::new(device)?,
            weigh: weigh::Pipelines::default(),
        })
    }
}
