//! Choosing an adapter: the selection from wgpu's environment variables, the
//! summaries `faultline devices` lists, and the preference among device types.

use std::fmt;

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

    pub(super) fn describe(&self) -> String {
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
    pub(super) fn from_info(info: &wgpu::AdapterInfo) -> Self {
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

pub(super) fn instance(selection: &AdapterSelection) -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = selection.backends.unwrap_or(wgpu::Backends::all());
    wgpu::Instance::new(descriptor)
}

/// Preference among device types: hardware first, software last.
pub(super) fn rank(device_type: wgpu::DeviceType) -> u8 {
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
