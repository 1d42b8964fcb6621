//! Where a run's numbers are computed, chosen in one place from `--backend
//! auto|gpu|cpu`: `auto` takes a hardware GPU adapter when there is one and the
//! CPU otherwise (a software rasterizer such as Mesa's lavapipe is far slower than
//! the CPU backend, so only `--backend gpu` takes one); `gpu` takes the best
//! adapter `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` allow, software included, or
//! fails; `cpu` never looks for a GPU.

use std::fmt;
use std::sync::Arc;

use crate::numerics::gpu::{AdapterSelection, GpuContext, GpuError};

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// A hardware GPU if there is one, else the CPU.
    #[default]
    Auto,
    /// A GPU adapter (software ones included), or an error.
    Gpu,
    /// The CPU reference backend.
    Cpu,
}

/// A chosen device: the CPU, or a GPU context shared by every run.
#[derive(Clone, Debug)]
pub enum Device {
    /// The CPU reference backend, one run per core.
    Cpu,
    /// One GPU; every run of an invocation is executed on it together.
    Gpu(Arc<GpuContext>),
}

/// The device and why it was chosen, for the user.
#[derive(Clone, Debug)]
pub struct Chosen {
    /// The device.
    pub device: Device,
    /// Why (e.g. "no hardware GPU adapter").
    pub why: String,
}

impl Device {
    /// Chooses the device for `choice`. A `WGPU_BACKEND` that names no wgpu
    /// backend is refused (unless the CPU is chosen), never taken as "no GPU".
    pub fn choose(choice: BackendChoice) -> Result<Chosen, GpuError> {
        if let Some(problem) = crate::numerics::gpu::backend_env_problem()
            && choice != BackendChoice::Cpu
        {
            return Err(GpuError::NoAdapter { wanted: problem, seen: Vec::new() });
        }
        match choice {
            BackendChoice::Cpu => Ok(Chosen { device: Device::Cpu, why: "--backend cpu".into() }),
            BackendChoice::Gpu => {
                let context = GpuContext::new(&AdapterSelection::from_env())?;
                Ok(Chosen { device: Device::Gpu(Arc::new(context)), why: "--backend gpu".into() })
            }
            BackendChoice::Auto => {
                let hardware = AdapterSelection { allow_software: false, ..AdapterSelection::from_env() };
                Ok(match GpuContext::new(&hardware) {
                    Ok(context) => Chosen {
                        device: Device::Gpu(Arc::new(context)),
                        why: "a hardware GPU adapter (--backend auto)".into(),
                    },
                    Err(GpuError::NoAdapter { .. }) => Chosen {
                        device: Device::Cpu,
                        why: "no hardware GPU adapter (--backend auto; `faultline devices` lists them)"
                            .into(),
                    },
                    Err(error) => Chosen {
                        device: Device::Cpu,
                        why: format!("the GPU could not be used: {error} (--backend auto)"),
                    },
                })
            }
        }
    }

    /// `cpu` or `gpu`, for the manifest.
    pub fn backend(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Gpu(_) => "gpu",
        }
    }

    /// The adapter (name, backend, type, driver), or `cpu`, for the manifest.
    pub fn adapter(&self) -> String {
        match self {
            Device::Cpu => "cpu".into(),
            Device::Gpu(context) => context.adapter().to_string(),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "the cpu backend"),
            Device::Gpu(context) => write!(f, "the gpu backend on {}", context.adapter().name),
        }
    }
}
