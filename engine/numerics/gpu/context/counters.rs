//! How much work a GPU context handed to the driver, counted as the calls are
//! made: submissions, blocking waits and read-backs, kernel dispatches,
//! buffer-to-buffer copies, buffers created, and the bytes each moved. None of
//! it depends on the hardware, so the GPU path's overheads show (and a change
//! that cuts them is measured) on a machine without a GPU: lavapipe counts what
//! an H100 would.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The running totals of one context (shared by every run on it).
#[derive(Debug, Default)]
pub struct Counters {
    submits: AtomicU64,
    waits: AtomicU64,
    readbacks: AtomicU64,
    readback_bytes: AtomicU64,
    dispatches: AtomicU64,
    copies: AtomicU64,
    copy_bytes: AtomicU64,
    span_copy_bytes: AtomicU64,
    buffers: AtomicU64,
    buffer_bytes: AtomicU64,
    writes: AtomicU64,
    write_bytes: AtomicU64,
    /// Dispatches per kernel label and copies per "source → destination".
    by_name: Mutex<BTreeMap<String, u64>>,
}

/// Totals at one moment, or between two ([`Counts::since`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Command submissions to the queue.
    pub submits: u64,
    /// Times the host blocked until the device finished (every read-back does).
    pub waits: u64,
    /// Buffers copied back to the host.
    pub readbacks: u64,
    /// Bytes copied back to the host.
    pub readback_bytes: u64,
    /// Compute dispatches.
    pub dispatches: u64,
    /// Buffer-to-buffer copies on the device.
    pub copies: u64,
    /// Bytes those copies moved.
    pub copy_bytes: u64,
    /// Bytes copied by copy kernels (many equal spans a dispatch, counted
    /// among the dispatches): the data copies still move.
    #[serde(default)]
    pub span_copy_bytes: u64,
    /// Buffers created (read-back staging buffers included).
    pub buffers: u64,
    /// Bytes of the buffers created.
    pub buffer_bytes: u64,
    /// Host-to-device writes (uploads, parameter blocks of dispatches).
    pub writes: u64,
    /// Bytes those writes moved.
    pub write_bytes: u64,
}

/// What is counted, one field of [`Counts`] each (bytes go with their event).
#[derive(Clone, Copy, Debug)]
pub(in crate::numerics::gpu) enum Event {
    Submit,
    Wait,
    Readback(u64),
    Dispatch,
    Copy(u64),
    SpanCopy(u64),
    Buffer(u64),
    Write(u64),
}

impl Counters {
    /// Counts one event.
    pub(in crate::numerics::gpu) fn count(&self, event: Event) {
        let add = |counter: &AtomicU64, n: u64| {
            counter.fetch_add(n, Ordering::Relaxed);
        };
        match event {
            Event::Submit => add(&self.submits, 1),
            Event::Wait => add(&self.waits, 1),
            Event::Readback(bytes) => (add(&self.readbacks, 1), add(&self.readback_bytes, bytes)).1,
            Event::Dispatch => add(&self.dispatches, 1),
            Event::Copy(bytes) => (add(&self.copies, 1), add(&self.copy_bytes, bytes)).1,
            Event::SpanCopy(bytes) => add(&self.span_copy_bytes, bytes),
            Event::Buffer(bytes) => (add(&self.buffers, 1), add(&self.buffer_bytes, bytes)).1,
            Event::Write(bytes) => (add(&self.writes, 1), add(&self.write_bytes, bytes)).1,
        }
    }

    /// Counts one dispatch of the kernel `label`, or one copy named `label`, in
    /// the breakdown by name.
    pub(in crate::numerics::gpu) fn count_name(&self, label: &str) {
        let mut names = self.by_name.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match names.get_mut(label) {
            Some(count) => *count += 1,
            None => {
                names.insert(label.to_string(), 1);
            }
        }
    }

    /// Dispatches per kernel and copies per source and destination so far.
    pub fn by_name(&self) -> BTreeMap<String, u64> {
        self.by_name.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The totals now.
    pub fn snapshot(&self) -> Counts {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Counts {
            submits: get(&self.submits),
            waits: get(&self.waits),
            readbacks: get(&self.readbacks),
            readback_bytes: get(&self.readback_bytes),
            dispatches: get(&self.dispatches),
            copies: get(&self.copies),
            copy_bytes: get(&self.copy_bytes),
            span_copy_bytes: get(&self.span_copy_bytes),
            buffers: get(&self.buffers),
            buffer_bytes: get(&self.buffer_bytes),
            writes: get(&self.writes),
            write_bytes: get(&self.write_bytes),
        }
    }
}

impl Counts {
    /// What was counted after `earlier` (a snapshot of the same context).
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            submits: self.submits - earlier.submits,
            waits: self.waits - earlier.waits,
            readbacks: self.readbacks - earlier.readbacks,
            readback_bytes: self.readback_bytes - earlier.readback_bytes,
            dispatches: self.dispatches - earlier.dispatches,
            copies: self.copies - earlier.copies,
            copy_bytes: self.copy_bytes - earlier.copy_bytes,
            span_copy_bytes: self.span_copy_bytes - earlier.span_copy_bytes,
            buffers: self.buffers - earlier.buffers,
            buffer_bytes: self.buffer_bytes - earlier.buffer_bytes,
            writes: self.writes - earlier.writes,
            write_bytes: self.write_bytes - earlier.write_bytes,
        }
    }

    /// The table of per-round figures for `rounds` rounds (the README's columns).
    pub fn per_round_table(&self, rounds: u64) -> String {
        let per = |n: u64| n as f64 / rounds.max(1) as f64;
        let mb = |bytes: u64| per(bytes) / 1e6;
        [
            format!("| submissions | {:.1} |", per(self.submits)),
            format!("| blocking waits | {:.1} |", per(self.waits)),
            format!("| read-backs (MB) | {:.1} ({:.3}) |", per(self.readbacks), mb(self.readback_bytes)),
            format!("| dispatches | {:.0} |", per(self.dispatches)),
            format!(
                "| buffer-to-buffer copies (MB) | {:.0} ({:.1}) |",
                per(self.copies),
                mb(self.copy_bytes)
            ),
            format!("| bytes copied by copy kernels (MB) | {:.1} |", mb(self.span_copy_bytes)),
            format!("| buffers created (MB) | {:.1} ({:.1}) |", per(self.buffers), mb(self.buffer_bytes)),
            format!("| host writes (MB) | {:.0} ({:.2}) |", per(self.writes), mb(self.write_bytes)),
        ]
        .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_add_to_their_fields_and_differences_subtract() {
        let counters = Counters::default();
        let before = counters.snapshot();
        let events = [
            Event::Submit,
            Event::Dispatch,
            Event::Dispatch,
            Event::Copy(64),
            Event::Readback(8),
            Event::SpanCopy(4_000_000),
        ];
        for event in events {
            counters.count(event);
        }
        let counted = counters.snapshot().since(before);
        assert_eq!((counted.submits, counted.dispatches, counted.copies), (1, 2, 1));
        assert_eq!((counted.copy_bytes, counted.readbacks, counted.readback_bytes), (64, 1, 8));
        assert_eq!((counted.waits, counted.span_copy_bytes), (0, 4_000_000));
        assert!(counted.per_round_table(2).contains("| bytes copied by copy kernels (MB) | 2.0 |"));
        assert!(counted.per_round_table(2).contains("| dispatches | 1 |"));
    }
}
