//! The compact page → frame maps, on synthetic frames.

use crate::kernel::pagemap::frames::{FrameRuns, NO_FRAME};

/// The frames `runs` holds over `pages` ([`NO_FRAME`] where none).
fn read_back(runs: &FrameRuns, pages: std::ops::Range<u64>) -> Vec<u64> {
    let mut out = vec![NO_FRAME; (pages.end - pages.start) as usize];
    runs.overlay(pages, &mut out);
    out
}

#[test]
fn consecutive_frames_take_one_extent() {
    let mut runs = FrameRuns::default();
    for page in 100..1100 {
        runs.push(page, 5000 + page);
    }
    let runs = runs.finish();
    assert_eq!(runs.extents(), 1);
    assert_eq!(runs.pages(), 1000);
    let expected: Vec<u64> = (90..1110)
        .map(|page| {
            if (100..1100).contains(&page) {
                5000 + page
            } else {
                NO_FRAME
            }
        })
        .collect();
    assert_eq!(read_back(&runs, 90..1110), expected);
    // 16 bytes of extent and 4 of first frame, not 4 bytes a page.
    assert!(runs.heap_bytes() <= 32, "{} bytes", runs.heap_bytes());
}

/// A deterministic mix of what a parent's address space looks like: runs of pages with
/// consecutive frames of any length, scattered frames, frameless pages, unmapped gaps.
fn synthetic_frames() -> Vec<(u64, u64)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % bound
    };
    let mut pages = Vec::new();
    let mut page = 1000;
    for _ in 0..400 {
        let run = 1 + next(40);
        let first_frame = 1 + next(1 << 24);
        for frame in first_frame..first_frame + run {
            // Mostly the next frame; sometimes none, sometimes any.
            let value = match next(10) {
                0 => NO_FRAME,
                1 => 1 + next(1 << 24),
                _ => frame,
            };
            pages.push((page, value));
            page += 1;
        }
        if next(3) == 0 {
            page += 1 + next(100);
        }
    }
    pages
}

#[test]
fn any_mix_of_frames_reads_back_exactly() {
    let pages = synthetic_frames();
    let mut runs = FrameRuns::default();
    for &(page, frame) in &pages {
        runs.push(page, frame);
    }
    let runs = runs.finish();
    let (first, last) = (pages[0].0, pages.last().unwrap().0);
    let mut expected = vec![NO_FRAME; (last + 1 - first) as usize];
    for &(page, frame) in &pages {
        expected[(page - first) as usize] = frame;
    }
    assert_eq!(read_back(&runs, first..last + 1), expected);
    // Windows that start and end inside extents.
    for (start, end) in [
        (first + 3, first + 50),
        (first + 777, first + 2000),
        (last, last + 1),
    ] {
        let window = &expected[(start - first) as usize..(end - first) as usize];
        assert_eq!(read_back(&runs, start..end), window);
    }
    assert_eq!(runs.pages(), pages.len() as u64);
    assert!(!runs.is_wide());
    let explicit_bytes = pages.len() * size_of::<u32>();
    println!(
        "{} pages in {} extents, {} bytes (4 bytes a page: {explicit_bytes})",
        pages.len(),
        runs.extents(),
        runs.heap_bytes()
    );
}

#[test]
fn frames_beyond_32_bits_widen_the_store() {
    let mut runs = FrameRuns::default();
    runs.push(10, 7);
    runs.push(11, NO_FRAME);
    runs.push(12, u64::from(u32::MAX)); // the narrow store's own "no frame"
    runs.push(13, 1 << 40);
    runs.push(20, 9);
    let runs = runs.finish();
    assert!(runs.is_wide());
    assert_eq!(
        read_back(&runs, 10..21),
        vec![
            7,
            NO_FRAME,
            u64::from(u32::MAX),
            1 << 40,
            NO_FRAME,
            NO_FRAME,
            NO_FRAME,
            NO_FRAME,
            NO_FRAME,
            NO_FRAME,
            9
        ]
    );
}
