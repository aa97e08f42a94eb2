//! The pure classification, on synthetic pagemap entries: 64-bit words as the
//! kernel writes them (present bit 63, swapped bit 62, exclusive bit 56, PFN in
//! bits 0-54), decoded by procfs as the readers decode real ones.

use procfs::process::PageInfo;

use crate::kernel::pagemap::frames::NO_FRAME;
use crate::kernel::pagemap::regions::{DeclaredPages, MappingKind};
use crate::kernel::pagemap::tally::{PageListSink, PageRunLists, RegionTally, tally_pages};

use crate::kernel::pagemap::{DeclaredRegion, PageCounts, PageLists, RegionTruth, TruthMethod};

const PRESENT: u64 = 1 << 63;
const SWAPPED: u64 = 1 << 62;
const EXCLUSIVE: u64 = 1 << 56;
const PAGE_BYTES: u64 = 4096;

fn present(pfn: u64) -> PageInfo {
    PageInfo::parse_info(PRESENT | pfn)
}

fn present_exclusive(pfn: u64) -> PageInfo {
    PageInfo::parse_info(PRESENT | EXCLUSIVE | pfn)
}

fn absent() -> PageInfo {
    PageInfo::parse_info(0)
}

/// Swap type 1, offset 77 (type in bits 0-4, offset from bit 5).
fn swapped() -> PageInfo {
    PageInfo::parse_info(SWAPPED | (77 << 5) | 1)
}

/// The counts of `child` against `parent` page by page.
fn tally(child: &[PageInfo], parent: &[PageInfo], method: TruthMethod) -> PageCounts {
    let mut counts = PageCounts::default();
    tally_pages(0, child, parent, None, method, &mut counts, &mut ());
    counts
}

#[test]
fn pairs_classify_by_frame() {
    let child = [
        present(1),
        present(2),
        present(3),
        absent(),
        present(5),
        swapped(),
        absent(),
        present(8),
    ];
    let parent = [
        present(1),
        present(20),
        absent(),
        present(4),
        swapped(),
        present(6),
        absent(),
        present(8),
    ];
    let counts = tally(&child, &parent, TruthMethod::Pfn);
    assert_eq!(
        counts,
        PageCounts {
            shared_pages: 2,
            copied_pages: 1,
            child_only_pages: 1,
            parent_only_pages: 1,
            swapped_pages: 2,
            rewritten_by_parent_pages: 0,
        }
    );
    assert_eq!(counts.child_present_pages(), 4);
}

#[test]
fn exclusive_bit_decides_without_frames() {
    // Hidden PFNs read as 0: only the child's exclusive bit tells a copy.
    let child = [
        present_exclusive(0),
        present(0),
        present_exclusive(0),
        absent(),
    ];
    let parent = [present(0), present(0), absent(), present(0)];
    let counts = tally(&child, &parent, TruthMethod::ExclusiveBit);
    assert_eq!(
        counts,
        PageCounts {
            shared_pages: 1,
            copied_pages: 1,
            child_only_pages: 1,
            parent_only_pages: 1,
            swapped_pages: 0,
            rewritten_by_parent_pages: 0,
        }
    );
    // The same entries by frame: frame 0 everywhere looks shared, which is why the
    // PFN method is only used when frames are visible.
    let by_frame = tally(&child, &parent, TruthMethod::Pfn);
    assert_eq!(by_frame.shared_pages, 2);
    assert_eq!(by_frame.copied_pages, 0);
}

fn region(name: &str, start: u64, end: u64) -> DeclaredRegion {
    DeclaredRegion {
        name: name.into(),
        start,
        end,
    }
}

fn counts(shared_pages: u64, copied_pages: u64, child_only_pages: u64) -> PageCounts {
    PageCounts {
        shared_pages,
        copied_pages,
        child_only_pages,
        ..Default::default()
    }
}

/// Child page `p` maps frame `p`; the parent maps the same frame on even pages and
/// another on odd ones: even pages are shared, odd pages copied.
fn even_shared_odd_copied(pages: std::ops::Range<usize>) -> (Vec<PageInfo>, Vec<PageInfo>) {
    let child = pages.clone().map(|p| present(p as u64)).collect();
    let parent = pages
        .map(|p| present(if p % 2 == 0 { p } else { p + 1000 } as u64))
        .collect();
    (child, parent)
}

