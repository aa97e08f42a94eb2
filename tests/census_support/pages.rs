//! Test and benchmark helper: a forked child's copied pages, found by comparing its
//! /proc/PID/pagemap frames with its parent's at the same addresses (frame numbers are visible
//! to root). Deliberately minimal: the page-truth engine will offer these lists.

use std::ops::Range;

use procfs::process::{MMPermissions, MMapPath, MemoryMap, MemoryPageFlags, PageInfo, Process};

/// Pagemap entries read per call.
const CHUNK_PAGES: usize = 4096;

fn private_writable(map: &MemoryMap) -> bool {
    map.perms
        .contains(MMPermissions::PRIVATE | MMPermissions::WRITE)
        && !matches!(
            map.pathname,
            MMapPath::Vvar | MMapPath::Vdso | MMapPath::Vsyscall
        )
}

/// The region label of a mapping: heap, stack, anon, or its file name.
fn label(map: &MemoryMap) -> String {
    match &map.pathname {
        MMapPath::Heap => "heap".into(),
        MMapPath::Stack | MMapPath::TStack(_) => "stack".into(),
        MMapPath::Anonymous => "anon".into(),
        MMapPath::Path(path) => path
            .file_name()
            .map_or("file".into(), |n| n.to_string_lossy().into_owned()),
        other => format!("{other:?}"),
    }
}

/// The frame of a present page.
fn frame(info: &PageInfo) -> Option<u64> {
    match info {
        PageInfo::MemoryPage(flags) if flags.contains(MemoryPageFlags::PRESENT) => {
            Some(flags.get_page_frame_number().0)
        }
        _ => None,
    }
}

fn push_page(runs: &mut Vec<Range<u64>>, address: u64, page_size: u64) {
    match runs.last_mut() {
        Some(run) if run.end == address => run.end += page_size,
        _ => runs.push(address..address + page_size),
    }
}

/// The child's pages present in both processes on different frames, as address runs grouped
/// by region label.
pub fn copied_pages(parent: i32, child: i32) -> Vec<(String, Vec<Range<u64>>)> {
    let page_size = procfs::page_size();
    let child_process = Process::new(child).unwrap();
    let mut child_pagemap = child_process.pagemap().unwrap();
    let mut parent_pagemap = Process::new(parent).unwrap().pagemap().unwrap();
    let mut groups: Vec<(String, Vec<Range<u64>>)> = Vec::new();
    for map in child_process
        .maps()
        .unwrap()
        .iter()
        .filter(|m| private_writable(m))
    {
        let name = label(map);
        let index = match groups.iter().position(|(n, _)| *n == name) {
            Some(index) => index,
            None => {
                groups.push((name, Vec::new()));
                groups.len() - 1
            }
        };
        let pages = (map.address.0 / page_size) as usize..(map.address.1 / page_size) as usize;
        for start in pages.clone().step_by(CHUNK_PAGES) {
            let chunk = start..(start + CHUNK_PAGES).min(pages.end);
            let ours = child_pagemap.get_range_info(chunk.clone()).unwrap();
            let theirs = parent_pagemap.get_range_info(chunk.clone()).unwrap();
            for (offset, (c, p)) in ours.iter().zip(&theirs).enumerate() {
                if let (Some(c), Some(p)) = (frame(c), frame(p))
                    && c != p
                {
                    let address = (chunk.start + offset) as u64 * page_size;
                    push_page(&mut groups[index].1, address, page_size);
                }
            }
        }
    }
    groups.retain(|(_, runs)| !runs.is_empty());
    groups
}

/// Every present page of `pid`'s private writable mappings with its frame.
pub fn frames(pid: i32) -> Vec<(u64, u64)> {
    let page_size = procfs::page_size();
    let process = Process::new(pid).unwrap();
    let mut pagemap = process.pagemap().unwrap();
    let mut frames = Vec::new();
    for map in process
        .maps()
        .unwrap()
        .iter()
        .filter(|m| private_writable(m))
    {
        let pages = (map.address.0 / page_size) as usize..(map.address.1 / page_size) as usize;
        for start in pages.clone().step_by(CHUNK_PAGES) {
            let chunk = start..(start + CHUNK_PAGES).min(pages.end);
            for (offset, info) in pagemap
                .get_range_info(chunk.clone())
                .unwrap()
                .iter()
                .enumerate()
            {
                if let Some(pfn) = frame(info) {
                    frames.push(((chunk.start + offset) as u64 * page_size, pfn));
                }
            }
        }
    }
    frames
}

/// Pages in a list of runs.
pub fn page_count(groups: &[(String, Vec<Range<u64>>)]) -> u64 {
    let page_size = procfs::page_size();
    groups
        .iter()
        .flat_map(|(_, runs)| runs)
        .map(|run| (run.end - run.start) / page_size)
        .sum()
}

/// Pages whose frame differs between two `frames` lists, or present in only one:
/// (address, frame before, frame after), at most 20.
pub fn differences(
    before: &[(u64, u64)],
    after: &[(u64, u64)],
) -> Vec<(u64, Option<u64>, Option<u64>)> {
    let before: std::collections::BTreeMap<u64, u64> = before.iter().copied().collect();
    let after: std::collections::BTreeMap<u64, u64> = after.iter().copied().collect();
    let mut addresses: Vec<u64> = before.keys().chain(after.keys()).copied().collect();
    addresses.sort_unstable();
    addresses.dedup();
    addresses
        .into_iter()
        .map(|a| (a, before.get(&a).copied(), after.get(&a).copied()))
        .filter(|(_, b, a)| b != a)
        .take(20)
        .collect()
}
