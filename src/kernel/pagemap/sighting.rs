//! A parent's frames as they were at given moments (its children's first
//! sightings), so that a later comparison can tell a page the child copied from
//! one the parent rewrote after the sighting.
//!
//! The first capture stores the frame of every present page of the parent's
//! private writable mappings; each later capture stores only the pages whose
//! frame changed since the capture before (a new frame, or none any more), so
//! children sighted at different times do not each cost a full copy.

use std::ops::Range;

use procfs::process::{MemoryPageFlags, PageInfo, Process};

use super::compare::chunks;
use super::frames::{FrameRuns, NO_FRAME};
use super::probe::probe_own_page;
use super::reader::PagemapReader;
use super::regions::{is_private_writable, live_maps, merge_ranges, page_range};
use super::{PageTruthError, on_pid};

/// Which capture of a [`ParentFrames`]: the n-th taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaptureId(usize);

/// Captures of one parent's frames (PFN method only: needs CAP_SYS_ADMIN).
#[derive(Debug, Clone)]
pub struct ParentFrames {
    parent_pid: i32,
    /// `captures[0]` holds every present page; `captures[n]` the pages whose frame
    /// changed between capture n - 1 and capture n.
    captures: Vec<FrameRuns>,
}

impl ParentFrames {
    /// Nothing captured yet.
    pub fn new(parent_pid: i32) -> Self {
        ParentFrames {
            parent_pid,
            captures: Vec::new(),
        }
    }

    pub fn parent_pid(&self) -> i32 {
        self.parent_pid
    }

    /// Captures the parent's frames now. Fails with [`PageTruthError::PfnNotVisible`]
    /// when this process cannot see frame numbers.
    pub fn capture(&mut self) -> Result<CaptureId, PageTruthError> {
        if !probe_own_page()?.pfn_visible {
            return Err(PageTruthError::PfnNotVisible);
        }
        let pid = self.parent_pid;
        let page_size = procfs::page_size();
        let process = Process::new(pid).map_err(on_pid(pid))?;
        let mapped: Vec<Range<usize>> = live_maps(pid, &process)?
            .iter()
            .filter(|m| is_private_writable(m))
            .map(|m| page_range(m, page_size))
            .collect();
        let reader = PagemapReader::open(pid, &process)?;
        // Pages held by earlier captures but no longer mapped must be recorded as frameless.
        let mut covered = mapped.clone();
        for capture in &self.captures {
            covered.extend(
                capture
                    .page_ranges()
                    .map(|r| r.start as usize..r.end as usize),
            );
        }

        let mut changed = FrameRuns::default();
        let (mut entries, mut now, mut before) = (Vec::new(), Vec::new(), Vec::new());
        for span in merge_ranges(covered) {
            for chunk in chunks(span) {
                read_frames(&reader, chunk.clone(), &mapped, &mut entries, &mut now)?;
                match self.captures.len() {
                    0 => before.clear(),
                    n => self.frames_at(CaptureId(n - 1), chunk.clone(), &mut before),
                }
                for (i, &frame) in now.iter().enumerate() {
                    if before.get(i).copied().unwrap_or(NO_FRAME) != frame {
                        changed.push((chunk.start + i) as u64, frame);
                    }
                }
            }
        }
        self.captures.push(changed.finish());
        Ok(CaptureId(self.captures.len() - 1))
    }

    /// Fills `out` with the frame of each page of `pages` at `capture`
    /// ([`NO_FRAME`] where the parent had none).
    pub(super) fn frames_at(&self, capture: CaptureId, pages: Range<usize>, out: &mut Vec<u64>) {
        out.clear();
        out.resize(pages.len(), NO_FRAME);
        let pages = pages.start as u64..pages.end as u64;
        for layer in &self.captures[..=capture.0] {
            layer.overlay(pages.clone(), out);
        }
    }

    /// Pages stored by `capture`: every present page for the first, the changed ones after.
    pub fn stored_pages(&self, capture: CaptureId) -> u64 {
        self.captures[capture.0].pages()
    }

    /// Runs of consecutive pages stored by `capture`.
    pub fn stored_runs(&self, capture: CaptureId) -> usize {
        self.captures[capture.0].extents()
    }

    /// Heap memory held by all captures, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.captures.capacity() * size_of::<FrameRuns>()
            + self
                .captures
                .iter()
                .map(FrameRuns::heap_bytes)
                .sum::<usize>()
    }

    /// True when some frame number did not fit in 32 bits (machines with more than
    /// 16 TiB of RAM): the captures then take 8 bytes per stored frame instead of 4.
    pub fn stores_wide_frames(&self) -> bool {
        self.captures.iter().any(FrameRuns::is_wide)
    }
}

/// The parent's frame at each page of `chunk` now: its PFN where the page is present
/// in one of its `mapped` ranges, [`NO_FRAME`] elsewhere.
fn read_frames(
    reader: &PagemapReader,
    chunk: Range<usize>,
    mapped: &[Range<usize>],
    entries: &mut Vec<PageInfo>,
    frames: &mut Vec<u64>,
) -> Result<(), PageTruthError> {
    frames.clear();
    frames.resize(chunk.len(), NO_FRAME);
    let first = mapped.partition_point(|r| r.end <= chunk.start);
    for range in &mapped[first..] {
        if range.start >= chunk.end {
            break;
        }
        let overlap = range.start.max(chunk.start)..range.end.min(chunk.end);
        entries.clear();
        entries.resize(
            overlap.len(),
            PageInfo::MemoryPage(MemoryPageFlags::empty()),
        );
        reader.read_into(overlap.start, entries)?;
        for (i, entry) in entries.iter().enumerate() {
            if let PageInfo::MemoryPage(flags) = entry
                && flags.contains(MemoryPageFlags::PRESENT)
            {
                frames[overlap.start - chunk.start + i] = flags.get_page_frame_number().0;
            }
        }
    }
    Ok(())
}
