//! Scanning children against their parent: the parent's pagemap is read once
//! per chunk of address space and compared with every child's.

use std::ops::Range;

use procfs::process::{MemoryPageFlags, PageInfo, Process};

use super::probe::probe_own_page;
use super::reader::PagemapReader;
use super::regions::{
    DeclaredPages, ExaminedPages, examined_pages, has_pmd_mapped_examined, live_maps, merge_ranges,
    parent_pages,
};
use super::tally::{PageListSink, PageRunLists, RegionTally};
use super::{
    AtSighting, CaptureId, ChildComparison, ChildTruth, CompareOptions, DeclaredRegion,
    PageTruthError, TruthMethod, best_method, on_pid,
};

/// Pagemap entries fetched per read: 4096 pages cover 16 MiB of address
/// space in 64 KiB of entries. This bounds memory for huge sparse mappings,
/// and keeps buffers below glibc's mmap threshold so they reuse the same heap
/// pages: a measuring parent dirties (and so CoW-copies) fewer of its own.
/// Larger chunks were not faster.
pub(super) const CHUNK_PAGES: usize = 1 << 12;

/// Stand-in for a parent page at an address the parent has no mapping compared for.
const ABSENT: PageInfo = PageInfo::MemoryPage(MemoryPageFlags::empty());

/// Page truth for one child of `parent_pid`, with the best available method.
pub fn compare_child(
    parent_pid: i32,
    child_pid: i32,
    declared: &[DeclaredRegion],
) -> Result<ChildTruth, PageTruthError> {
    let mut results = compare_children(parent_pid, &[child_pid], declared)?;
    results.pop().expect("one result per child")
}

/// [`compare_child`] with a forced method (e.g. to check the exclusive-bit
/// estimate against PFNs as root). Fails if the method is unavailable.
pub fn compare_child_using(
    parent_pid: i32,
    child_pid: i32,
    declared: &[DeclaredRegion],
    method: TruthMethod,
) -> Result<ChildTruth, PageTruthError> {
    let mut results = compare_children_using(parent_pid, &[child_pid], declared, method)?;
    results.pop().expect("one result per child")
}

/// Page truth for several children of `parent_pid` in one pass: the parent's
/// pagemap is read once per address chunk and compared with every child.
/// The outer error concerns the parent or the method; each child gets its own
/// result so that one vanished child does not lose the others.
pub fn compare_children(
    parent_pid: i32,
    child_pids: &[i32],
    declared: &[DeclaredRegion],
) -> Result<Vec<Result<ChildTruth, PageTruthError>>, PageTruthError> {
    let options = CompareOptions::default();
    truths_only(compare_children_with(
        parent_pid, child_pids, declared, &options,
    )?)
}

/// [`compare_children`] with a forced method.
pub fn compare_children_using(
    parent_pid: i32,
    child_pids: &[i32],
    declared: &[DeclaredRegion],
    method: TruthMethod,
) -> Result<Vec<Result<ChildTruth, PageTruthError>>, PageTruthError> {
    let options = CompareOptions {
        method: Some(method),
        ..CompareOptions::default()
    };
    truths_only(compare_children_with(
        parent_pid, child_pids, declared, &options,
    )?)
}

/// [`compare_children`] with options: a forced method, page lists, the parent's frames
/// at the children's first sightings.
///
/// Panics if [`CompareOptions::at_sighting`] holds captures of another parent or not one
/// entry per child.
pub fn compare_children_with(
    parent_pid: i32,
    child_pids: &[i32],
    declared: &[DeclaredRegion],
    options: &CompareOptions,
) -> Result<Vec<Result<ChildComparison, PageTruthError>>, PageTruthError> {
    if let Some(at_sighting) = &options.at_sighting {
        assert_eq!(
            at_sighting.parent_frames.parent_pid(),
            parent_pid,
            "captures of another parent"
        );
        assert_eq!(
            at_sighting.captures.len(),
            child_pids.len(),
            "one capture (or None) per child"
        );
    }
    let method = usable_method(options.method)?;
    // Without frames there is nothing to compare the captures with.
    let at_sighting = options
        .at_sighting
        .as_ref()
        .filter(|_| method == TruthMethod::Pfn);
    if options.page_lists {
        scan_children::<PageRunLists>(parent_pid, child_pids, declared, method, at_sighting)
    } else {
        scan_children::<()>(parent_pid, child_pids, declared, method, at_sighting)
    }
}

