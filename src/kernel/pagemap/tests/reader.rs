//! The pread reader gives exactly the entries procfs's reader gives.

use procfs::process::{MMapPath, MemoryPageFlags, PageInfo, Process};

use super::*;
use crate::kernel::pagemap::reader::{PagemapReader, READ_BATCH_ENTRIES};

#[test]
fn pread_reader_matches_procfs_on_every_mapping() {
    let _serial = serial();
    let data = Region::filled_data();
    // A quiet process whose data pages are a mix: written (copied), dropped (absent)
    // and untouched (shared); blocked in read(), so its pagemap does not move.
    let (child, _) = spawn_child(|| {
        data.write_pages((0..data.pages()).step_by(3));
        for page in (1..data.pages()).step_by(3) {
            // SAFETY: drops one page of the child's own copy of `data`.
            unsafe { libc::madvise(data.page_ptr(page).cast(), PAGE, libc::MADV_DONTNEED) };
        }
        0
    });
    let process = Process::new(child.pid()).unwrap();
    let mut procfs_pagemap = process.pagemap().unwrap();
    let reader = PagemapReader::open(child.pid(), &process).unwrap();

    let (mut mappings, mut compared, mut present, mut unstable_reads) = (0, 0, 0, 0);
    let data_start = data.start() as usize / PAGE;
    let mut data_present = 0;
    for map in process.maps().unwrap() {
        if map.pathname == MMapPath::Vsyscall {
            continue;
        }
        let pages = map.address.0 as usize / PAGE..map.address.1 as usize / PAGE;
        // The child is quiet, but the exclusive bit of a page it shares also changes when
        // the sharer (this multithreaded test process) writes its copy: compare a pread
        // read with the procfs reads just before and after it, once those two agree.
        let mut read = vec![PageInfo::MemoryPage(MemoryPageFlags::empty()); pages.len()];
        let mut stable = false;
        for _attempt in 0..10 {
            let before = procfs_pagemap.get_range_info(pages.clone()).unwrap();
            // One call over the whole mapping: several preads for mappings over one batch.
            reader.read_into(pages.start, &mut read).unwrap();
            let after = procfs_pagemap.get_range_info(pages.clone()).unwrap();
            if before == after {
                let first_difference = read.iter().zip(&before).position(|(a, b)| a != b);
                assert_eq!(
                    first_difference.map(|i| (i, read[i], before[i])),
                    None,
                    "mapping {:?} {:?}: (page index, pread entry, procfs entry)",
                    map.address,
                    map.pathname
                );
                stable = true;
                break;
            }
            unstable_reads += 1;
        }
        assert!(stable, "mapping {:?} kept changing", map.address);
        mappings += 1;
        compared += read.len();
        for (page, entry) in pages.zip(&read) {
            if matches!(entry, PageInfo::MemoryPage(f) if f.contains(MemoryPageFlags::PRESENT)) {
                present += 1;
                if (data_start..data_start + data.pages()).contains(&page) {
                    data_present += 1;
                }
            }
        }
    }
    println!(
        "{mappings} mappings, {compared} entries, {present} present; \
         {unstable_reads} reads retried as the mapping changed"
    );
    assert!(
        data.pages() > READ_BATCH_ENTRIES,
        "the data spans several preads"
    );
    // Two thirds of the data pages are still mapped by the child.
    assert_eq!(data_present, data.pages() - data.pages() / 3);
    assert!(mappings > 5);
}
