//! Compiled kernels: a WGSL module per file, a compute pipeline per entry point
//! (and per set of `override` constants), each with an explicit bind group layout.
//!
//! Every kernel binds a uniform block at binding 0 and storage buffers at 1, 2, …

use std::num::NonZeroU64;

use super::GpuError;

/// How a kernel uses a storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Access {
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

/// One compute pipeline and its bind group layout.
#[derive(Debug)]
pub(super) struct Kernel {
    label: String,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl Kernel {
    pub(super) fn label(&self) -> &str {
        &self.label
    }

    pub(super) fn pipeline(&self) -> &wgpu::ComputePipeline {
        &self.pipeline
    }

    pub(super) fn layout(&self) -> &wgpu::BindGroupLayout {
        &self.layout
    }
}

/// Runs `make` inside validation, out-of-memory and internal error scopes and
/// returns the first error they caught.
pub(super) fn capture<T>(device: &wgpu::Device, make: impl FnOnce() -> T) -> (T, Option<wgpu::Error>) {
    let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let value = make();
    let errors = [memory.pop(), validation.pop(), internal.pop()].map(pollster::block_on);
    (value, errors.into_iter().flatten().next())
}

/// Compiles one WGSL file.
pub(super) fn module(
    device: &wgpu::Device,
    label: &str,
    source: &str,
) -> Result<wgpu::ShaderModule, GpuError> {
    let (module, error) = capture(device, || {
        device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        })
    });
    match error {
        None => Ok(module),
        Some(e) => Err(GpuError::Shader { label: label.to_string(), message: e.to_string() }),
    }
}

/// Builds the pipeline for `entry` of `module`, with a uniform block of
/// `uniform_size` bytes at binding 0, `storage` after it, and `constants` for the
/// module's `override` declarations.
pub(super) fn kernel(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    label: &str,
    entry: &str,
    uniform_size: usize,
    storage: &[Access],
    constants: &[(&str, f64)],
) -> Result<Kernel, GpuError> {
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: NonZeroU64::new(uniform_size as u64),
        },
        count: None,
    }];
    for (i, access) in storage.iter().enumerate() {
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: i as u32 + 1,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: *access == Access::Read },
                has_dynamic_offset: false,
                min_binding_size: NonZeroU64::new(4),
            },
            count: None,
        });
    }
    let (built, error) = capture(device, || {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: Some(&pipeline_layout),
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        (layout, pipeline)
    });
    match error {
        None => Ok(Kernel { label: label.to_string(), pipeline: built.1, layout: built.0 }),
        Some(e) => Err(GpuError::Shader { label: label.to_string(), message: e.to_string() }),
    }
}

/// Workgroups of `size` threads covering `n` items.
pub(super) fn groups(n: usize, size: usize) -> u32 {
    n.div_ceil(size) as u32
}

/// Whether the spans `offset..offset + n` are pairwise disjoint.
pub(super) fn disjoint(offsets: impl Iterator<Item = usize>, n: usize) -> bool {
    disjoint_spans(offsets.map(|offset| (offset, n)))
}

/// Whether the spans `start..start + len` are pairwise disjoint (empty ones
/// overlap nothing). Sorted by start, each must end before the next begins.
pub(super) fn disjoint_spans(spans: impl Iterator<Item = (usize, usize)>) -> bool {
    let mut sorted: Vec<(usize, usize)> = spans.filter(|&(_, len)| len > 0).collect();
    sorted.sort_unstable();
    sorted.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0)
}
