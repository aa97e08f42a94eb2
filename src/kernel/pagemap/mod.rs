//! Page-level truth about copy-on-write sharing between a process and the
//! children it forked, read from `/proc/PID/pagemap` and `/proc/kpagecount`.
//!
//! With CAP_SYS_ADMIN the kernel shows page frame numbers (PFNs), and a child
//! page is shared with its parent exactly when both map the same frame at the
//! same address. Without it PFNs read as 0 and we fall back to the pagemap
//! "exclusively mapped" bit, which is an estimate (see [`TruthMethod`]).
//!
//! How the pieces fit:
//! - `probe` reads one page of our own to learn what pagemap shows us (PFNs, the
//!   exclusive bit) and so which [`TruthMethod`] is available.
//! - `regions` selects the pages to examine (private writable mappings, and the parts of
//!   MAP_SHARED mappings that declared regions cover) and maps declared regions and
//!   mapping kinds (heap, stack, anon, file, other) to page slots.
//! - `reader` reads pagemap entries, one large `pread` per batch, decoded by procfs.
//! - `compare` walks the children's examined pages chunk by chunk, reads the
//!   parent's and each child's pagemap entries over the chunk and hands the pairs to
//! - `tally`, the pure part: it classifies each (child entry, parent entry) pair into
//!   [`PageCounts`] per region.
//! - `sighting` captures a parent's frames at its children's first sightings
//!   ([`ParentFrames`], stored compactly by `frames`), so that `compare` can tell a
//!   page the child copied from one the parent rewrote after the sighting.
//! - `footprint` counts the distinct frames behind a set of processes ([`tree_footprint`]).

mod compare;
mod footprint;
mod frames;
mod probe;
mod reader;
mod regions;
mod sighting;
mod tally;

#[cfg(test)]
mod tests;

use std::ops::Range;

use procfs::ProcError;
use procfs::process::Process;
use serde::{Deserialize, Serialize};

pub use compare::{
    compare_child, compare_child_using, compare_children, compare_children_using,
    compare_children_with,
};
pub use footprint::{tree_footprint, tree_unique_footprint};
pub use probe::{best_method, pfn_visible};
pub use sighting::{CaptureId, ParentFrames};

/// A named address range `[start, end)` the caller wants counted on its own.
/// A page belongs to the first declared region containing its start address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeclaredRegion {
    pub name: String,
    pub start: u64,
    pub end: u64,
}

/// Page counts from comparing a child's pages with its parent's at the same addresses.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PageCounts {
    /// Present in both, same physical frame: still shared copy-on-write.
    pub shared_pages: u64,
    /// Present in both, different frames: one side wrote and got its own copy.
    /// Compared against the parent's frames at the child's first sighting (see
    /// [`AtSighting`]): the child copied it, before or after the sighting.
    pub copied_pages: u64,
    /// Compared against the parent's frames at the child's first sighting only: present
    /// in both, different frames now, and the child still maps the frame the parent had
    /// at the sighting. The parent rewrote the page (and got a new frame); the child
    /// copied nothing. 0 otherwise, and then absent from the JSON.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rewritten_by_parent_pages: u64,
    /// Present in the child only (new memory, or the parent has nothing there).
    pub child_only_pages: u64,
    /// Present in the parent only (the child never touched, or dropped, the page).
    pub parent_only_pages: u64,
    /// Swapped out (or migrating) on either side: cannot be compared.
    pub swapped_pages: u64,
}

impl PageCounts {
    pub fn shared_bytes(&self, page_size_bytes: u64) -> u64 {
        self.shared_pages * page_size_bytes
    }
    pub fn copied_bytes(&self, page_size_bytes: u64) -> u64 {
        self.copied_pages * page_size_bytes
    }
    pub fn child_only_bytes(&self, page_size_bytes: u64) -> u64 {
        self.child_only_pages * page_size_bytes
    }
    pub fn parent_only_bytes(&self, page_size_bytes: u64) -> u64 {
        self.parent_only_pages * page_size_bytes
    }
    pub fn rewritten_by_parent_bytes(&self, page_size_bytes: u64) -> u64 {
        self.rewritten_by_parent_pages * page_size_bytes
    }
    /// Pages resident in the parent at the child's addresses: shared + copied + rewritten by
    /// the parent + parent-only.
    pub fn parent_present_pages(&self) -> u64 {
        self.shared_pages
            + self.copied_pages
            + self.rewritten_by_parent_pages
            + self.parent_only_pages
    }
    /// Pages resident in the child: shared + copied + rewritten by the parent + child-only.
    pub fn child_present_pages(&self) -> u64 {
        self.shared_pages
            + self.copied_pages
            + self.rewritten_by_parent_pages
            + self.child_only_pages
    }

