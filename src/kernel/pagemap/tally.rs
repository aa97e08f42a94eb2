//! The pure part of page truth: classifying (child entry, parent entry) pairs
//! into [`PageCounts`], per declared region or mapping kind. No I/O here: the
//! entries come from `compare`, or from hand-made 64-bit entries in the tests.

use std::ops::Range;

use procfs::process::{MemoryPageFlags, PageInfo};

use super::regions::{DeclaredPages, MappingKind};
use super::{LabelledRange, PageCounts, PageLists, RegionTruth, TruthMethod};

/// Classifies each page pair (pages `first_page..`) and adds it to `counts`; tells
/// `lists` which pages the child copied and which only it has. Any swap entry on
/// either side makes the pair incomparable. With `parent_at_sighting` (the parent's
/// frame per page at the child's first sighting, [`NO_FRAME`](super::frames::NO_FRAME)
/// where it had none; PFN
/// method only), a page whose frames differ is the parent's rewrite when the child
/// still maps the frame the parent had then.
pub(super) fn tally_pages(
    first_page: usize,
    child: &[PageInfo],
    parent: &[PageInfo],
    parent_at_sighting: Option<&[u64]>,
    method: TruthMethod,
    counts: &mut PageCounts,
    lists: &mut impl PageListSink,
) {
    debug_assert_eq!(child.len(), parent.len());
    debug_assert!(parent_at_sighting.is_none_or(|frames| frames.len() == child.len()));
    debug_assert!(parent_at_sighting.is_none() || method == TruthMethod::Pfn);
    for (i, (child, parent)) in child.iter().zip(parent).enumerate() {
        let page = first_page + i;
        let (PageInfo::MemoryPage(child), PageInfo::MemoryPage(parent)) = (child, parent) else {
            counts.swapped_pages += 1;
            continue;
        };
        match (
            child.contains(MemoryPageFlags::PRESENT),
            parent.contains(MemoryPageFlags::PRESENT),
        ) {
            (false, false) => {}
            (false, true) => counts.parent_only_pages += 1,
            (true, false) => {
                counts.child_only_pages += 1;
                lists.child_only(page);
            }
            (true, true) => {
                let same_frame = match method {
                    TruthMethod::Pfn => {
                        child.get_page_frame_number() == parent.get_page_frame_number()
                    }
                    TruthMethod::ExclusiveBit => !child.contains(MemoryPageFlags::MMAP_EXCLUSIVE),
                };
                let kept_sighted_frame =
                    |frames: &[u64]| frames[i] == child.get_page_frame_number().0;
                if same_frame {
                    counts.shared_pages += 1;
                } else if parent_at_sighting.is_some_and(kept_sighted_frame) {
                    counts.rewritten_by_parent_pages += 1;
                } else {
                    counts.copied_pages += 1;
                    lists.copied(page);
                }
            }
        }
    }
}

/// Where the tally reports the pages a child copied and those only it has, in
/// ascending page order. `()` collects nothing, and its calls compile away: the
/// normal path does not pay for page lists.
pub(super) trait PageListSink: Default {
    fn copied(&mut self, page: usize);
    fn child_only(&mut self, page: usize);
    /// Pages `pages` belong to region `region` (an index into the names given to
    /// [`PageListSink::into_lists`]). Called in ascending page order.
    fn segment(&mut self, pages: Range<usize>, region: usize);
    fn into_lists(self, page_size: u64, region_names: &[String]) -> Option<PageLists>;
}

impl PageListSink for () {
    #[inline(always)]
    fn copied(&mut self, _page: usize) {}
    #[inline(always)]
    fn child_only(&mut self, _page: usize) {}
    #[inline(always)]
    fn segment(&mut self, _pages: Range<usize>, _region: usize) {}
    fn into_lists(self, _page_size: u64, _region_names: &[String]) -> Option<PageLists> {
        None
    }
}

/// Runs of consecutive page indices, from pages pushed in ascending order.
#[derive(Debug, Default)]
pub(super) struct PageRuns {
    runs: Vec<Range<u64>>,
}

impl PageRuns {
    pub(super) fn push(&mut self, page: usize) {
        let page = page as u64;
        match self.runs.last_mut() {
            Some(last) if last.end == page => last.end += 1,
            last => {
                debug_assert!(
                    last.is_none_or(|last| last.end < page),
                    "pages out of order"
                );
                self.runs.push(page..page + 1);
            }
        }
    }

    /// The runs as virtual byte addresses.
    pub(super) fn into_addresses(self, page_size: u64) -> Vec<Range<u64>> {
        self.runs
            .into_iter()
            .map(|run| run.start * page_size..run.end * page_size)
            .collect()
    }
}