#[test]
fn declared_regions_take_partial_pages_and_the_first_region_wins() {
    let declared = [
        // Starts one byte into page 101 and ends where page 105 begins: pages 101..=104.
        region("a", 101 * PAGE_BYTES + 1, 105 * PAGE_BYTES),
        // Pages 103..=110 (one byte of 110); 103 and 104 are already "a"'s.
        region("b", 103 * PAGE_BYTES, 110 * PAGE_BYTES + 1),
        // Same name as the first: the same counts.
        region("a", 115 * PAGE_BYTES, 116 * PAGE_BYTES),
        // Nowhere near the child's mappings: listed, with zero counts.
        region("c", 900 * PAGE_BYTES, 901 * PAGE_BYTES),
    ];
    let regions = DeclaredPages::new(&declared, PAGE_BYTES);
    let mut tally = RegionTally::<()>::new(regions.names.len());

    // An anonymous mapping of pages 100..120, tallied in two chunks split inside "b".
    for piece in [100..108, 108..120] {
        let (child, parent) = even_shared_odd_copied(piece.clone());
        tally.add_pages(
            piece,
            MappingKind::Anon,
            &child,
            &parent,
            None,
            TruthMethod::Pfn,
            &regions,
        );
    }
    // A heap mapping of pages 200..204 the parent does not have.
    let child: Vec<PageInfo> = (200..204).map(present).collect();
    tally.add_pages(
        200..204,
        MappingKind::Heap,
        &child,
        &[absent(); 4],
        None,
        TruthMethod::Pfn,
        &regions,
    );

    let (total, truths, lists) = tally.into_regions(&regions, PAGE_BYTES);
    assert_eq!(lists, None);
    let truth = |name: &str, declared: bool, counts: PageCounts| RegionTruth {
        region: name.into(),
        declared,
        counts,
    };
    assert_eq!(
        truths,
        vec![
            // 101, 102, 103, 104 and 115.
            truth("a", true, counts(2, 3, 0)),
            // 105..=110.
            truth("b", true, counts(3, 3, 0)),
            truth("c", true, counts(0, 0, 0)),
            // Mapping kinds in the order heap, stack, anon, file, other.
            truth("heap", false, counts(0, 0, 4)),
            // 100, 111..=114 and 116..=119.
            truth("anon", false, counts(5, 4, 0)),
        ]
    );
    assert_eq!(total, counts(10, 10, 4));
}

#[test]
fn page_lists_are_merged_address_runs_across_pieces() {
    let regions = DeclaredPages::new(&[region("r", 14 * PAGE_BYTES, 16 * PAGE_BYTES)], PAGE_BYTES);
    let mut tally = RegionTally::<PageRunLists>::new(regions.names.len());
    // Pages 10..20: copied except 13 (child only) and 14 (shared); pieces split at 16,
    // and the declared region cuts them at 14 and 16.
    let child: Vec<PageInfo> = (10..20).map(present).collect();
    let parent: Vec<PageInfo> = (10..20)
        .map(|p| match p {
            13 => absent(),
            14 => present(p),
            _ => present(p + 1000),
        })
        .collect();
    for piece in [10..16, 16..20] {
        let within = piece.start - 10..piece.end - 10;
        tally.add_pages(
            piece,
            MappingKind::Anon,
            &child[within.clone()],
            &parent[within],
            None,
            TruthMethod::Pfn,
            &regions,
        );
    }
    let (total, _, lists) = tally.into_regions(&regions, PAGE_BYTES);
    let bytes = |pages: std::ops::Range<u64>| pages.start * PAGE_BYTES..pages.end * PAGE_BYTES;
    let lists = lists.expect("page lists were asked for");
    assert_eq!(lists.copied, vec![bytes(10..13), bytes(15..20)]);
    assert_eq!(lists.child_only, vec![bytes(13..14)]);
    assert_eq!(
        PageLists::pages_in(&lists.copied, PAGE_BYTES),
        total.copied_pages
    );
    assert_eq!(total, counts(1, 8, 1));
    // Every examined page is labelled, and the runs split along the labels.
    let labels: Vec<(&str, std::ops::Range<u64>)> = lists
        .regions
        .iter()
        .map(|l| (l.region.as_str(), l.range.clone()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("anon", bytes(10..14)),
            ("r", bytes(14..16)),
            ("anon", bytes(16..20))
        ]
    );
    assert_eq!(
        lists.by_region(&lists.copied),
        vec![
            ("anon".to_string(), vec![bytes(10..13), bytes(16..20)]),
            ("r".to_string(), vec![bytes(15..16)]),
        ]
    );
}

#[test]
fn frames_at_sighting_tell_the_parents_rewrites_from_the_childs_copies() {
    // (child frame, parent frame now, parent frame at the child's first sighting)
    let pages = [
        (7, 7, 7),        // shared all along
        (7, 9, 7),        // the parent rewrote: the child kept the sighted frame
        (8, 9, 9),        // the child copied after the sighting
        (8, 9, NO_FRAME), // the parent had no frame there at the sighting: copied before
        (8, 9, 5),        // already apart at the sighting: copied before
        (3, 3, 4),        // shared again (the parent's frame moved back): shared now
    ];
    let child: Vec<PageInfo> = pages.iter().map(|p| present(p.0)).collect();
    let parent: Vec<PageInfo> = pages.iter().map(|p| present(p.1)).collect();
    let sighted: Vec<u64> = pages.iter().map(|p| p.2).collect();
    let mut counts = PageCounts::default();
    let mut lists = PageRunLists::default();
    tally_pages(
        100,
        &child,
        &parent,
        Some(&sighted),
        TruthMethod::Pfn,
        &mut counts,
        &mut lists,
    );
    assert_eq!(
        counts,
        PageCounts {
            shared_pages: 2,
            copied_pages: 3,
            rewritten_by_parent_pages: 1,
            ..Default::default()
        }
    );
    assert_eq!(counts.child_present_pages(), 6);
    // The page lists hold the child's copies only.
    let lists = lists.into_lists(PAGE_BYTES, &[]).unwrap();
    assert_eq!(lists.copied, vec![102 * PAGE_BYTES..105 * PAGE_BYTES]);

    // Without the sighting the parent's rewrite is a copy, as it always was.
    assert_eq!(
        tally(&child, &parent, TruthMethod::Pfn),
        PageCounts {
            shared_pages: 2,
            copied_pages: 4,
            ..Default::default()
        }
    );
}
