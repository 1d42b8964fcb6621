//! The event queue: events leave in order of virtual time, and events scheduled for
//! the same time leave in the order they were scheduled (first in, first out).
//!
//! Ties are broken by a sequence number taken at insertion, so the order never
//! depends on the heap's internal layout. This is what makes a run reproducible.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::base::time::SimTime;

/// A min-queue of events keyed by `(time, insertion sequence)`.
///
/// A binary heap of entries whose key packs both into one `u128`
/// (`time << 64 | sequence`), so ordering is a single integer comparison. Measured
/// against a 4-ary heap, a split key/event layout and a radix heap, this was the
/// fastest on the hold benchmark (benches/engine.rs).
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_sequence: u64,
}

#[derive(Debug)]
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, because `BinaryHeap` is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty queue with room for `capacity` pending events.
    pub fn with_capacity(capacity: usize) -> Self {
        EventQueue { heap: BinaryHeap::with_capacity(capacity), next_sequence: 0 }
    }

    /// Schedules `event` at `time`. Among events at the same time, it leaves after
    /// every event pushed before it.
    pub fn push(&mut self, time: SimTime, event: E) {
        let key = (u128::from(time.as_nanos()) << 64) | u128::from(self.next_sequence);
        self.next_sequence += 1;
        self.heap.push(Entry { key, event });
    }

    /// Removes and returns the earliest event (first scheduled among equals).
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.heap.pop().map(|entry| (SimTime((entry.key >> 64) as u64), entry.event))
    }

    /// The time of the earliest event, if any.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|entry| SimTime((entry.key >> 64) as u64))
    }

    /// How many events are pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no events are pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// How many events were ever pushed (the next sequence number).
    pub fn pushed(&self) -> u64 {
        self.next_sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_times_are_first_in_first_out() {
        let mut queue = EventQueue::new();
        queue.push(SimTime(5), 'c');
        queue.push(SimTime(1), 'a');
        queue.push(SimTime(5), 'd');
        queue.push(SimTime(1), 'b');
        let order: String = std::iter::from_fn(|| queue.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, "abcd");
    }
}