/// Collects both page lists as runs, and which region each examined segment belongs to.
#[derive(Debug, Default)]
pub(super) struct PageRunLists {
    copied: PageRuns,
    child_only: PageRuns,
    /// (pages, region index), adjacent segments of one region merged.
    segments: Vec<(Range<usize>, usize)>,
}

impl PageListSink for PageRunLists {
    fn copied(&mut self, page: usize) {
        self.copied.push(page);
    }
    fn child_only(&mut self, page: usize) {
        self.child_only.push(page);
    }
    fn segment(&mut self, pages: Range<usize>, region: usize) {
        match self.segments.last_mut() {
            Some((last, index)) if *index == region && last.end == pages.start => {
                last.end = pages.end
            }
            _ => self.segments.push((pages, region)),
        }
    }
    fn into_lists(self, page_size: u64, region_names: &[String]) -> Option<PageLists> {
        let page_size_u = page_size as usize;
        Some(PageLists {
            copied: self.copied.into_addresses(page_size),
            child_only: self.child_only.into_addresses(page_size),
            regions: self
                .segments
                .into_iter()
                .map(|(pages, index)| LabelledRange {
                    region: region_names[index].clone(),
                    range: (pages.start * page_size_u) as u64..(pages.end * page_size_u) as u64,
                })
                .collect(),
        })
    }
}

/// Counts per declared slot and per mapping kind, and the page lists if `L` keeps them.
pub(super) struct RegionTally<L> {
    declared: Vec<PageCounts>,
    /// `None` until a mapping of that kind contributes a segment.
    kinds: [Option<PageCounts>; 5],
    lists: L,
}

impl<L: PageListSink> RegionTally<L> {
    pub(super) fn new(declared_slots: usize) -> Self {
        RegionTally {
            declared: vec![PageCounts::default(); declared_slots],
            kinds: [None; 5],
            lists: L::default(),
        }
    }

    /// Tallies `pages`, a piece of one child mapping of kind `kind`: `child[i]`,
    /// `parent[i]` (and `parent_at_sighting[i]`, see [`tally_pages`]) are the entries of
    /// page `pages.start + i`. Pieces must come in ascending page order.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_pages(
        &mut self,
        pages: Range<usize>,
        kind: MappingKind,
        child: &[PageInfo],
        parent: &[PageInfo],
        parent_at_sighting: Option<&[u64]>,
        method: TruthMethod,
        regions: &DeclaredPages,
    ) {
        debug_assert_eq!(child.len(), pages.len());
        let declared_slots = self.declared.len();
        regions.for_each_segment(pages.clone(), |segment, slot| {
            let within = segment.start - pages.start..segment.end - pages.start;
            self.lists.segment(
                segment.clone(),
                slot.unwrap_or(declared_slots + kind as usize),
            );
            let counts = match slot {
                Some(slot) => &mut self.declared[slot],
                None => self.kinds[kind as usize].get_or_insert_default(),
            };
            tally_pages(
                segment.start,
                &child[within.clone()],
                &parent[within.clone()],
                parent_at_sighting.map(|frames| &frames[within]),
                method,
                counts,
                &mut self.lists,
            );
        });
    }

    /// The total, the counts per region as [`super::ChildTruth`] lists them, and the page
    /// lists if kept.
    pub(super) fn into_regions(
        self,
        regions: &DeclaredPages,
        page_size: u64,
    ) -> (PageCounts, Vec<RegionTruth>, Option<PageLists>) {
        let region_names = &regions.names;
        let declared = regions
            .names
            .iter()
            .zip(self.declared)
            .map(|(name, counts)| RegionTruth {
                region: name.clone(),
                declared: true,
                counts,
            });
        let kinds = MappingKind::ALL
            .iter()
            .zip(self.kinds)
            .filter_map(|(kind, counts)| {
                counts.map(|counts| RegionTruth {
                    region: kind.name().to_string(),
                    declared: false,
                    counts,
                })
            });
        let regions: Vec<RegionTruth> = declared.chain(kinds).collect();
        let mut total = PageCounts::default();
        for region in &regions {
            total.add(&region.counts);
        }
        // Region indices as the sink saw them: declared slots, then mapping kinds.
        let names: Vec<String> = region_names
            .iter()
            .cloned()
            .chain(MappingKind::ALL.iter().map(|kind| kind.name().to_string()))
            .collect();
        (total, regions, self.lists.into_lists(page_size, &names))
    }
}
