//! Rademacher probe vectors on the GPU (`shaders/probe.wgsl`), bit-identical to
//! [`crate::numerics::model::probe::rademacher`].

use bytemuck::{Pod, Zeroable};

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, groups, kernel, module};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    len: u32,
    first: u32,
    offset: u32,
    stride: u32,
    key_offset: u32,
    pad: [u32; 3],
}

#[derive(Debug)]
pub(super) struct Pipelines {
    fill: Kernel,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let module = module(device, "probe.wgsl", include_str!("../../../shaders/probe.wgsl"))?;
        let storage = [Access::Read, Access::ReadWrite];
        Ok(Pipelines {
            fill: kernel(device, &module, "probe fill", "fill", size_of::<Params>(), &storage, &[])?,
        })
    }
}

/// Where [`Recording::probes`] writes: probe q's element `first + j` goes to
/// `out[offset + q · stride + j]` for j < `len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeLayout {
    /// Elements per probe written.
    pub len: usize,
    /// Index of the first element (a slice of a longer probe).
    pub first: usize,
    /// Where probe 0 starts in the output.
    pub offset: usize,
    /// Distance between consecutive probes in the output.
    pub stride: usize,
}

impl Recording<'_> {
    /// Records the fill of one probe per key in `keys` (keys from
    /// [`crate::numerics::model::probe::probe_key`]).
    pub fn probes(
        &mut self,
        keys: &GpuBuffer<u32>,
        layout: ProbeLayout,
        out: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        self.probes_from(keys, 0..keys.len(), layout, out)
    }

    /// Records the fill of one probe per key in `keys[range]`: probe q uses key
    /// `range.start + q`.
    pub fn probes_from(
        &mut self,
        keys: &GpuBuffer<u32>,
        range: std::ops::Range<usize>,
        layout: ProbeLayout,
        out: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        let shape = |message: String| GpuError::Shape { operation: "probes".into(), message };
        if range.end > keys.len() {
            return Err(shape(format!("keys {range:?} overrun '{}' ({})", keys.label(), keys.len())));
        }
        let count = range.len();
        if count == 0 || layout.len == 0 {
            return Ok(());
        }
        let end = layout.offset + (count - 1) * layout.stride + layout.len;
        if end > out.len() {
            return Err(shape(format!("needs {end} elements of '{}', which has {}", out.label(), out.len())));
        }
        if count > 1 && layout.stride < layout.len {
            return Err(shape(format!(
                "stride {} overlaps probes of {} elements",
                layout.stride, layout.len
            )));
        }
        let fits = |v: usize| u32::try_from(v).map_err(|_| shape(format!("{v} exceeds 32 bits")));
        let last_index = layout.first + layout.len - 1;
        fits(last_index)?;
        let params = Params {
            len: fits(layout.len)?,
            first: fits(layout.first)?,
            offset: fits(layout.offset)?,
            stride: fits(layout.stride)?,
            key_offset: fits(range.start)?,
            pad: [0; 3],
        };
        let workgroups = [groups(layout.len, 256), fits(count)?, 1];
        if workgroups[0] > 65_535 || workgroups[1] > 65_535 {
            return Err(shape(format!("{workgroups:?} workgroups exceed 65535 per dimension")));
        }
        let kernel = &self.context.kernels.probe.fill;
        self.dispatch(kernel, bytemuck::bytes_of(&params), &[&keys.buffer, &out.buffer], workgroups);
        Ok(())
    }
}
