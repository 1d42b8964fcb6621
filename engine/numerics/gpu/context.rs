//! The device context: adapter choice, the device and queue, typed buffers, command
//! recordings, and every wgpu error turned into a [`GpuError`] instead of a panic.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use bytemuck::Pod;

use super::Kernels;

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
            GpuError::TooLarge { what, bytes, limit } => write!(
                f,
                "{what} take {} bytes, more than this GPU adapter binds at once ({limit} bytes). \
                 Use a smaller dataset (training.data.limit_train and limit_test) or the CPU backend",
                bytes
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
fn convert(error: wgpu::Error, context: &str) -> GpuError {
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

/// Which adapter to use. [`AdapterSelection::from_env`] reads wgpu's usual
/// environment variables.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdapterSelection {
    /// Backends to consider (`WGPU_BACKEND`, e.g. `vulkan`); `None`: all compiled in.
    pub backends: Option<wgpu::Backends>,
    /// A case-insensitive part of the adapter's name (`WGPU_ADAPTER_NAME`).
    pub name: Option<String>,
    /// Accept software adapters (lavapipe, llvmpipe) when no hardware one matches.
    pub allow_software: bool,
}

/// A `WGPU_BACKEND` naming something wgpu does not know (wgpu itself ignores
/// such names, so a typo would silently mean "no adapter"): the message, if so.
pub fn backend_env_problem() -> Option<String> {
    let value = std::env::var("WGPU_BACKEND").ok().filter(|v| !v.trim().is_empty())?;
    let unknown: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|name| name.is_empty() || wgpu::Backends::from_comma_list(name).is_empty())
        .collect();
    (!unknown.is_empty()).then(|| {
        format!(
            "WGPU_BACKEND={value:?}: {} is not a wgpu backend (vulkan, gl, dx12, metal or webgpu, \
             comma-separated)",
            unknown.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
        )
    })
}

impl AdapterSelection {
    /// `WGPU_BACKEND` and `WGPU_ADAPTER_NAME` from the environment; software
    /// adapters allowed as a last resort.
    pub fn from_env() -> Self {
        AdapterSelection {
            backends: wgpu::Backends::from_env(),
            name: std::env::var("WGPU_ADAPTER_NAME").ok().filter(|n| !n.trim().is_empty()),
            allow_software: true,
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(backends) = self.backends {
            parts.push(format!("backends {backends:?}"));
        }
        if let Some(name) = &self.name {
            parts.push(format!("name containing '{name}'"));
        }
        if !self.allow_software {
            parts.push("hardware only".into());
        }
        if parts.is_empty() { "any adapter".into() } else { parts.join(", ") }
    }
}

/// One adapter as wgpu reports it, for `faultline devices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The adapter's name, e.g. "NVIDIA H100" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Vulkan, Metal, Dx12, Gl.
    pub backend: String,
    /// DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu, Other.
    pub device_type: String,
    /// The driver's name.
    pub driver: String,
    /// The driver's version and details.
    pub driver_info: String,
    /// Whether it is a software rasterizer (device type Cpu).
    pub software: bool,
}

impl AdapterSummary {
    fn from_info(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            software: info.device_type == wgpu::DeviceType::Cpu,
        }
    }
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {}, driver {} {})",
            self.name, self.backend, self.device_type, self.driver, self.driver_info
        )
    }
}

fn instance(selection: &AdapterSelection) -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = selection.backends.unwrap_or(wgpu::Backends::all());
    wgpu::Instance::new(descriptor)
}

/// Preference among device types: hardware first, software last.
fn rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Every adapter wgpu finds for the backends of `selection` (all, ignoring the
/// name), best first.
pub fn list_adapters(selection: &AdapterSelection) -> Vec<AdapterSummary> {
    let instance = instance(selection);
    let backends = selection.backends.unwrap_or(wgpu::Backends::all());
    let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
    adapters.sort_by_key(|a| rank(a.get_info().device_type));
    adapters.iter().map(|a| AdapterSummary::from_info(&a.get_info())).collect()
}

/// How long a read-back may wait for its mapping after the GPU finished.
const MAP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Errors seen by wgpu outside any error scope, and the device-lost reason.
#[derive(Debug, Default)]
struct Incidents {
    uncaptured: Vec<wgpu::Error>,
    lost: Option<String>,
}

/// The device, its queue and the compiled kernels, shared by all runs.
pub struct GpuContext {
    pub(super) device: wgpu::Device,
    pub(super) queue: wgpu::Queue,
    adapter: AdapterSummary,
    incidents: Arc<Mutex<Incidents>>,
    pub(super) kernels: Kernels,
}

impl fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.adapter).finish_non_exhaustive()
    }
}

