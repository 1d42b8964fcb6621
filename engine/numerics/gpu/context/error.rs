//! [`GpuError`]: everything that can go wrong on the GPU side, with what to do
//! about it, and the conversion of wgpu's captured errors.

use std::fmt;

/// Everything that can go wrong on the GPU side, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuError {
    /// No adapter matched (none at all, or none of the wanted backend, name or kind).
    NoAdapter {
        /// What was asked for, in words.
        wanted: String,
        /// The adapters that were seen, one description each.
        seen: Vec<String>,
    },
    /// The adapter refused to create a device.
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's message.
        message: String,
    },
    /// The device was lost (driver reset, GPU removed, or destroyed). Fatal for
    /// this context: create a new one.
    DeviceLost {
        /// The driver's reason.
        reason: String,
    },
    /// The device ran out of memory creating or using `what`.
    OutOfMemory {
        /// The resource or operation.
        what: String,
    },
    /// A buffer is larger than the adapter binds at once.
    TooLarge {
        /// What it holds.
        what: String,
        /// Its size.
        bytes: u64,
        /// The adapter's largest storage binding.
        limit: u64,
        /// What makes it smaller.
        remedy: &'static str,
    },
    /// A WGSL kernel failed to compile or to build its pipeline: a bug in
    /// faultline's shaders or a driver that lacks a feature they use.
    Shader {
        /// The kernel's label.
        label: String,
        /// The compiler's message.
        message: String,
    },
    /// wgpu rejected a call: a bug in faultline.
    Validation {
        /// What faultline was doing.
        context: String,
        /// wgpu's message.
        message: String,
    },
    /// A driver-internal failure.
    Internal {
        /// What faultline was doing.
        context: String,
        /// wgpu's message.
        message: String,
    },
    /// Operand sizes that do not fit the operation (checked before any dispatch).
    Shape {
        /// The operation.
        operation: String,
        /// What does not fit.
        message: String,
    },
    /// Reading a buffer back failed.
    Map {
        /// The buffer's label.
        label: String,
        /// wgpu's message.
        message: String,
    },
}

impl GpuError {
    /// Whether the context is unusable after this error (create a new one, or fall
    /// back to the CPU backend).
    pub fn is_fatal(&self) -> bool {
        !matches!(self, GpuError::Shape { .. })
    }
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter { wanted, seen } => {
                write!(f, "no GPU adapter found ({wanted})")?;
                if seen.is_empty() {
                    write!(f, "; wgpu saw none at all")?;
                } else {
                    write!(f, "; wgpu saw: {}", seen.join("; "))?;
                }
                write!(
                    f,
                    ". Install a Vulkan driver (without a GPU: Mesa's software one, Debian package \
                     `mesa-vulkan-drivers`, with `libvulkan1`), check WGPU_BACKEND and \
                     WGPU_ADAPTER_NAME, or use the CPU backend"
                )
            }
            GpuError::RequestDevice { adapter, message } => write!(
                f,
                "adapter '{adapter}' refused to create a device: {message}. Try another adapter \
                 (WGPU_ADAPTER_NAME) or the CPU backend"
            ),
            GpuError::DeviceLost { reason } => write!(
                f,
                "the GPU device was lost ({reason}); results computed on it are not trustworthy. \
                 Rerun, or use the CPU backend"
            ),
            GpuError::OutOfMemory { what } => write!(
                f,
                "the GPU ran out of memory for {what}. Run fewer runs or workers at once, a smaller \
                 model or batch, or use the CPU backend"
            ),
            GpuError::TooLarge { what, bytes, limit, remedy } => write!(
                f,
                "{what} take {bytes} bytes, more than this GPU adapter binds at once ({limit} bytes). \
                 {remedy}, or use the CPU backend"
            ),
            GpuError::Shader { label, message } => write!(
                f,
                "compiling kernel '{label}' failed: {message}. This is a bug in faultline's shaders \
                 or a driver lacking a feature: please report it with the output of \
                 `faultline devices`"
            ),
            GpuError::Validation { context, message } => {
                write!(f, "wgpu rejected {context}: {message}. This is a bug in faultline: please report it")
            }
            GpuError::Internal { context, message } => write!(
                f,
                "the GPU driver failed during {context}: {message}. Update the driver, try another \
                 adapter, or use the CPU backend"
            ),
            GpuError::Shape { operation, message } => write!(f, "{operation}: {message}"),
            GpuError::Map { label, message } => write!(f, "reading buffer '{label}' back failed: {message}"),
        }
    }
}

impl std::error::Error for GpuError {}

/// Turns a captured wgpu error into a [`GpuError`] about `context`.
pub(super) fn convert(error: wgpu::Error, context: &str) -> GpuError {
    match error {
        wgpu::Error::OutOfMemory { .. } => GpuError::OutOfMemory { what: context.to_string() },
        wgpu::Error::Validation { description, .. } => {
            GpuError::Validation { context: context.to_string(), message: description }
        }
        wgpu::Error::Internal { description, .. } => {
            GpuError::Internal { context: context.to_string(), message: description }
        }
    }
}
