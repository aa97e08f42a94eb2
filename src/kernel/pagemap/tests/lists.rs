//! Page lists: where a real child's copied and child-only pages are.

use std::ops::Range;

use super::*;
use crate::kernel::pagemap::*;

/// The parts of `runs` that lie inside `within`.
fn clipped(runs: &[Range<u64>], within: Range<u64>) -> Vec<Range<u64>> {
    runs.iter()
        .map(|run| run.start.max(within.start)..run.end.min(within.end))
        .filter(|run| !run.is_empty())
        .collect()
}

#[test]
fn child_gets_back_the_address_runs_it_wrote() {
    let _serial = serial();
    require_pfns();
    const FRESH_PAGES: usize = 64;
    let data = Region::filled_data();
    let last = data.pages() - 1;
    let written = [0..3, 10..11, 20..30, 4095..4097, last..last + 1];
    let (child, fresh_start) = spawn_child(|| {
        data.write_pages(written.iter().cloned().flatten());
        // SAFETY: a fresh mapping of the child's own, written in two runs.
        unsafe {
            let fresh = libc::mmap(
                std::ptr::null_mut(),
                FRESH_PAGES * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if fresh == libc::MAP_FAILED {
                libc::_exit(1);
            }
            for page in (0..5).chain(7..8) {
                page_write(fresh.cast::<u8>().add(page * PAGE));
            }
            fresh as u64
        }
    });
    let options = CompareOptions {
        page_lists: true,
        ..CompareOptions::default()
    };
    let declared = [data.declared("data")];
    let mut results = compare_children_with(me(), &[child.pid()], &declared, &options).unwrap();
    let ChildComparison { truth, page_lists } = results.pop().unwrap().unwrap();
    let lists = page_lists.expect("page lists were asked for");
    println!(
        "copied {:x?}\nchild only {:x?}",
        lists.copied, lists.child_only
    );

    let address = |page: usize| data.start() + (page * PAGE) as u64;
    let data_bytes = data.start()..address(data.pages());
    let expected: Vec<Range<u64>> = written
        .iter()
        .map(|pages| address(pages.start)..address(pages.end))
        .collect();
    assert_eq!(clipped(&lists.copied, data_bytes.clone()), expected);
    assert_eq!(clipped(&lists.child_only, data_bytes), vec![]);
    let fresh = |page: u64| fresh_start + page * PAGE as u64;
    assert_eq!(
        clipped(&lists.child_only, fresh_start..fresh(FRESH_PAGES as u64)),
        vec![fresh(0)..fresh(5), fresh(7)..fresh(8)]
    );
    // The lists hold exactly the pages counted, the child's stack and heap included.
    let page_size = truth.page_size_bytes;
    assert_eq!(
        PageLists::pages_in(&lists.copied, page_size),
        truth.total.copied_pages
    );
    assert_eq!(
        PageLists::pages_in(&lists.child_only, page_size),
        truth.total.child_only_pages
    );
    let data_counts = truth.declared_region("data").unwrap().counts;
    assert_eq!(data_counts.copied_pages, 17);
    // Sorted and merged: each run starts after the previous one ends.
    for runs in [&lists.copied, &lists.child_only] {
        assert!(runs.windows(2).all(|pair| pair[0].end < pair[1].start));
    }

    // Not asked for: none kept.
    let mut plain =
        compare_children_with(me(), &[child.pid()], &declared, &CompareOptions::default()).unwrap();
    assert_eq!(plain.pop().unwrap().unwrap().page_lists, None);
}
