//! Buffers a context keeps for reuse: the parameter chunks of recordings and the
//! staging buffers of read-backs, handed back when their use is over, so that a
//! run creates its buffers in its first flushes and then none (wgpu orders a
//! queue write after the submissions before it, so a chunk may be rewritten as
//! soon as its recording is submitted).

use std::sync::Mutex;

/// Spare buffers of one kind, each with its size in bytes.
#[derive(Debug, Default)]
pub(super) struct Spares {
    buffers: Mutex<Vec<(wgpu::Buffer, u64)>>,
}

impl Spares {
    /// The smallest spare buffer of at least `size` bytes, if any.
    pub(super) fn take(&self, size: u64) -> Option<(wgpu::Buffer, u64)> {
        let mut buffers = self.buffers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let best = (0..buffers.len()).filter(|&i| buffers[i].1 >= size).min_by_key(|&i| buffers[i].1)?;
        Some(buffers.swap_remove(best))
    }

    /// Keeps `buffer` of `size` bytes for a later use.
    pub(super) fn give(&self, buffer: wgpu::Buffer, size: u64) {
        /// More spares than this are dropped: a few flushes' worth.
        const KEPT: usize = 64;
        let mut buffers = self.buffers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buffers.len() < KEPT {
            buffers.push((buffer, size));
        }
    }
}
