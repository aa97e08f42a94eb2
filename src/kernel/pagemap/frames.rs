//! Compact storage of page → frame maps, pure (no I/O): the layers of a
//! [`super::ParentFrames`].
//!
//! Pages are stored in extents of consecutive virtual pages. An explicit extent
//! keeps one frame number per page; a linear extent, where frame numbers also
//! follow one another (the allocator often hands out consecutive frames, and a
//! huge page always is), keeps only its first frame. Frame numbers are stored as
//! u32 (4 bytes per page: 16 TiB of RAM) and the store widens to u64 the first
//! time one does not fit.

use std::ops::Range;

/// A page with no frame: absent, swapped out, or outside any mapping.
pub(super) const NO_FRAME: u64 = u64::MAX;

/// [`NO_FRAME`] in the narrow store.
const NO_FRAME_NARROW: u32 = u32::MAX;

/// Consecutive frames over this many pages become a linear extent (16 bytes, plus 4 for
/// its first frame) instead of 4 bytes a page. The page allocator hands out frames in
/// runs of 8 or more: on a 1 GiB parent (6.18, 4 KiB pages), 8 stores 1.9 – 2.8 bytes a
/// page, 10 to 16 stores 2.6 – 3.6, and 4 is worse again (more, shorter extents).
const LINEAR_MIN_PAGES: u32 = 8;

/// Marks a linear extent in [`Extent::pages_and_kind`].
const LINEAR: u32 = 1 << 31;

#[derive(Debug, Clone, Copy)]
struct Extent {
    first_page: u64,
    /// Page count, with [`LINEAR`] set for a linear extent.
    pages_and_kind: u32,
    /// Index in the frame store of the first page's frame.
    at: u32,
}

impl Extent {
    fn pages(&self) -> u64 {
        u64::from(self.pages_and_kind & !LINEAR)
    }
    fn is_linear(&self) -> bool {
        self.pages_and_kind & LINEAR != 0
    }
    fn end(&self) -> u64 {
        self.first_page + self.pages()
    }
}

#[derive(Debug, Clone)]
enum FrameStore {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl FrameStore {
    fn len(&self) -> usize {
        match self {
            FrameStore::Narrow(frames) => frames.len(),
            FrameStore::Wide(frames) => frames.len(),
        }
    }

    fn get(&self, index: usize) -> u64 {
        match self {
            FrameStore::Narrow(frames) if frames[index] == NO_FRAME_NARROW => NO_FRAME,
            FrameStore::Narrow(frames) => u64::from(frames[index]),
            FrameStore::Wide(frames) => frames[index],
        }
    }

    fn push(&mut self, frame: u64) {
        if let FrameStore::Narrow(frames) = self {
            match u32::try_from(frame) {
                _ if frame == NO_FRAME => return frames.push(NO_FRAME_NARROW),
                Ok(narrow) if narrow != NO_FRAME_NARROW => return frames.push(narrow),
                _ => {
                    let wide = frames
                        .iter()
                        .map(|&f| {
                            if f == NO_FRAME_NARROW {
                                NO_FRAME
                            } else {
                                u64::from(f)
                            }
                        })
                        .collect();
                    *self = FrameStore::Wide(wide);
                }
            }
        }
        if let FrameStore::Wide(frames) = self {
            frames.push(frame);
        }
    }

    fn truncate(&mut self, len: usize) {
        match self {
            FrameStore::Narrow(frames) => frames.truncate(len),
            FrameStore::Wide(frames) => frames.truncate(len),
        }
    }

