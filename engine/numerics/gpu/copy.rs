//! Equal-length copies between two buffers, many spans in one dispatch (`shaders/copy.wgsl`).

use bytemuck::{Pod, Zeroable};

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, disjoint, groups, kernel, module};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    len: u32,
    spans: u32,
    rows: u32,
    stride: u32,
}

/// Threads per workgroup (`workgroup_size` in the shader).
const THREADS: usize = 256;

/// The most workgroups of one dimension (y and z, the spans).
const MAX_GROUPS: usize = 65_535;

/// The most workgroups along a span (x): a million threads per span saturate
/// any device, and the threads loop over longer spans.
const MAX_ALONG: usize = 4096;

const OP: &str = "copy spans";

#[derive(Debug)]
pub(super) struct Pipelines {
    copy_spans: Kernel,
}

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let module = module(device, "copy.wgsl", include_str!("../../../shaders/copy.wgsl"))?;
        let storage = [Access::Read, Access::Read, Access::ReadWrite];
        let copy_spans = kernel(device, &module, OP, "copy_spans", size_of::<Params>(), &storage, &[])?;
        Ok(Pipelines { copy_spans })
    }
}

fn shape(message: String) -> GpuError {
    GpuError::Shape { operation: OP.into(), message }
}

fn word(v: usize) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| shape(format!("{v} exceeds 32 bits")))
}

/// Whether `len` elements at `at` lie within `buffer`.
fn within(buffer: &GpuBuffer<f32>, at: usize, len: usize) -> Result<(), GpuError> {
    if at.checked_add(len).is_none_or(|end| end > buffer.len()) {
        return Err(shape(format!("{len} elements at {at} overrun '{}' ({})", buffer.label(), buffer.len())));
    }
    Ok(())
}

/// The grid for `spans` spans of `len` elements: x strides over a span's
/// elements (capped: the threads loop), spans fill y and then z.
fn grid(len: usize, spans: usize) -> Result<[u32; 3], GpuError> {
    let x = groups(len, THREADS).min(MAX_ALONG as u32);
    let rows = spans.min(MAX_GROUPS);
    let layers = spans.div_ceil(rows);
    if layers > MAX_GROUPS {
        return Err(shape(format!("{spans} spans exceed {MAX_GROUPS} x {MAX_GROUPS} workgroups")));
    }
    Ok([x, word(rows)?, word(layers)?])
}

impl Recording<'_> {
    /// Records, in one dispatch, a copy of `len` elements from `source[from..]`
    /// to `destination[to..]` for every `(from, to)` of `spans`. The buffers
    /// must differ and no two spans may write the same elements (both checked:
    /// the spans run concurrently).
    pub fn copy_spans(
        &mut self,
        len: usize,
        spans: &[(usize, usize)],
        source: &GpuBuffer<f32>,
        destination: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        if spans.is_empty() || len == 0 {
            return Ok(());
        }
        if source.buffer == destination.buffer {
            return Err(shape("source and destination must be separate buffers".into()));
        }
        let limit = self.context.max_binding_bytes();
        if let Some(large) = [source, destination].into_iter().find(|b| (b.len() * 4) as u64 > limit) {
            return Err(shape(format!(
                "'{}' is larger than one binding may be ({limit} bytes)",
                large.label()
            )));
        }
        let mut table = Vec::with_capacity(2 * spans.len());
        for &(from, to) in spans {
            within(source, from, len)?;
            within(destination, to, len)?;
            table.extend([word(from)?, word(to)?]);
        }
        if !disjoint(spans.iter().map(|&(_, to)| to), len) {
            return Err(shape("two spans of one dispatch write the same elements".into()));
        }
        let workgroups = grid(len, spans.len())?;
        let params = Params {
            len: word(len)?,
            spans: word(spans.len())?,
            rows: workgroups[1],
            stride: word(workgroups[0] as usize * THREADS)?,
        };
        let context = self.context;
        self.count_span_copy((len * spans.len() * size_of::<f32>()) as u64);
        self.dispatch_with_table(
            &context.kernels.copy.copy_spans,
            bytemuck::bytes_of(&params),
            Some(&table),
            &[&source.buffer, &destination.buffer],
            workgroups,
        );
        Ok(())
    }
}