    fn add(&mut self, other: &PageCounts) {
        self.shared_pages += other.shared_pages;
        self.copied_pages += other.copied_pages;
        self.rewritten_by_parent_pages += other.rewritten_by_parent_pages;
        self.child_only_pages += other.child_only_pages;
        self.parent_only_pages += other.parent_only_pages;
        self.swapped_pages += other.swapped_pages;
    }
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

fn is_false(flag: &bool) -> bool {
    !flag
}

/// How "shared" versus "copied" was decided.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TruthMethod {
    /// Compare physical frame numbers (needs CAP_SYS_ADMIN). Exact.
    Pfn,
    /// Use the child's pagemap bit 56 ("exclusively mapped"): a present child
    /// page mapped only once counts as copied when the parent has the address
    /// present. An estimate: it misreads pages the child also shares with a
    /// third process (e.g. a grandchild), the zero page after a parent write,
    /// and PMD-mapped THPs, for which pagemap repeats the first subpage's bit
    /// over all 512 entries (seen on 6.18; flagged by `thp_caveat`).
    /// In a declared region in a MAP_SHARED mapping a page both map is mapped at least
    /// twice, so never exclusive: shared, as with PFNs; other memory the child mapped there
    /// is exclusive (copied) unless a third process maps it too.
    ExclusiveBit,
}

/// Counts for one region of the child's address space.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegionTruth {
    /// A declared region's name, or a mapping kind: heap, stack, anon, file, other.
    pub region: String,
    /// True when `region` names a [`DeclaredRegion`].
    pub declared: bool,
    #[serde(flatten)]
    pub counts: PageCounts,
}

/// Page truth for one child over its private writable mappings, and over the declared
/// regions that lie in its MAP_SHARED mappings (undeclared shared mappings are not examined).
/// A declared region's pages count in the region's row wherever they lie, and in `total`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChildTruth {
    /// True only for the PFN method.
    pub exact: bool,
    pub method: TruthMethod,
    /// Exclusive-bit method only: some examined mapping is partly PMD-mapped
    /// (THP), where the exclusive bit may not be per 4 KiB page.
    pub thp_caveat: bool,
    pub page_size_bytes: u64,
    /// True when the child was compared against the parent's frames at its first
    /// sighting, so that pages the parent rewrote since are in `rewritten_by_parent_pages`
    /// rather than `copied_pages`. Never with the exclusive-bit method, which sees no
    /// frames. False (and absent from the JSON) otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    pub against_sighting: bool,
    pub total: PageCounts,
    /// Declared regions first (in declared order, even if empty), then the
    /// mapping kinds the child has, in the order heap, stack, anon, file, other.
    pub regions: Vec<RegionTruth>,
}

impl ChildTruth {
    /// The declared region called `name`, if any.
    pub fn declared_region(&self, name: &str) -> Option<&RegionTruth> {
        self.regions.iter().find(|r| r.declared && r.region == name)
    }
}

/// What [`compare_children_with`] does beyond [`compare_children`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareOptions<'a> {
    /// `None`: the best method available, as [`compare_children`] picks it;
    /// `Some`: forced, as with [`compare_children_using`].
    pub method: Option<TruthMethod>,
    /// Collect each child's [`PageLists`]. Off, the comparison keeps no per-page state.
    pub page_lists: bool,
    /// Compare children against the parent's frames at their first sighting.
    pub at_sighting: Option<AtSighting<'a>>,
}

/// The parent's frames at each child's first sighting. A page present in both with
/// different frames now counts as `rewritten_by_parent_pages` when the child still maps
/// the frame the parent had at the sighting, else as `copied_pages`. A page not shared
/// at the sighting (the child had copied it already, or the parent had no frame there)
/// therefore counts as copied by the child: copied before the sighting.
///
/// PFN method only. With the exclusive-bit method (no frames to compare) the captures
/// are not used: the counts are as without them and `against_sighting` stays false.
#[derive(Debug, Clone, Copy)]
pub struct AtSighting<'a> {
    /// Captures of the parent being compared with (same pid, else the call panics).
    pub parent_frames: &'a ParentFrames,
    /// For each child, in the order of the child pids: the capture taken at its first
    /// sighting, or `None` to compare it as without captures. Must have one entry per
    /// child, else the call panics.
    pub captures: &'a [Option<CaptureId>],
}

/// Where a child's copied and child-only pages are: what a later look at their
/// contents (e.g. the objects lying on them) needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLists {
    /// The pages counted in `copied_pages` (not those in `rewritten_by_parent_pages`),
    /// as sorted, merged `[start, end)` runs of
    /// page-aligned virtual byte addresses.
    pub copied: Vec<Range<u64>>,
    /// The pages counted in `child_only_pages`, in the same form.
    pub child_only: Vec<Range<u64>>,
    /// The region of every examined address range, in address order: a declared region's
    /// name or a mapping kind (heap, stack, anon, file, other).
    pub regions: Vec<LabelledRange>,
}