impl GpuContext {
    /// Opens the best adapter `selection` allows (hardware before software, then
    /// wgpu's order), creates its device and compiles every kernel.
    pub fn new(selection: &AdapterSelection) -> Result<Self, GpuError> {
        let instance = instance(selection);
        let backends = selection.backends.unwrap_or(wgpu::Backends::all());
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        let seen: Vec<String> =
            adapters.iter().map(|a| AdapterSummary::from_info(&a.get_info()).to_string()).collect();
        let wanted_name = selection.name.as_ref().map(|n| n.to_lowercase());
        let adapter = adapters
            .into_iter()
            .filter(|a| {
                let info = a.get_info();
                let name_ok = wanted_name.as_ref().is_none_or(|n| info.name.to_lowercase().contains(n));
                let kind_ok = selection.allow_software || info.device_type != wgpu::DeviceType::Cpu;
                name_ok && kind_ok
            })
            .min_by_key(|a| rank(a.get_info().device_type))
            .ok_or_else(|| GpuError::NoAdapter { wanted: selection.describe(), seen })?;
        Self::from_adapter(adapter)
    }

    fn from_adapter(adapter: wgpu::Adapter) -> Result<Self, GpuError> {
        let info = adapter.get_info();
        let summary = AdapterSummary::from_info(&info);
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("faultline"),
            required_features: wgpu::Features::empty(),
            // The adapter's best limits: big models and many workers need large
            // storage bindings; results never depend on the limits.
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&descriptor))
            .map_err(|e| GpuError::RequestDevice { adapter: summary.name.clone(), message: e.to_string() })?;
        let incidents = Arc::new(Mutex::new(Incidents::default()));
        {
            let incidents = Arc::clone(&incidents);
            device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
                if let Ok(mut i) = incidents.lock() {
                    i.uncaptured.push(error);
                }
            }));
        }
        {
            let incidents = Arc::clone(&incidents);
            device.set_device_lost_callback(move |reason, message| {
                if let Ok(mut i) = incidents.lock() {
                    i.lost = Some(format!("{reason:?}: {message}"));
                }
            });
        }
        let kernels = Kernels::new(&device)?;
        Ok(GpuContext { device, queue, adapter: summary, incidents, kernels })
    }

    /// The adapter in use.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.adapter
    }

    /// The most bytes one storage binding (and so one kernel operand) may span.
    pub fn max_binding_bytes(&self) -> u64 {
        let limits = self.device.limits();
        limits.max_storage_buffer_binding_size.min(limits.max_buffer_size)
    }

    /// The first error wgpu reported outside a scope since the last check, or the
    /// device loss.
    fn check(&self, context: &str) -> Result<(), GpuError> {
        let mut incidents = self.incidents.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(reason) = &incidents.lost {
            return Err(GpuError::DeviceLost { reason: reason.clone() });
        }
        if !incidents.uncaptured.is_empty() {
            let first = incidents.uncaptured.remove(0);
            incidents.uncaptured.clear();
            return Err(convert(first, context));
        }
        Ok(())
    }

    /// Runs `make` inside out-of-memory, validation and internal error scopes.
    pub(super) fn scoped<T>(&self, context: &str, make: impl FnOnce() -> T) -> Result<T, GpuError> {
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let value = make();
        let errors = [memory.pop(), validation.pop(), internal.pop()].map(pollster::block_on);
        if let Some(error) = errors.into_iter().flatten().next() {
            return Err(convert(error, context));
        }
        self.check(context)?;
        Ok(value)
    }

    /// A zeroed buffer of `len` elements.
    pub fn zeros<T: Pod>(&self, label: &str, len: usize) -> Result<GpuBuffer<T>, GpuError> {
        let size = (len.max(1) * size_of::<T>()).next_multiple_of(4) as u64;
        let buffer = self.scoped(&format!("creating buffer '{label}'"), || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: GpuBuffer::<T>::USAGE,
                mapped_at_creation: false,
            })
        })?;
        Ok(GpuBuffer { buffer, len, label: label.to_string(), element: PhantomData })
    }

    /// A buffer holding `data`.
    pub fn upload<T: Pod>(&self, label: &str, data: &[T]) -> Result<GpuBuffer<T>, GpuError> {
        let buffer = self.zeros(label, data.len())?;
        self.write(&buffer, 0, data)?;
        Ok(buffer)
    }

    /// Overwrites `buffer[offset..offset + data.len()]` (before the next submission).
    pub fn write<T: Pod>(&self, buffer: &GpuBuffer<T>, offset: usize, data: &[T]) -> Result<(), GpuError> {
        if offset + data.len() > buffer.len {
            return Err(GpuError::Shape {
                operation: format!("writing buffer '{}'", buffer.label),
                message: format!("{} elements at {offset} overrun its {}", data.len(), buffer.len),
            });
        }
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let start = (offset * size_of::<T>()) as u64;
        // wgpu writes whole 4-byte words only.
        if !bytes.len().is_multiple_of(4) || !start.is_multiple_of(4) {
            return Err(GpuError::Shape {
                operation: format!("writing buffer '{}'", buffer.label),
                message: "writes must start and end on 4-byte boundaries".into(),
            });
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.scoped(&format!("writing buffer '{}'", buffer.label), || {
            self.queue.write_buffer(&buffer.buffer, start, bytes)
        })
    }

    /// Waits for all submitted work and copies `buffer` back.
    pub fn download<T: Pod>(&self, buffer: &GpuBuffer<T>) -> Result<Vec<T>, GpuError> {
        let bytes = (buffer.len * size_of::<T>()) as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let padded = bytes.next_multiple_of(4);
        let context = format!("reading buffer '{}'", buffer.label);
        let staging = self.scoped(&context, || {
            let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("{} (staging)", buffer.label)),
                size: padded,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("download") });
            encoder.copy_buffer_to_buffer(&buffer.buffer, 0, &staging, 0, padded);
            self.queue.submit([encoder.finish()]);
            staging
        })?;
        let (sender, receiver) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        // Another thread's poll may be the one that runs the callback, a moment
        // after our own poll returned: wait on the channel, polling again.
        let mut waited = std::time::Duration::ZERO;
        let step = std::time::Duration::from_millis(5);
        let mapped = loop {
            self.wait(&context)?;
            match receiver.recv_timeout(step) {
                Ok(result) => break result,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if waited < MAP_TIMEOUT => waited += step,
                Err(_) => {
                    return Err(GpuError::Map {
                        label: buffer.label.clone(),
                        message: "the mapping never completed".into(),
                    });
                }
            }
        };
        if let Err(e) = mapped {
            return Err(GpuError::Map { label: buffer.label.clone(), message: e.to_string() });
        }
        let data = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| GpuError::Map { label: buffer.label.clone(), message: e.to_string() })?;
            bytemuck::pod_collect_to_vec(&view[..bytes as usize])
        };
        staging.unmap();
        Ok(data)
    }

    /// Blocks until every submission finished.
    pub fn wait(&self, context: &str) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Internal { context: context.to_string(), message: e.to_string() })?;
        self.check(context)
    }

    /// A new command recording: kernels go into it in order, and
    /// [`GpuContext::submit`] sends them as one submission.
    pub fn record(&self, label: &str) -> Recording<'_> {
        let encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        Recording { context: self, encoder, label: label.to_string(), dispatches: 0, staged: Vec::new() }
    }

    /// Submits a recording (does not wait for it).
    pub fn submit(&self, recording: Recording<'_>) -> Result<(), GpuError> {
        let context = format!("submitting '{}'", recording.label);
        let encoder = recording.encoder;
        let staged = recording.staged;
        self.scoped(&context, || {
            // Queue writes land before the next submission's commands.
            for chunk in &staged {
                self.queue.write_buffer(&chunk.buffer, 0, &chunk.bytes);
            }
            self.queue.submit([encoder.finish()]);
        })
    }
}

