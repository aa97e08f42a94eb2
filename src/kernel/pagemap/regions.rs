//! Which mappings are examined, and which counts a page goes to: the declared
//! region holding it, else the kind of its mapping.
//!
//! A child's private writable mappings are examined whole: that is where copy-on-write
//! happens. Its MAP_SHARED mappings are examined only where declared regions cover them:
//! data a workload put in shared memory on purpose (a write there copies nothing, and a
//! different frame means the child maps something else at that address). Undeclared shared
//! mappings (libraries' shared memory, IPC segments) stay out of page truth.

use std::ops::Range;

use procfs::process::{MMPermissions, MMapPath, MemoryMap, Process};

use super::{DeclaredRegion, PageTruthError, is_running, on_pid};

/// smaps keys (bytes) telling that part of a mapping is mapped by PMD-sized huge pages.
const PMD_MAPPED_KEYS: [&str; 3] = ["AnonHugePages", "FilePmdMapped", "ShmemPmdMapped"];

/// What a private writable mapping holds, for pages outside declared regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MappingKind {
    Heap,
    Stack,
    Anon,
    File,
    Other,
}

impl MappingKind {
    pub(super) const ALL: [MappingKind; 5] =
        [Self::Heap, Self::Stack, Self::Anon, Self::File, Self::Other];

    pub(super) fn of(map: &MemoryMap) -> Self {
        match &map.pathname {
            MMapPath::Heap => Self::Heap,
            MMapPath::Stack | MMapPath::TStack(_) => Self::Stack,
            MMapPath::Anonymous => Self::Anon,
            // Named with prctl(PR_SET_VMA_ANON_NAME): "[anon:name]".
            MMapPath::Other(name) if name.starts_with("anon:") => Self::Anon,
            MMapPath::Path(_) => Self::File,
            _ => Self::Other,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Heap => "heap",
            Self::Stack => "stack",
            Self::Anon => "anon",
            Self::File => "file",
            Self::Other => "other",
        }
    }
}

/// Declared regions as page-index ranges. Regions sharing a name share a slot.
pub(super) struct DeclaredPages {
    /// Distinct names, in first-declared order; a slot is an index here.
    pub(super) names: Vec<String>,
    /// In declared order, so the first containing range wins.
    ranges: Vec<(Range<usize>, usize)>,
    /// Sorted region boundaries: no region starts or ends strictly between two.
    cuts: Vec<usize>,
}

impl DeclaredPages {
    pub(super) fn new(declared: &[DeclaredRegion], page_size: u64) -> Self {
        // A page belongs to a region when it holds any byte of it:
        // floor(start / page_size) <= p < ceil(end / page_size). Data that starts mid-page
        // (objects on the heap) owns the page it starts in.
        let first_page = |addr: u64| (addr / page_size) as usize;
        let to_page = |addr: u64| addr.div_ceil(page_size) as usize;
        let mut names: Vec<String> = Vec::new();
        let mut ranges = Vec::with_capacity(declared.len());
        for region in declared {
            let slot = match names.iter().position(|n| *n == region.name) {
                Some(slot) => slot,
                None => {
                    names.push(region.name.clone());
                    names.len() - 1
                }
            };
            let pages = first_page(region.start)..to_page(region.end);
            if !pages.is_empty() {
                ranges.push((pages, slot));
            }
        }
        let mut cuts: Vec<usize> = ranges.iter().flat_map(|(r, _)| [r.start, r.end]).collect();
        cuts.sort_unstable();
        cuts.dedup();
        DeclaredPages {
            names,
            ranges,
            cuts,
        }
    }

    /// The parts of `pages` some declared region covers: sorted, merged.
    pub(super) fn covered_parts(&self, pages: Range<usize>) -> Vec<Range<usize>> {
        merge_ranges(
            self.ranges
                .iter()
                .map(|(range, _)| range.start.max(pages.start)..range.end.min(pages.end))
                .filter(|part| !part.is_empty())
                .collect(),
        )
    }

    /// Splits `pages` where declared regions begin or end and calls `f` with
    /// each piece and the slot of the declared region covering it, if any.
    pub(super) fn for_each_segment(
        &self,
        pages: Range<usize>,
        mut f: impl FnMut(Range<usize>, Option<usize>),
    ) {
        let mut start = pages.start;
        let first_cut = self.cuts.partition_point(|&c| c <= start);
        let inner_cuts = self.cuts[first_cut..]
            .iter()
            .copied()
            .take_while(|&c| c < pages.end);
        for end in inner_cuts.chain(std::iter::once(pages.end)) {
            let slot = self
                .ranges
                .iter()
                .find(|(r, _)| r.contains(&start))
                .map(|&(_, slot)| slot);
            f(start..end, slot);
            start = end;
        }
    }
}

