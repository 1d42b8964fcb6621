//! Shared device buffers holding one kind of state (parameters, moments,
//! slots, …) of every run, so that one dispatch serves many runs: each run owns
//! a region of a page, and a kernel given one page reaches every run in it.
//!
//! A page is one storage buffer, at most what one binding may cover on this
//! device; it starts small and grows (a copy on the device) up to that size,
//! then a new page starts. Regions freed by removed runs or outgrown slots are
//! reused first.

use std::ops::Range;

use crate::numerics::gpu::{GpuBuffer, GpuContext, GpuError, Recording};

/// Elements a page starts with (it doubles as regions need room).
const FIRST_PAGE: usize = 1 << 16;

/// One run's share of an arena: `len` elements from `at` in page `page`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Region {
    pub page: usize,
    pub at: usize,
    pub len: usize,
}

/// Every run's state of one kind, in pages.
pub(super) struct Arena {
    label: &'static str,
    /// The most elements one page holds.
    page_len: usize,
    pages: Vec<Page>,
}

struct Page {
    buffer: GpuBuffer<f32>,
    space: Space,
}

/// Which elements of a page are taken: all from `end` on are free, and so are
/// the holes below it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Space {
    end: usize,
    /// Sorted, apart and not touching `end`.
    holes: Vec<Range<usize>>,
}

impl Space {
    /// The start of `len` free elements below `capacity`: the first hole that
    /// holds them, else the tail.
    fn take(&mut self, len: usize, capacity: usize) -> Option<usize> {
        if let Some(index) = self.holes.iter().position(|hole| hole.len() >= len) {
            let at = self.holes[index].start;
            self.holes[index].start += len;
            if self.holes[index].is_empty() {
                self.holes.remove(index);
            }
            return Some(at);
        }
        (self.end + len <= capacity).then(|| {
            self.end += len;
            self.end - len
        })
    }

    /// Frees `range`, merging it with its neighbours.
    fn give(&mut self, range: Range<usize>) {
        let at = self.holes.partition_point(|hole| hole.start < range.start);
        self.holes.insert(at, range);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(self.holes.len());
        for hole in self.holes.drain(..) {
            match merged.last_mut() {
                Some(last) if last.end == hole.start => last.end = hole.end,
                _ => merged.push(hole),
            }
        }
        if merged.last().is_some_and(|last| last.end == self.end) {
            self.end = merged.pop().expect("just checked").start;
        }
        self.holes = merged;
    }
}

impl Arena {
    /// An empty arena whose pages are at most what `context` binds at once.
    pub fn new(context: &GpuContext, label: &'static str) -> Self {
        let page_len = usize::try_from(context.max_binding_bytes() / 4).unwrap_or(usize::MAX);
        Arena { label, page_len, pages: Vec::new() }
    }

    /// The buffer of page `page`.
    pub fn page(&self, page: usize) -> &GpuBuffer<f32> {
        &self.pages[page].buffer
    }

    /// The page of `region`, if any.
    pub fn page_of(&self, region: Option<Region>) -> Option<&GpuBuffer<f32>> {
        region.map(|r| self.page(r.page))
    }

    /// The buffer `region` is in and where it starts there.
    pub fn of(&self, region: Region) -> (&GpuBuffer<f32>, usize) {
        (self.page(region.page), region.at)
    }

    /// Whether a region of `len` elements fits one page.
    pub fn fits(&self, len: usize) -> Result<(), GpuError> {
        if len > self.page_len {
            return Err(GpuError::TooLarge {
                what: format!("one run's {}", self.label),
                bytes: 4 * len as u64,
                limit: 4 * self.page_len as u64,
                remedy: "Use fewer workers or a smaller model",
            });
        }
        Ok(())
    }

    /// A region of `len` elements, zeroed, or holding `data` when given. The
    /// zeroing and any page growth are recorded into `recording`; `data` is
    /// written through the queue, so before the recording runs (which is why
    /// a growth copies only up to the page's old end: the data lies beyond, or
    /// in a hole of the old buffer that the copy carries over).
    pub fn allocate(
        &mut self,
        context: &GpuContext,
        recording: &mut Recording<'_>,
        len: usize,
        data: Option<&[f32]>,
    ) -> Result<Region, GpuError> {
        self.fits(len)?;
        let region = match self.reuse(len) {
            Some(region) => region,
            None => self.extend(context, recording, len)?,
        };
        let buffer = &self.pages[region.page].buffer;
        match data {
            Some(data) => context.write(buffer, region.at, data)?,
            None => recording.clear_range(buffer, region.at, len)?,
        }
        Ok(region)
    }

    /// Gives `region` back for later regions.
    pub fn free(&mut self, region: Region) {
        self.pages[region.page].space.give(region.at..region.at + region.len);
    }

    /// The first hole or page tail with room for `len`, without growing.
    fn reuse(&mut self, len: usize) -> Option<Region> {
        self.pages.iter_mut().enumerate().find_map(|(page, p)| {
            let at = p.space.take(len, p.buffer.len())?;
            Some(Region { page, at, len })
        })
    }

    /// Room for `len` at the end of a page that can grow to hold it (its
    /// contents copied into a bigger buffer), else in a new page.
    fn extend(
        &mut self,
        context: &GpuContext,
        recording: &mut Recording<'_>,
        len: usize,
    ) -> Result<Region, GpuError> {
        let page_len = self.page_len;
        let growable = self.pages.iter().position(|page| page.space.end + len <= page_len);
        let index = match growable {
            Some(index) => index,
            None => {
                let buffer = context.zeros(self.label, len.max(FIRST_PAGE).min(page_len))?;
                self.pages.push(Page { buffer, space: Space::default() });
                self.pages.len() - 1
            }
        };
        let page = &mut self.pages[index];
        if page.space.end + len > page.buffer.len() {
            let grown = (2 * page.buffer.len()).max(page.space.end + len).min(page_len);
            let bigger = context.zeros(self.label, grown)?;
            recording.copy(&page.buffer, 0, &bigger, 0, page.space.end)?;
            // The old buffer lives on in wgpu until the recorded copy is done.
            page.buffer = bigger;
        }
        let at = page.space.take(len, page.buffer.len()).expect("the page has room at its end now");
        Ok(Region { page: index, at, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_taken_from_holes_first_then_the_tail() {
        let mut space = Space::default();
        let a = space.take(10, 100).unwrap();
        let b = space.take(10, 100).unwrap();
        let c = space.take(10, 100).unwrap();
        assert_eq!((a, b, c), (0, 10, 20));
        space.give(b..b + 10);
        // Too big for the hole: the tail; small enough: the hole.
        assert_eq!(space.take(15, 100), Some(30));
        assert_eq!(space.take(4, 100), Some(10));
        assert_eq!(space.holes.iter().map(|h| (h.start, h.end)).collect::<Vec<_>>(), vec![(14, 20)]);
        // No room below the capacity.
        assert_eq!(space.take(60, 100), None);
    }

    #[test]
    fn freed_regions_merge_and_give_their_tail_back() {
        let mut space = Space::default();
        for _ in 0..3 {
            space.take(10, 30).unwrap();
        }
        space.give(0..10);
        space.give(20..30);
        let hole = space.holes.iter().map(|h| (h.start, h.end)).collect::<Vec<_>>();
        assert_eq!((space.end, hole), (20, vec![(0, 10)]));
        space.give(10..20);
        assert_eq!(space, Space::default());
    }
}
