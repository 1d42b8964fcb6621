//! Command recordings: kernel dispatches and copies in order, their uniform
//! blocks and entry tables staged in a few shared buffers, submitted together.

use bytemuck::Pod;

use super::{Event, GpuBuffer, GpuContext, GpuError};
use crate::numerics::gpu::kernel::Kernel;

impl GpuContext {
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
                self.count(Event::Write(chunk.bytes.len() as u64));
            }
            self.count(Event::Submit);
            self.queue.submit([encoder.finish()]);
            for chunk in staged {
                self.spare_chunks.give(chunk.buffer, chunk.capacity as u64);
            }
        })
    }
}

/// Kernel dispatches in order, submitted together.
pub struct Recording<'c> {
    pub(in crate::numerics::gpu) context: &'c GpuContext,
    encoder: wgpu::CommandEncoder,
    label: String,
    dispatches: usize,
    /// Uniform blocks and entry tables of the dispatches so far.
    staged: Vec<Staged>,
}

impl Recording<'_> {
    /// Kernels recorded so far (since the last [`Recording::submit_so_far`]).
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
            self.context.count(Event::Copy((len * size) as u64));
            self.context.counters.count_name(&format!("copy {} → {}", source.label, destination.label));
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

    /// Counts `bytes` copied by a copy kernel (its dispatch counts itself).
    pub(in crate::numerics::gpu) fn count_span_copy(&self, bytes: u64) {
        self.context.count(Event::SpanCopy(bytes));
    }

    /// Submits what is recorded so far (without waiting) and goes on recording
    /// into a fresh encoder: the GPU starts on a long recording's first part
    /// while the rest is recorded. The order of the commands is unchanged.
    pub fn submit_so_far(&mut self) -> Result<(), GpuError> {
        let fresh = self.context.record(&self.label);
        let done = std::mem::replace(self, fresh);
        self.context.submit(done)
    }

    /// Zeroes the first `len` elements of `buffer` (a fill on the device, not
    /// a transfer).
    pub fn clear<T: Pod>(&mut self, buffer: &GpuBuffer<T>, len: usize) -> Result<(), GpuError> {
        self.clear_range(buffer, 0, len)
    }

    /// Zeroes `len` elements of `buffer` from `from`.
    pub fn clear_range<T: Pod>(
        &mut self,
        buffer: &GpuBuffer<T>,
        from: usize,
        len: usize,
    ) -> Result<(), GpuError> {
        let (start, bytes) = ((from * size_of::<T>()) as u64, (len * size_of::<T>()) as u64);
        if from + len > buffer.len || !bytes.is_multiple_of(4) || !start.is_multiple_of(4) {
            return Err(GpuError::Shape {
                operation: format!("clearing '{}'", buffer.label),
                message: format!("{len} elements at {from} of {} (whole 4-byte words)", buffer.len),
            });
        }
        if bytes > 0 {
            self.encoder.clear_buffer(&buffer.buffer, start, Some(bytes));
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
            let wanted = len.max(STAGE_CHUNK);
            let (buffer, capacity) = match self.context.spare_chunks.take(wanted as u64) {
                Some((buffer, size)) => (buffer, size as usize),
                None => {
                    let buffer = self.context.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("dispatch parameters"),
                        size: wanted as u64,
                        usage: wgpu::BufferUsages::UNIFORM
                            | wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    self.context.count(Event::Buffer(wanted as u64));
                    (buffer, wanted)
                }
            };
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
    pub(in crate::numerics::gpu) fn dispatch(
        &mut self,
        kernel: &Kernel,
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
    pub(in crate::numerics::gpu) fn dispatch_with_table(
        &mut self,
        kernel: &Kernel,
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
        self.context.count(Event::Dispatch);
        self.context.counters.count_name(kernel.label());
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
