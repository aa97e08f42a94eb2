//! The pure part of page truth: classifying (child entry, parent entry) pairs
//! into [`PageCounts`], per declared region or mapping kind. No I/O here: the
//! entries come from `compare`, or from hand-made 64-bit entries in the tests.

use std::ops::Range;

use procfs::process::{MemoryPageFlags, PageInfo};

use super::regions::{DeclaredPages, MappingKind};
use super::{PageCounts, RegionTruth, TruthMethod};

/// Classifies each page pair and adds it to `counts`. Any swap entry on
/// either side makes the pair incomparable.
pub(super) fn tally_pages(
    child: &[PageInfo],
    parent: &[PageInfo],
    method: TruthMethod,
    counts: &mut PageCounts,
) {
    debug_assert_eq!(child.len(), parent.len());
    for (child, parent) in child.iter().zip(parent) {
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
            (true, false) => counts.child_only_pages += 1,
            (true, true) => {
                let same_frame = match method {
                    TruthMethod::Pfn => {
                        child.get_page_frame_number() == parent.get_page_frame_number()
                    }
                    TruthMethod::ExclusiveBit => !child.contains(MemoryPageFlags::MMAP_EXCLUSIVE),
                };
                if same_frame {
                    counts.shared_pages += 1;
                } else {
                    counts.copied_pages += 1;
                }
            }
        }
    }
}

/// Counts per declared slot and per mapping kind.
pub(super) struct RegionTally {
    declared: Vec<PageCounts>,
    /// `None` until a mapping of that kind contributes a segment.
    kinds: [Option<PageCounts>; 5],
}

impl RegionTally {
    pub(super) fn new(declared_slots: usize) -> Self {
        RegionTally {
            declared: vec![PageCounts::default(); declared_slots],
            kinds: [None; 5],
        }
    }

    fn counts_mut(&mut self, slot: Option<usize>, kind: MappingKind) -> &mut PageCounts {
        match slot {
            Some(slot) => &mut self.declared[slot],
            None => self.kinds[kind as usize].get_or_insert_default(),
        }
    }

    /// Tallies `pages`, a piece of one child mapping of kind `kind`: `child[i]`
    /// and `parent[i]` are the entries of page `pages.start + i`.
    pub(super) fn add_pages(
        &mut self,
        pages: Range<usize>,
        kind: MappingKind,
        child: &[PageInfo],
        parent: &[PageInfo],
        method: TruthMethod,
        regions: &DeclaredPages,
    ) {
        debug_assert_eq!(child.len(), pages.len());
        regions.for_each_segment(pages.clone(), |segment, slot| {
            let within = segment.start - pages.start..segment.end - pages.start;
            let counts = self.counts_mut(slot, kind);
            tally_pages(&child[within.clone()], &parent[within], method, counts);
        });
    }

    pub(super) fn into_regions(self, regions: &DeclaredPages) -> (PageCounts, Vec<RegionTruth>) {
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
        (total, regions)
    }
}
