//! Copies by the child versus rewrites by the parent, judged against the parent's frames
//! captured at the child's first sighting: real forks, exact counts.

use super::*;
use crate::kernel::pagemap::frames::NO_FRAME;
use crate::kernel::pagemap::*;

fn judged(
    child_pids: &[i32],
    declared: &[DeclaredRegion],
    frames: &ParentFrames,
    captures: &[Option<CaptureId>],
    method: Option<TruthMethod>,
) -> Vec<ChildComparison> {
    let options = CompareOptions {
        method,
        page_lists: true,
        at_sighting: Some(AtSighting {
            parent_frames: frames,
            captures,
        }),
    };
    compare_children_with(me(), child_pids, declared, &options)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn parent_rewrites_after_the_sighting_are_not_the_childs_copies() {
    let _serial = serial();
    require_pfns();
    let data = Region::filled_data();
    let parent_pages = (1..data.pages()).step_by(8); // P = 2048
    let child_pages = (2..data.pages()).step_by(16); // C = 1024, none of the parent's
    let (p, c) = (parent_pages.len() as u64, child_pages.len() as u64);
    let mut child = GatedChild::spawn(|| {
        data.write_pages(child_pages.clone());
        0
    });
    let mut frames = ParentFrames::new(me());
    let sighting = frames.capture().unwrap();
    data.write_pages(parent_pages);
    child.run();
    let declared = [data.declared("data")];

    let mut results = judged(&[child.pid()], &declared, &frames, &[Some(sighting)], None);
    let ChildComparison { truth, page_lists } = results.pop().unwrap();
    let counts = truth.declared_region("data").unwrap().counts;
    println!("against the sighting: {counts:?}");
    assert!(truth.against_sighting);
    assert_eq!(counts.copied_pages, c);
    assert_eq!(counts.rewritten_by_parent_pages, p);
    assert_eq!(counts.shared_pages, DATA_PAGES - c - p);
    assert_eq!(counts.child_present_pages(), DATA_PAGES);
    // The copied list holds the child's own copies only.
    let data_end = data.start() + DATA_BYTES as u64;
    let listed: u64 = page_lists
        .unwrap()
        .copied
        .iter()
        .map(|run| run.start.max(data.start())..run.end.min(data_end))
        .filter(|run| !run.is_empty())
        .map(|run| (run.end - run.start) / PAGE as u64)
        .sum();
    assert_eq!(listed, c);

    // Without the capture, as before: every page that differs is a copy.
    let plain = compare_child(me(), child.pid(), &declared).unwrap();
    let counts = plain.declared_region("data").unwrap().counts;
    assert!(!plain.against_sighting);
    assert_eq!(counts.copied_pages, c + p);
    assert_eq!(counts.rewritten_by_parent_pages, 0);
    // A child given no capture in the same call is compared as without.
    // (Only the data region is quiescent; the rest of this process may move.)
    let mut results = judged(&[child.pid()], &declared, &frames, &[None], None);
    let unjudged = results.pop().unwrap().truth;
    assert!(!unjudged.against_sighting);
    assert_eq!(
        unjudged.declared_region("data"),
        plain.declared_region("data")
    );

    // The exclusive-bit method sees no frames: the captures are not used.
    let estimate = judged(
        &[child.pid()],
        &declared,
        &frames,
        &[Some(sighting)],
        Some(TruthMethod::ExclusiveBit),
    );
    let truth = &estimate[0].truth;
    assert!(!truth.against_sighting);
    let counts = truth.declared_region("data").unwrap().counts;
    assert_eq!(counts.rewritten_by_parent_pages, 0);
    assert_eq!(counts.copied_pages, c + p);
}

#[test]
fn children_sighted_at_different_times_share_one_set_of_captures() {
    let _serial = serial();
    require_pfns();
    let data = Region::filled_data();
    let first_rewrites = (3..data.pages()).step_by(8); // P1 = 2048
    let later_rewrites = (5..data.pages()).step_by(16); // P2 = 1024
    let first_copies = (0..data.pages()).step_by(32); // C1 = 512
    let second_copies = (6..data.pages()).step_by(64); // C2 = 256
    let (p1, p2) = (first_rewrites.len() as u64, later_rewrites.len() as u64);
    let (c1, c2) = (first_copies.len() as u64, second_copies.len() as u64);

    let mut first = GatedChild::spawn(|| {
        data.write_pages(first_copies.clone());
        0
    });
    let mut frames = ParentFrames::new(me());
    let first_sighting = frames.capture().unwrap();
    data.write_pages(first_rewrites);
    let mut second = GatedChild::spawn(|| {
        data.write_pages(second_copies.clone());
        0
    });
    let second_sighting = frames.capture().unwrap();
    data.write_pages(later_rewrites);
    first.run();
    second.run();

    let full = frames.stored_pages(first_sighting);
    let delta = frames.stored_pages(second_sighting);
    println!(
        "first capture {full} pages in {} runs, second {delta} pages in {} runs, {} bytes",
        frames.stored_runs(first_sighting),
        frames.stored_runs(second_sighting),
        frames.heap_bytes()
    );
    assert!(full >= DATA_PAGES);
    // The second capture holds what changed: the first rewrites, and whatever else this
    // (multithreaded) test process wrote in between.
    assert!(delta >= p1 && delta < full / 2, "{delta} pages");

    let declared = [data.declared("data")];
    let results = judged(
        &[first.pid(), second.pid()],
        &declared,
        &frames,
        &[Some(first_sighting), Some(second_sighting)],
        None,
    );
    let first_counts = results[0].truth.declared_region("data").unwrap().counts;
    let second_counts = results[1].truth.declared_region("data").unwrap().counts;
    println!("first {first_counts:?}\nsecond {second_counts:?}");
    assert_eq!(first_counts.copied_pages, c1);
    assert_eq!(first_counts.rewritten_by_parent_pages, p1 + p2);
    // The second child was forked after the first rewrites: it shares those frames.
    assert_eq!(second_counts.copied_pages, c2);
    assert_eq!(second_counts.rewritten_by_parent_pages, p2);
    assert_eq!(second_counts.shared_pages, DATA_PAGES - c2 - p2);
}

#[test]
fn unmapped_pages_leave_no_frame_behind() {
    let _serial = serial();
    require_pfns();
    let data = Region::filled_data();
    let mut frames = ParentFrames::new(me());
    let before = frames.capture().unwrap();
    let first_page = data.start() as usize / PAGE;
    let pages = first_page..first_page + data.pages();
    let mut at_capture = Vec::new();
    frames.frames_at(before, pages.clone(), &mut at_capture);
    assert!(at_capture.iter().all(|&frame| frame != NO_FRAME));
    drop(data);
    let after = frames.capture().unwrap();
    let mut now = Vec::new();
    frames.frames_at(after, pages.clone(), &mut now);
    assert!(now.iter().all(|&frame| frame == NO_FRAME));
    // The earlier capture still answers as it was.
    let mut again = Vec::new();
    frames.frames_at(before, pages, &mut again);
    assert_eq!(again, at_capture);
}

/// Run unprivileged, as `unprivileged_falls_back_to_exclusive_bit` says.
#[test]
fn capture_needs_visible_frames() {
    let _serial = serial();
    if pfn_visible() {
        println!("SKIP: PFNs are visible (root); run unprivileged to test this");
        return;
    }
    assert!(matches!(
        ParentFrames::new(me()).capture(),
        Err(PageTruthError::PfnNotVisible)
    ));
}