/// Kernel dispatches in order, submitted together.
pub struct Recording<'c> {
    pub(super) context: &'c GpuContext,
    encoder: wgpu::CommandEncoder,
    label: String,
    dispatches: usize,
    /// Uniform blocks and entry tables of the dispatches so far.
    staged: Vec<Staged>,
}

impl Recording<'_> {
    /// Kernels recorded so far.
    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    /// Copies `len` elements of `source` from `from` to `destination` at `to`.
    pub fn copy<T: Pod>(
        &mut self,
        source: &GpuBuffer<T>,
        from: usize,
        destination: &GpuBuffer<T>,
        to: usize,
        len: usize,
    ) -> Result<(), GpuError> {
        let size = size_of::<T>();
        if from + len > source.len || to + len > destination.len {
            return Err(GpuError::Shape {
                operation: format!("copying '{}' to '{}'", source.label, destination.label),
                message: format!("{len} elements from {from} to {to} overrun a buffer"),
            });
        }
        if !(from * size).is_multiple_of(4)
            || !(to * size).is_multiple_of(4)
            || !(len * size).is_multiple_of(4)
        {
            return Err(GpuError::Shape {
                operation: format!("copying '{}' to '{}'", source.label, destination.label),
                message: "copies must be whole 4-byte words".into(),
            });
        }
        if len > 0 {
            self.encoder.copy_buffer_to_buffer(
                &source.buffer,
                (from * size) as u64,
                &destination.buffer,
                (to * size) as u64,
                (len * size) as u64,
            );
        }
        Ok(())
    }

    /// Stages `bytes` in the recording's parameter chunks: the chunk and the
    /// offset (aligned for uniform and storage bindings) where they will be.
    fn stage(&mut self, bytes: &[u8]) -> (usize, u64) {
        let len = bytes.len().max(4).next_multiple_of(4);
        let fits = self
            .staged
            .last()
            .is_some_and(|c| c.bytes.len().next_multiple_of(STAGE_ALIGN) + len <= c.capacity);
        if !fits {
            let capacity = len.max(STAGE_CHUNK);
            let buffer = self.context.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("dispatch parameters"),
                size: capacity as u64,
                usage: wgpu::BufferUsages::UNIFORM
                    | wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.staged.push(Staged { buffer, bytes: Vec::with_capacity(capacity), capacity });
        }
        let chunk = self.staged.len() - 1;
        let staged = &mut self.staged[chunk];
        let offset = staged.bytes.len().next_multiple_of(STAGE_ALIGN);
        staged.bytes.resize(offset, 0);
        staged.bytes.extend_from_slice(bytes);
        staged.bytes.resize(offset + len, 0);
        (chunk, offset as u64)
    }

    /// One compute pass: `kernel` with a uniform block `uniform` at binding 0 and
    /// `buffers` at bindings 1, 2, … in order.
    pub(super) fn dispatch(
        &mut self,
        kernel: &super::kernel::Kernel,
        uniform: &[u8],
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) {
        self.dispatch_with_table(kernel, uniform, None, buffers, workgroups);
    }

    /// [`Recording::dispatch`] with an entry table of `words` (read-only storage)
    /// at binding 1 and `buffers` after it. The uniform block and the table live
    /// in the recording's parameter chunks (a few shared buffers per submission,
    /// not two per dispatch: wgpu's per-pass tracking grows with live buffers).
    pub(super) fn dispatch_with_table(
        &mut self,
        kernel: &super::kernel::Kernel,
        uniform: &[u8],
        table: Option<&[u32]>,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) {
        if workgroups.contains(&0) {
            return;
        }
        let binding = |recording: &mut Self, bytes: &[u8]| {
            let (chunk, offset) = recording.stage(bytes);
            let size = wgpu::BufferSize::new(bytes.len().max(4).next_multiple_of(4) as u64);
            (recording.staged[chunk].buffer.clone(), offset, size)
        };
        let params = binding(self, uniform);
        let table = table.map(|words| {
            let padded: &[u32] = if words.is_empty() { &[0] } else { words };
            binding(self, bytemuck::cast_slice(padded))
        });
        let device = &self.context.device;
        let mut entries = vec![staged_entry(0, &params)];
        if let Some(table) = &table {
            entries.push(staged_entry(1, table));
        }
        let first = entries.len() as u32;
        for (i, buffer) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: first + i as u32,
                resource: buffer.as_entire_binding(),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.label()),
            layout: kernel.layout(),
            entries: &entries,
        });
        let mut pass = self.encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(kernel.label()),
            timestamp_writes: None,
        });
        pass.set_pipeline(kernel.pipeline());
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        self.dispatches += 1;
    }
}

/// Bytes per parameter chunk of a recording (a larger block gets its own).
const STAGE_CHUNK: usize = 1 << 16;

/// Offset alignment of staged parameters: wgpu's largest allowed
/// `min_uniform_buffer_offset_alignment` / `min_storage_buffer_offset_alignment`.
const STAGE_ALIGN: usize = 256;

/// The bind group entry of a staged block.
fn staged_entry(
    index: u32,
    (buffer, offset, size): &(wgpu::Buffer, u64, Option<wgpu::BufferSize>),
) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding: index,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset: *offset, size: *size }),
    }
}

/// A chunk of staged dispatch parameters, written just before submission.
struct Staged {
    buffer: wgpu::Buffer,
    bytes: Vec<u8>,
    capacity: usize,
}

/// A typed storage buffer of `len` elements on the device.
#[derive(Debug)]
pub struct GpuBuffer<T> {
    pub(super) buffer: wgpu::Buffer,
    len: usize,
    label: String,
    element: PhantomData<T>,
}

impl<T> GpuBuffer<T> {
    const USAGE: wgpu::BufferUsages =
        wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

    /// Elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its label.
    pub fn label(&self) -> &str {
        &self.label
    }
}
