//! The device context: adapter choice, the device and queue, typed buffers, command
//! recordings, and every wgpu error turned into a [`GpuError`] instead of a panic.
//!
//! This file holds the context itself (opening the device, error scopes and
//! device-loss checks); the rest lives in the submodules, one purpose each.

mod adapter;
mod buffer;
mod counters;
mod error;
mod recording;
mod spare;

use std::fmt;
use std::sync::{Arc, Mutex};

pub use adapter::{AdapterSelection, AdapterSummary, backend_env_problem, list_adapters};
use adapter::{instance, rank};
pub use buffer::GpuBuffer;
use counters::Event;
pub use counters::{Counters, Counts};
pub use error::GpuError;
use error::convert;
pub use recording::Recording;

use super::Kernels;

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
    /// What this context handed to the driver, counted.
    counters: Counters,
    /// Parameter chunks of recordings, kept for the next ones.
    spare_chunks: spare::Spares,
    /// Read-back staging buffers, kept for the next read-backs.
    spare_staging: spare::Spares,
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
        Ok(GpuContext {
            device,
            queue,
            adapter: summary,
            incidents,
            kernels,
            counters: Counters::default(),
            spare_chunks: spare::Spares::default(),
            spare_staging: spare::Spares::default(),
        })
    }

    /// What this context has handed to the driver so far (see [`Counters`]).
    pub fn counts(&self) -> Counts {
        self.counters.snapshot()
    }

    /// Dispatches per kernel and copies per "source → destination" so far.
    pub fn counts_by_name(&self) -> std::collections::BTreeMap<String, u64> {
        self.counters.by_name()
    }

    /// Counts one event of this context.
    fn count(&self, event: Event) {
        self.counters.count(event);
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

    /// Blocks until every submission finished.
    pub fn wait(&self, context: &str) -> Result<(), GpuError> {
        self.count(Event::Wait);
        self.poll(context)
    }

    /// Polls until every submission finished (uncounted: a read-back counts one
    /// wait however often it polls).
    fn poll(&self, context: &str) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Internal { context: context.to_string(), message: e.to_string() })?;
        self.check(context)
    }
}