/// Sorted, merged ranges covering every range given.
pub(super) fn merge_ranges(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_unstable_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// The process's mappings. A zombie shows none; a live user process has some.
pub(super) fn live_maps(pid: i32, process: &Process) -> Result<Vec<MemoryMap>, PageTruthError> {
    let maps = process.maps().map_err(on_pid(pid))?.0;
    if maps.is_empty() && !is_running(pid) {
        return Err(PageTruthError::Vanished { pid });
    }
    Ok(maps)
}

pub(super) fn page_range(map: &MemoryMap, page_size: u64) -> Range<usize> {
    (map.address.0 / page_size) as usize..(map.address.1 / page_size) as usize
}

/// Kernel-provided mappings that are not process memory. [vsyscall] lies
/// above the user address space, where pagemap cannot be read.
pub(super) fn is_kernel_special(map: &MemoryMap) -> bool {
    match &map.pathname {
        MMapPath::Vsyscall | MMapPath::Vvar | MMapPath::Vdso => true,
        MMapPath::Other(name) => name.starts_with("vvar"),
        _ => false,
    }
}

pub(super) fn is_private_writable(map: &MemoryMap) -> bool {
    map.perms
        .contains(MMPermissions::PRIVATE | MMPermissions::WRITE)
        && !is_kernel_special(map)
}

pub(super) fn is_private(map: &MemoryMap) -> bool {
    map.perms.contains(MMPermissions::PRIVATE) && !is_kernel_special(map)
}

/// A MAP_SHARED mapping (smaps shows `s` for it, `p` for a private one).
pub(super) fn is_shared(map: &MemoryMap) -> bool {
    map.perms.contains(MMPermissions::SHARED) && !is_kernel_special(map)
}

/// A run of a child's pages that page truth compares with its parent's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExaminedPages {
    pub(super) pages: Range<usize>,
    /// Where the pages go when no declared region holds them (never the case in a shared
    /// mapping, of which only declared parts are examined).
    pub(super) kind: MappingKind,
    /// The pages lie in a MAP_SHARED mapping.
    pub(super) in_shared_mapping: bool,
}

/// The pages of a child's `maps` that are compared, in address order: every private
/// writable mapping whole, and the parts of shared mappings that declared regions cover.
pub(super) fn examined_pages(
    maps: &[MemoryMap],
    page_size: u64,
    regions: &DeclaredPages,
) -> Vec<ExaminedPages> {
    let mut examined = Vec::new();
    for map in maps {
        let pages = page_range(map, page_size);
        let kind = MappingKind::of(map);
        if is_private_writable(map) {
            examined.push(ExaminedPages {
                pages,
                kind,
                in_shared_mapping: false,
            });
        } else if is_shared(map) {
            examined.extend(
                regions
                    .covered_parts(pages)
                    .into_iter()
                    .map(|pages| ExaminedPages {
                        pages,
                        kind,
                        in_shared_mapping: true,
                    }),
            );
        }
    }
    examined
}

/// The pages of a parent's `maps` its children are compared with, in address order: every
/// private mapping (writable or not: the parent may have write-protected data since the
/// fork), and the parts of shared mappings that declared regions cover. Elsewhere the
/// parent counts as having no page.
pub(super) fn parent_pages(
    maps: &[MemoryMap],
    page_size: u64,
    regions: &DeclaredPages,
) -> Vec<Range<usize>> {
    let mut pages = Vec::new();
    for map in maps {
        let range = page_range(map, page_size);
        if is_private(map) {
            pages.push(range);
        } else if is_shared(map) {
            pages.extend(regions.covered_parts(range));
        }
    }
    pages
}

/// True if any mapping [`examined_pages`] examines has PMD-mapped (THP) pages.
pub(super) fn has_pmd_mapped_examined(
    pid: i32,
    process: &Process,
    page_size: u64,
    regions: &DeclaredPages,
) -> Result<bool, PageTruthError> {
    let smaps = process.smaps().map_err(on_pid(pid))?;
    let examined = |map: &MemoryMap| {
        is_private_writable(map)
            || (is_shared(map) && !regions.covered_parts(page_range(map, page_size)).is_empty())
    };
    Ok(smaps.iter().filter(|m| examined(m)).any(|m| {
        PMD_MAPPED_KEYS
            .iter()
            .any(|key| m.extension.map.get(*key).is_some_and(|&bytes| bytes > 0))
    }))
}
