//! Declared regions in MAP_SHARED mappings: compared page by page like private memory, where
//! a write copies nothing. Real forks, exact counts, with both methods.

use super::*;
use crate::kernel::pagemap::regions::DeclaredPages;
use crate::kernel::pagemap::*;

const SHARED_BYTES: usize = 16 << 20;
const SHARED_PAGES: u64 = (SHARED_BYTES / PAGE) as u64;

/// The counts of the region called `name` in each child, with `method`.
fn region_counts(
    child_pids: &[i32],
    declared: &[DeclaredRegion],
    name: &str,
    method: TruthMethod,
) -> Vec<PageCounts> {
    compare_children_using(me(), child_pids, declared, method)
        .unwrap()
        .into_iter()
        .map(|truth| {
            let truth = truth.unwrap();
            assert_eq!(truth.method, method);
            // Declared pages count in the totals, as on private memory.
            let total = truth.total;
            let region = truth.declared_region(name).unwrap().counts;
            assert!(total.shared_pages >= region.shared_pages, "{truth:?}");
            assert!(total.parent_only_pages >= region.parent_only_pages);
            region
        })
        .collect()
}

/// A child that maps, at `data`'s addresses, fresh memory (`sharing`: MAP_SHARED or
/// MAP_PRIVATE) and writes every page of it.
fn spawn_remapper(data: &Region, sharing: libc::c_int) -> Child {
    spawn_child(|| {
        // SAFETY: replaces the child's own mapping of `data` (the parent keeps its own).
        let fresh = unsafe {
            libc::mmap(
                data.ptr.cast(),
                data.len,
                libc::PROT_READ | libc::PROT_WRITE,
                sharing | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if fresh != data.ptr.cast() {
            // SAFETY: async-signal-safe.
            unsafe { libc::_exit(1) };
        }
        data.write_pages(0..data.pages());
        0
    })
    .0
}

#[test]
fn children_share_every_shared_page_they_map_and_copy_none_even_writing() {
    let _serial = serial();
    require_pfns();
    let data = Region::shared(SHARED_BYTES);
    data.fill(0x5A);
    let (reader, sum) = spawn_child(|| {
        (0..data.pages())
            // SAFETY: inside `data`.
            .map(|page| u64::from(unsafe { std::ptr::read_volatile(data.page_ptr(page)) }))
            .sum()
    });
    assert_eq!(sum, 0x5A * SHARED_PAGES);
    let writer = spawn_writer(&data, 0..data.pages());
    // The writes went to the one shared copy: the parent reads them.
    // SAFETY: inside `data`.
    assert_eq!(unsafe { std::ptr::read_volatile(data.page_ptr(0)) }, 0x5B);
    // Fork copies no page-table entry of a shared mapping: an idle child maps none of it.
    let (idle, _) = spawn_child(|| 0);
    let declared = [data.declared("data")];
    let pids = [reader.pid(), writer.pid(), idle.pid()];

    let touched = PageCounts {
        shared_pages: SHARED_PAGES,
        ..PageCounts::default()
    };
    let untouched = PageCounts {
        parent_only_pages: SHARED_PAGES,
        ..PageCounts::default()
    };
    for method in [TruthMethod::Pfn, TruthMethod::ExclusiveBit] {
        let counts = region_counts(&pids, &declared, "data", method);
        println!("{method:?}: reader, writer, idle {counts:?}");
        assert_eq!(counts, [touched, touched, untouched], "{method:?}");
    }
}

#[test]
fn pages_the_parent_never_touched_are_child_only() {
    let _serial = serial();
    require_pfns();
    let data = Region::shared(SHARED_BYTES);
    let half = data.pages() / 2;
    data.write_pages(0..half);
    let child = spawn_writer(&data, 0..data.pages());
    let declared = [data.declared("data")];
    let half = half as u64;
    for method in [TruthMethod::Pfn, TruthMethod::ExclusiveBit] {
        let counts = region_counts(&[child.pid()], &declared, "data", method);
        assert_eq!(
            counts,
            [PageCounts {
                shared_pages: half,
                child_only_pages: SHARED_PAGES - half,
                ..PageCounts::default()
            }],
            "{method:?}"
        );
    }
}

#[test]
fn a_child_mapping_other_memory_at_a_shared_region_copied_it() {
    let _serial = serial();
    require_pfns();
    let data = Region::shared(SHARED_BYTES);
    data.fill(0x5A);
    let other_shared = spawn_remapper(&data, libc::MAP_SHARED);
    let other_private = spawn_remapper(&data, libc::MAP_PRIVATE);
    let declared = [data.declared("data")];
    let copied = PageCounts {
        copied_pages: SHARED_PAGES,
        ..PageCounts::default()
    };
    // The new pages are mapped once, by the child: the exclusive bit sees them too.
    for method in [TruthMethod::Pfn, TruthMethod::ExclusiveBit] {
        let pids = [other_shared.pid(), other_private.pid()];
        let counts = region_counts(&pids, &declared, "data", method);
        println!("{method:?}: shared, private remap {counts:?}");
        assert_eq!(counts, [copied, copied], "{method:?}");
    }
}

#[test]
fn against_the_sighting_a_shared_region_counts_as_without() {
    let _serial = serial();
    require_pfns();
    let data = Region::shared(SHARED_BYTES);
    data.fill(0x5A);
    let mut writer = GatedChild::spawn(|| {
        data.write_pages(0..data.pages());
        0
    });
    let mut frames = ParentFrames::new(me());
    let sighting = frames.capture().unwrap();
    writer.run();
    let other = spawn_remapper(&data, libc::MAP_SHARED);
    let options = CompareOptions {
        at_sighting: Some(AtSighting {
            parent_frames: &frames,
            captures: &[Some(sighting), Some(sighting)],
        }),
        ..CompareOptions::default()
    };
    let declared = [data.declared("data")];
    let results =
        compare_children_with(me(), &[writer.pid(), other.pid()], &declared, &options).unwrap();
    let counts: Vec<PageCounts> = results
        .into_iter()
        .map(|result| {
            let truth = result.unwrap().truth;
            assert!(truth.against_sighting);
            truth.declared_region("data").unwrap().counts
        })
        .collect();
    let kept = PageCounts {
        shared_pages: SHARED_PAGES,
        ..PageCounts::default()
    };
    let replaced = PageCounts {
        copied_pages: SHARED_PAGES,
        ..PageCounts::default()
    };
    assert_eq!(counts, [kept, replaced]);
}

#[test]
fn an_undeclared_shared_mapping_is_not_examined() {
    let _serial = serial();
    require_pfns();
    let data = Region::shared(SHARED_BYTES);
    data.fill(0x5A);
    let child = spawn_writer(&data, 0..data.pages());
    let options = CompareOptions {
        page_lists: true,
        ..CompareOptions::default()
    };
    let within = data.start()..data.start() + SHARED_BYTES as u64;
    let examined = |declared: &[DeclaredRegion]| -> Vec<LabelledRange> {
        let mut results = compare_children_with(me(), &[child.pid()], declared, &options).unwrap();
        let lists = results.pop().unwrap().unwrap().page_lists.unwrap();
        lists
            .regions
            .into_iter()
            .filter(|l| l.range.start < within.end && within.start < l.range.end)
            .collect()
    };
    assert_eq!(examined(&[]), []);
    // Declared, exactly the declared part is examined, and labelled with the region's name.
    let quarter = within.start..within.start + SHARED_BYTES as u64 / 4;
    let declared = [DeclaredRegion {
        name: "front".into(),
        start: quarter.start,
        end: quarter.end,
    }];
    assert_eq!(
        examined(&declared),
        [LabelledRange {
            region: "front".into(),
            range: quarter
        }]
    );
}

#[test]
fn covered_parts_are_the_declared_pages_within_a_range() {
    let region = |name: &str, start: u64, end: u64| DeclaredRegion {
        name: name.into(),
        start,
        end,
    };
    let page = PAGE as u64;
    let declared = DeclaredPages::new(
        &[
            // Pages 2..=4 (partial pages belong to the region).
            region("a", 2 * page + 1, 4 * page + 1),
            // Pages 4..8: overlaps "a", merged with it.
            region("b", 4 * page, 8 * page),
            region("c", 20 * page, 30 * page),
        ],
        page,
    );
    assert_eq!(declared.covered_parts(0..100), [2..8, 20..30]);
    assert_eq!(declared.covered_parts(5..25), [5..8, 20..25]);
    assert_eq!(declared.covered_parts(8..20), []);
    assert_eq!(DeclaredPages::new(&[], page).covered_parts(0..100), []);
}