/// The method asked for if this process can use it, else the best one.
fn usable_method(asked: Option<TruthMethod>) -> Result<TruthMethod, PageTruthError> {
    let Some(method) = asked else {
        return best_method();
    };
    let probe = probe_own_page()?;
    match method {
        TruthMethod::Pfn if !probe.pfn_visible => Err(PageTruthError::PfnNotVisible),
        TruthMethod::ExclusiveBit if !probe.exclusive_bit_visible => {
            Err(PageTruthError::NoPageTruth)
        }
        _ => Ok(method),
    }
}

type ChildResults<T> = Vec<Result<T, PageTruthError>>;

fn truths_only(
    results: ChildResults<ChildComparison>,
) -> Result<ChildResults<ChildTruth>, PageTruthError> {
    Ok(results
        .into_iter()
        .map(|result| result.map(|comparison| comparison.truth))
        .collect())
}

/// Walks the union of the children's examined pages (private writable mappings, and
/// declared parts of shared ones) in address order, one chunk at a time, so the parent's
/// entries are read only once.
fn scan_children<L: PageListSink>(
    parent_pid: i32,
    child_pids: &[i32],
    declared: &[DeclaredRegion],
    method: TruthMethod,
    at_sighting: Option<&AtSighting>,
) -> Result<ChildResults<ChildComparison>, PageTruthError> {
    let page_size = procfs::page_size();
    let regions = DeclaredPages::new(declared, page_size);

    let parent = Process::new(parent_pid).map_err(on_pid(parent_pid))?;
    let parent_ranges = parent_pages(&live_maps(parent_pid, &parent)?, page_size, &regions);
    let parent_pagemap = PagemapReader::open(parent_pid, &parent)?;

    let mut scans: Vec<Result<ChildScan<L>, PageTruthError>> = child_pids
        .iter()
        .enumerate()
        .map(|(i, &pid)| {
            let capture = at_sighting.and_then(|at| at.captures[i]);
            ChildScan::open(pid, capture, page_size, &regions)
        })
        .collect();
    // The parent's frames over the current chunk at each capture some child is judged by.
    let mut sighted: Vec<(CaptureId, Vec<u64>)> = Vec::new();
    for capture in scans.iter().flatten().filter_map(|scan| scan.capture) {
        if !sighted.iter().any(|(id, _)| *id == capture) {
            sighted.push((capture, Vec::with_capacity(CHUNK_PAGES)));
        }
    }

    let mut parent_entries: Vec<PageInfo> = Vec::with_capacity(CHUNK_PAGES);
    let mut child_entries: Vec<PageInfo> = Vec::with_capacity(CHUNK_PAGES);
    for span in union_of_child_ranges(&scans) {
        for chunk in chunks(span) {
            read_parent_chunk(
                &mut parent_entries,
                chunk.clone(),
                &parent_ranges,
                &parent_pagemap,
            )?;
            if let Some(at_sighting) = at_sighting {
                for (capture, frames) in sighted.iter_mut() {
                    at_sighting
                        .parent_frames
                        .frames_at(*capture, chunk.clone(), frames);
                }
            }
            for scan in scans.iter_mut() {
                let Ok(child) = scan else { continue };
                let parent_at_sighting = child.capture.map(|capture| {
                    let (_, frames) = sighted.iter().find(|(id, _)| *id == capture).unwrap();
                    frames.as_slice()
                });
                if let Err(err) = child.scan_chunk(
                    chunk.clone(),
                    &parent_entries,
                    parent_at_sighting,
                    &mut child_entries,
                    method,
                    &regions,
                ) {
                    *scan = Err(err);
                }
            }
        }
    }
    Ok(scans
        .into_iter()
        .map(|scan| scan.and_then(|child| child.finish(method, page_size, &regions)))
        .collect())
}

/// A child's examined pages, its pagemap, and running counts.
struct ChildScan<L> {
    pid: i32,
    process: Process,
    pagemap: PagemapReader,
    mappings: Vec<ExaminedPages>,
    /// Mappings before this index end before the current chunk.
    next_mapping: usize,
    /// The capture of the parent's frames this child is judged by, if any.
    capture: Option<CaptureId>,
    tally: RegionTally<L>,
}

