//! Typed storage buffers on the device: creating, writing and reading them back.

use std::marker::PhantomData;

use bytemuck::Pod;

use super::{Event, GpuContext, GpuError};

/// How long a read-back may wait for its mapping after the GPU finished.
const MAP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A typed storage buffer of `len` elements on the device.
#[derive(Debug)]
pub struct GpuBuffer<T> {
    pub(in crate::numerics::gpu) buffer: wgpu::Buffer,
    pub(super) len: usize,
    pub(super) label: String,
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

impl GpuContext {
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
        self.count(Event::Buffer(size));
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
        self.count(Event::Write(bytes.len() as u64));
        self.scoped(&format!("writing buffer '{}'", buffer.label), || {
            self.queue.write_buffer(&buffer.buffer, start, bytes)
        })
    }

    /// Waits for all submitted work and copies `buffer` back.
    pub fn download<T: Pod>(&self, buffer: &GpuBuffer<T>) -> Result<Vec<T>, GpuError> {
        self.download_first(buffer, buffer.len)
    }

    /// Waits for all submitted work and copies the first `len` elements of
    /// `buffer` back.
    pub fn download_first<T: Pod>(&self, buffer: &GpuBuffer<T>, len: usize) -> Result<Vec<T>, GpuError> {
        self.download_range(buffer, 0, len)
    }

    /// Waits for all submitted work and copies `len` elements of `buffer` from
    /// `from` back (fewer where the buffer ends first).
    pub fn download_range<T: Pod>(
        &self,
        buffer: &GpuBuffer<T>,
        from: usize,
        len: usize,
    ) -> Result<Vec<T>, GpuError> {
        let start = (from.min(buffer.len) * size_of::<T>()) as u64;
        let bytes = (len.min(buffer.len - from.min(buffer.len)) * size_of::<T>()) as u64;
        if !start.is_multiple_of(4) {
            return Err(GpuError::Shape {
                operation: format!("reading buffer '{}'", buffer.label),
                message: "read-backs start on 4-byte boundaries".into(),
            });
        }
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let padded = bytes.next_multiple_of(4);
        let context = format!("reading buffer '{}'", buffer.label);
        let spare = self.spare_staging.take(padded);
        if spare.is_none() {
            self.count(Event::Buffer(padded));
        }
        let (staging, size) = self.scoped(&context, || {
            let (staging, size) = spare.unwrap_or_else(|| {
                let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("read-back staging"),
                    size: padded,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (staging, padded)
            });
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("download") });
            encoder.copy_buffer_to_buffer(&buffer.buffer, start, &staging, 0, padded);
            self.queue.submit([encoder.finish()]);
            (staging, size)
        })?;
        for event in [Event::Submit, Event::Wait, Event::Readback(bytes)] {
            self.count(event);
        }
        let (sender, receiver) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        // Another thread's poll may be the one that runs the callback, a moment
        // after our own poll returned: wait on the channel, polling again.
        let mut waited = std::time::Duration::ZERO;
        let step = std::time::Duration::from_millis(5);
        let mapped = loop {
            self.poll(&context)?;
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
        self.spare_staging.give(staging, size);
        Ok(data)
    }
}
