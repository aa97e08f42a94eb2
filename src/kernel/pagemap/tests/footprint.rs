//! The tree footprint of real processes.

use super::*;
use crate::kernel::pagemap::footprint::tree_footprint_with;
use crate::kernel::pagemap::*;

#[test]
fn tree_footprint_counts_shared_frames_once() {
    let _serial = serial();
    require_pfns();
    let data = Region::filled_data();
    let alone = tree_footprint(&[me()]).unwrap();
    let child = spawn_writer(&data, (0..data.pages()).step_by(4));
    let copies = DATA_PAGES / 4 * PAGE as u64;
    let tree = tree_footprint(&[me(), child.pid()]).unwrap();
    println!("alone {alone:?}\ntree {tree:?}");
    let (alone_bytes, tree_bytes) = (alone.unique_bytes.unwrap(), tree.unique_bytes.unwrap());
    assert!(tree.exact);
    assert!(tree_bytes >= alone_bytes + copies);
    // Beyond the 16 MiB of copied data pages, the child copies a few
    // stack and libc pages, and this parent dirties heap pages it shares
    // with the child by allocating (0.3-0.7 MiB seen alone; more while other tests of this
    // binary allocate in the same process): allow 8 MiB, half the 16 MiB being measured.
    let overhead = tree_bytes - alone_bytes - copies;
    println!("overhead beyond copied data: {overhead} bytes");
    assert!(overhead < 8 << 20, "overhead {overhead}");
    // Data frames are mapped only inside the tree; libc text is not.
    let outside = tree.outside_shared_bytes.unwrap();
    assert!(outside > 0);
    assert!(outside < tree_bytes - DATA_BYTES as u64 - copies);
    // Listing a pid twice must not count it twice (that would add about `alone` again): two
    // readings back to back, since other tests of this binary allocate meanwhile.
    let again = tree_footprint(&[me(), child.pid()])
        .unwrap()
        .unique_bytes
        .unwrap();
    let twice = tree_footprint(&[me(), child.pid(), me()]).unwrap();
    assert!(twice.unique_bytes.unwrap().abs_diff(again) < alone_bytes / 2);
}

#[test]
fn tree_footprint_without_pfns_reports_no_figures() {
    let _serial = serial();
    let footprint = tree_footprint_with(&[me()], false).unwrap();
    assert!(!footprint.exact);
    assert_eq!(footprint.unique_bytes, None);
    assert_eq!(footprint.outside_shared_bytes, None);
    assert!(footprint.pages_examined > 0);
}