    fn shrink_to_fit(&mut self) {
        match self {
            FrameStore::Narrow(frames) => frames.shrink_to_fit(),
            FrameStore::Wide(frames) => frames.shrink_to_fit(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            FrameStore::Narrow(frames) => frames.capacity() * size_of::<u32>(),
            FrameStore::Wide(frames) => frames.capacity() * size_of::<u64>(),
        }
    }
}

/// A map from pages to frames, built in ascending page order.
#[derive(Debug, Clone)]
pub(super) struct FrameRuns {
    /// Sorted by first page, not overlapping.
    extents: Vec<Extent>,
    frames: FrameStore,
    /// Building state: the trailing pages of the last (explicit) extent whose frames follow
    /// one another.
    streak: u32,
}

impl Default for FrameRuns {
    fn default() -> Self {
        FrameRuns {
            extents: Vec::new(),
            frames: FrameStore::Narrow(Vec::new()),
            streak: 0,
        }
    }
}

impl FrameRuns {
    /// Records `frame` (or [`NO_FRAME`]) for `page`, which must come after every page
    /// recorded so far.
    pub(super) fn push(&mut self, page: u64, frame: u64) {
        let frame_index = self.frames.len();
        if let Some(last) = self.extents.last_mut()
            && last.end() == page
            && last.pages() < u64::from(LINEAR - 1)
        {
            let previous = if last.is_linear() {
                self.frames.get(last.at as usize) + last.pages() - 1
            } else {
                self.frames.get(frame_index - 1)
            };
            let follows = frame != NO_FRAME && previous != NO_FRAME && frame == previous + 1;
            if last.is_linear() && follows {
                last.pages_and_kind += 1;
                return;
            }
            if !last.is_linear() {
                self.frames.push(frame);
                last.pages_and_kind += 1;
                self.streak = if follows { self.streak + 1 } else { 1 };
                if self.streak >= LINEAR_MIN_PAGES {
                    self.make_streak_linear(page, frame);
                }
                return;
            }
        }
        self.extents.push(Extent {
            first_page: page,
            pages_and_kind: 1,
            at: u32::try_from(frame_index).expect("fewer than 4 Gi frames stored"),
        });
        self.frames.push(frame);
        self.streak = 1;
    }

    /// Moves the last [`LINEAR_MIN_PAGES`] pages of the last extent (ending with `page`,
    /// mapped to `frame`) into a new linear extent.
    fn make_streak_linear(&mut self, page: u64, frame: u64) {
        let streak = LINEAR_MIN_PAGES;
        let last = self.extents.last_mut().expect("an extent to split");
        last.pages_and_kind -= streak;
        self.frames.truncate(self.frames.len() - streak as usize);
        if last.pages() == 0 {
            self.extents.pop();
        }
        self.extents.push(Extent {
            first_page: page + 1 - u64::from(streak),
            pages_and_kind: streak | LINEAR,
            at: self.frames.len() as u32,
        });
        self.frames.push(frame + 1 - u64::from(streak));
        self.streak = 0;
    }

    /// Done building: gives back spare capacity.
    pub(super) fn finish(mut self) -> Self {
        self.extents.shrink_to_fit();
        self.frames.shrink_to_fit();
        self
    }

    /// Writes the frame of every page of `pages` this map holds into
    /// `out[page - pages.start]`, leaving the other entries as they are.
    pub(super) fn overlay(&self, pages: Range<u64>, out: &mut [u64]) {
        debug_assert_eq!(out.len() as u64, pages.end - pages.start);
        let first = self.extents.partition_point(|e| e.end() <= pages.start);
        for extent in &self.extents[first..] {
            if extent.first_page >= pages.end {
                break;
            }
            let overlap = extent.first_page.max(pages.start)..extent.end().min(pages.end);
            for page in overlap {
                let offset = page - extent.first_page;
                out[(page - pages.start) as usize] = if extent.is_linear() {
                    self.frames.get(extent.at as usize) + offset
                } else {
                    self.frames.get(extent.at as usize + offset as usize)
                };
            }
        }
    }

    /// The page ranges this map holds frames (or [`NO_FRAME`]) for, sorted; adjacent
    /// extents are not merged.
    pub(super) fn page_ranges(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.extents.iter().map(|e| e.first_page..e.end())
    }

    /// Pages held.
    pub(super) fn pages(&self) -> u64 {
        self.extents.iter().map(Extent::pages).sum()
    }

    /// Extents held (explicit and linear).
    pub(super) fn extents(&self) -> usize {
        self.extents.len()
    }

    /// True once a frame number did not fit in 32 bits.
    pub(super) fn is_wide(&self) -> bool {
        matches!(self.frames, FrameStore::Wide(_))
    }

    /// Heap memory held, in bytes.
    pub(super) fn heap_bytes(&self) -> usize {
        self.extents.capacity() * size_of::<Extent>() + self.frames.heap_bytes()
    }
}