/// An address range and the region it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledRange {
    pub region: String,
    pub range: Range<u64>,
}

impl PageLists {
    /// `runs` (one of the two lists) split by region, regions in order of first appearance.
    pub fn by_region(&self, runs: &[Range<u64>]) -> Vec<(String, Vec<Range<u64>>)> {
        let mut grouped: Vec<(String, Vec<Range<u64>>)> = Vec::new();
        let mut labels = self.regions.iter().peekable();
        for run in runs {
            let mut start = run.start;
            while start < run.end {
                while labels.peek().is_some_and(|l| l.range.end <= start) {
                    labels.next();
                }
                let (region, end) = match labels.peek() {
                    Some(label) if label.range.start <= start => {
                        (label.region.as_str(), label.range.end.min(run.end))
                    }
                    Some(label) => ("other", label.range.start.min(run.end)),
                    None => ("other", run.end),
                };
                match grouped.iter_mut().find(|(name, _)| name == region) {
                    Some((_, ranges)) => ranges.push(start..end),
                    None => {
                        grouped.push((region.to_string(), std::iter::once(start..end).collect()))
                    }
                }
                start = end;
            }
        }
        grouped
    }

    /// Pages in `runs` (one of the two lists).
    pub fn pages_in(runs: &[Range<u64>], page_size_bytes: u64) -> u64 {
        runs.iter()
            .map(|run| (run.end - run.start) / page_size_bytes)
            .sum()
    }
}

/// One child's result from [`compare_children_with`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChildComparison {
    pub truth: ChildTruth,
    /// `Some` when [`CompareOptions::page_lists`] asked for it.
    pub page_lists: Option<PageLists>,
}

/// Physical memory used by a set of processes, each frame counted once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TreeFootprint {
    /// False when PFNs are invisible; the byte figures are then `None`.
    pub exact: bool,
    /// Distinct frames behind all present pages of all mappings, in bytes.
    pub unique_bytes: Option<u64>,
    /// Bytes of those frames that are also mapped outside the set (kernel
    /// mapcount above the number of in-set mappings), e.g. libc text.
    pub outside_shared_bytes: Option<u64>,
    /// Present page-table entries read, summed over the processes.
    pub pages_examined: u64,
    /// Swapped-out entries seen; they have no frame and are not in the bytes.
    pub swapped_pages: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PageTruthError {
    /// The process is exiting, a zombie, or reaped (ENOENT/ESRCH from /proc,
    /// empty maps, end-of-file on pagemap). Mark the sample missing.
    #[error("process {pid} vanished while its memory was being read")]
    Vanished { pid: i32 },
    #[error(
        "permission denied reading {path} (pid {pid:?}); pagemap needs ptrace read access, kpagecount needs root"
    )]
    PermissionDenied { pid: Option<i32>, path: String },
    #[error("page frame numbers are not visible (needs CAP_SYS_ADMIN)")]
    PfnNotVisible,
    #[error(
        "page frame numbers are not visible and the pagemap exclusive bit is unusable: no page truth"
    )]
    NoPageTruth,
    #[error("reading /proc (pid {pid:?}): {source}")]
    Proc {
        pid: Option<i32>,
        #[source]
        source: ProcError,
    },
}

impl PageTruthError {
    /// Classifies a procfs error on `pid`. Any failure on a process that is
    /// exiting or gone means it vanished: /proc gives ENOENT or ESRCH (both
    /// `NotFound` in procfs) and a pagemap whose mm is released reads as EOF.
    fn from_proc(pid: i32, err: ProcError) -> Self {
        if !is_running(pid) {
            return PageTruthError::Vanished { pid };
        }
        Self::from_proc_unchecked(Some(pid), err)
    }

    fn from_proc_unchecked(pid: Option<i32>, err: ProcError) -> Self {
        match err {
            ProcError::PermissionDenied(path) => PageTruthError::PermissionDenied {
                pid,
                path: path.map(|p| p.display().to_string()).unwrap_or_default(),
            },
            source => PageTruthError::Proc { pid, source },
        }
    }
}

fn on_pid(pid: i32) -> impl FnOnce(ProcError) -> PageTruthError {
    move |err| PageTruthError::from_proc(pid, err)
}

/// False once the process has begun to exit: a dying process keeps its
/// running state until it is a zombie, but PF_EXITING is set first, before
/// its memory is released.
fn is_running(pid: i32) -> bool {
    const PF_EXITING: u32 = 0x4;
    let Ok(stat) = Process::new(pid).and_then(|p| p.stat()) else {
        return false;
    };
    !matches!(stat.state, 'Z' | 'X' | 'x') && stat.flags & PF_EXITING == 0
}