impl<L: PageListSink> ChildScan<L> {
    fn open(
        pid: i32,
        capture: Option<CaptureId>,
        page_size: u64,
        regions: &DeclaredPages,
    ) -> Result<Self, PageTruthError> {
        let process = Process::new(pid).map_err(on_pid(pid))?;
        let mappings = examined_pages(&live_maps(pid, &process)?, page_size, regions);
        let pagemap = PagemapReader::open(pid, &process)?;
        Ok(ChildScan {
            pid,
            process,
            pagemap,
            mappings,
            next_mapping: 0,
            capture,
            tally: RegionTally::new(regions.names.len()),
        })
    }

    /// Compares this child's pages in `chunk` with the parent's entries for
    /// the same chunk (`parent[i]` is page `chunk.start + i`), and with its frames
    /// at the child's first sighting if given (likewise). Chunks must come in
    /// ascending order. `child` is scratch space for the child's entries.
    fn scan_chunk(
        &mut self,
        chunk: Range<usize>,
        parent: &[PageInfo],
        parent_at_sighting: Option<&[u64]>,
        child: &mut Vec<PageInfo>,
        method: TruthMethod,
        regions: &DeclaredPages,
    ) -> Result<(), PageTruthError> {
        while self
            .mappings
            .get(self.next_mapping)
            .is_some_and(|examined| examined.pages.end <= chunk.start)
        {
            self.next_mapping += 1;
        }
        for examined in &self.mappings[self.next_mapping..] {
            let pages = &examined.pages;
            if pages.start >= chunk.end {
                break;
            }
            let overlap = pages.start.max(chunk.start)..pages.end.min(chunk.end);
            child.clear();
            child.resize(overlap.len(), ABSENT);
            self.pagemap.read_into(overlap.start, child)?;
            let in_parent = overlap.start - chunk.start..overlap.end - chunk.start;
            // Captures hold the parent's private writable mappings only: in a shared mapping
            // a frame differing from the parent's counts as copied (one side maps something
            // else there), as without captures.
            let at_sighting = parent_at_sighting
                .filter(|_| !examined.in_shared_mapping)
                .map(|frames| &frames[in_parent.clone()]);
            self.tally.add_pages(
                overlap,
                examined.kind,
                child,
                &parent[in_parent],
                at_sighting,
                method,
                regions,
            );
        }
        Ok(())
    }

    fn finish(
        self,
        method: TruthMethod,
        page_size: u64,
        regions: &DeclaredPages,
    ) -> Result<ChildComparison, PageTruthError> {
        let thp_caveat = match method {
            TruthMethod::Pfn => false,
            TruthMethod::ExclusiveBit => {
                has_pmd_mapped_examined(self.pid, &self.process, page_size, regions)?
            }
        };
        let (total, regions, page_lists) = self.tally.into_regions(regions, page_size);
        let truth = ChildTruth {
            exact: method == TruthMethod::Pfn,
            method,
            thp_caveat,
            page_size_bytes: page_size,
            against_sighting: self.capture.is_some(),
            total,
            regions,
        };
        Ok(ChildComparison { truth, page_lists })
    }
}

/// Fills `entries` with the parent's pagemap over `chunk`, reading only in
/// `parent_ranges` (see [`parent_pages`]); elsewhere the parent counts as absent.
fn read_parent_chunk(
    entries: &mut Vec<PageInfo>,
    chunk: Range<usize>,
    parent_ranges: &[Range<usize>],
    pagemap: &PagemapReader,
) -> Result<(), PageTruthError> {
    entries.clear();
    entries.resize(chunk.len(), ABSENT);
    let first = parent_ranges.partition_point(|r| r.end <= chunk.start);
    for range in &parent_ranges[first..] {
        if range.start >= chunk.end {
            break;
        }
        let overlap = range.start.max(chunk.start)..range.end.min(chunk.end);
        pagemap.read_into(
            overlap.start,
            &mut entries[overlap.start - chunk.start..overlap.end - chunk.start],
        )?;
    }
    Ok(())
}

/// Sorted, merged page ranges covering every examined page of the readable children.
fn union_of_child_ranges<L>(scans: &[Result<ChildScan<L>, PageTruthError>]) -> Vec<Range<usize>> {
    merge_ranges(
        scans
            .iter()
            .flatten()
            .flat_map(|scan| scan.mappings.iter().map(|examined| examined.pages.clone()))
            .collect(),
    )
}

pub(super) fn chunks(span: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    span.clone()
        .step_by(CHUNK_PAGES)
        .map(move |start| start..(start + CHUNK_PAGES).min(span.end))
}
