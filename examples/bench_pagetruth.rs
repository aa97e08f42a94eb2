//! Times page truth against plain pagemap reads and a procrank-style scan.
//! Run as root: `cargo run --release --example bench_pagetruth [repeats]`.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use memlab::kernel::pagemap::{
    DeclaredRegion, compare_child, compare_children, pfn_visible, tree_footprint,
};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, getpid, pipe2};
use procfs::KPageCount;
use procfs::process::{MMPermissions, MMapPath, MemoryPageFlags, PageInfo, Process};

const DATA_BYTES: usize = 1 << 30;
const PAGE: usize = 4096;
const CHILDREN: usize = 4;

/// Killed and reaped on drop, even when the bench panics.
struct Child(Pid, #[allow(dead_code)] OwnedFd);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
        let _ = waitpid(self.0, None);
    }
}

/// Forks a child that writes one byte into every page `p` with
/// `p % CHILDREN == which`, reports, and blocks until killed.
fn spawn_writer(data: *mut u8, which: usize) -> Child {
    let (ready_read, ready_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (release_read, release_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // SAFETY: the child only writes memory and calls write/read/_exit.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => unsafe {
            for page in (which..DATA_BYTES / PAGE).step_by(CHILDREN) {
                let p = data.add(page * PAGE);
                p.write_volatile(p.read_volatile().wrapping_add(1));
            }
            let byte = 1u8;
            libc::write(ready_write.as_raw_fd(), (&raw const byte).cast(), 1);
            let mut byte = 0u8;
            libc::read(release_read.as_raw_fd(), (&raw mut byte).cast(), 1);
            libc::_exit(0);
        },
        ForkResult::Parent { child } => {
            let guard = Child(child, release_write);
            drop(ready_write);
            let mut byte = [0u8];
            File::from(ready_read)
                .read_exact(&mut byte)
                .expect("child died");
            guard
        }
    }
}

fn is_special(path: &MMapPath) -> bool {
    match path {
        MMapPath::Vsyscall | MMapPath::Vvar | MMapPath::Vdso => true,
        MMapPath::Other(name) => name.starts_with("vvar"),
        _ => false,
    }
}

/// Page ranges of a process's private writable mappings (what compare_child scans).
fn private_writable_pages(pid: i32) -> Vec<Range<usize>> {
    let maps = Process::new(pid).unwrap().maps().unwrap();
    maps.iter()
        .filter(|m| {
            m.perms
                .contains(MMPermissions::PRIVATE | MMPermissions::WRITE)
                && !is_special(&m.pathname)
        })
        .map(|m| (m.address.0 as usize / PAGE)..(m.address.1 as usize / PAGE))
        .collect()
}

/// Reads `pid`'s pagemap over `ranges` with procfs; returns entries read.
fn read_with_procfs(pid: i32, ranges: &[Range<usize>]) -> usize {
    let mut pagemap = Process::new(pid).unwrap().pagemap().unwrap();
    let mut entries = 0;
    for range in ranges {
        entries += std::hint::black_box(pagemap.get_range_info(range.clone()).unwrap()).len();
    }
    entries
}

/// Same as `read_with_procfs` but with one pread per 1 MiB, no parsing.
fn read_raw(pid: i32, ranges: &[Range<usize>], buf: &mut [u8]) -> usize {
    let file = File::open(format!("/proc/{pid}/pagemap")).unwrap();
    let mut entries = 0;
    for range in ranges {
        let mut offset = range.start * 8;
        let end = range.end * 8;
        while offset < end {
            let len = buf.len().min(end - offset);
            file.read_exact_at(&mut buf[..len], offset as u64).unwrap();
            offset += len;
            entries += len / 8;
        }
    }
    std::hint::black_box(buf);
    entries
}

/// procrank's method: one /proc/kpagecount look-up per present page.
fn procrank_style(pids: &[i32]) -> u64 {
    let mut kpagecount = KPageCount::new().unwrap();
    let mut mapcount_sum = 0;
    for &pid in pids {
        let process = Process::new(pid).unwrap();
        let mut pagemap = process.pagemap().unwrap();
        for map in process.maps().unwrap() {
            if map.pathname == MMapPath::Vsyscall {
                continue;
            }
            let pages = (map.address.0 as usize / PAGE)..(map.address.1 as usize / PAGE);
            for entry in pagemap.get_range_info(pages).unwrap() {
                if let PageInfo::MemoryPage(flags) = entry
                    && flags.contains(MemoryPageFlags::PRESENT)
                {
                    mapcount_sum += kpagecount
                        .get_count_at_pfn(flags.get_page_frame_number())
                        .unwrap();
                }
            }
        }
    }
    mapcount_sum
}

/// procrank as written in C: one 8-byte pread of /proc/kpagecount per present page.
fn procrank_pread(pids: &[i32]) -> u64 {
    let kpagecount = File::open("/proc/kpagecount").unwrap();
    let mut mapcount_sum = 0;
    for &pid in pids {
        let process = Process::new(pid).unwrap();
        let mut pagemap = process.pagemap().unwrap();
        for map in process.maps().unwrap() {
            if map.pathname == MMapPath::Vsyscall {
                continue;
            }
            let pages = (map.address.0 as usize / PAGE)..(map.address.1 as usize / PAGE);
            for entry in pagemap.get_range_info(pages).unwrap() {
                if let PageInfo::MemoryPage(flags) = entry
                    && flags.contains(MemoryPageFlags::PRESENT)
                {
                    let mut count = [0u8; 8];
                    kpagecount
                        .read_exact_at(&mut count, flags.get_page_frame_number().0 * 8)
                        .unwrap();
                    mapcount_sum += u64::from_ne_bytes(count);
                }
            }
        }
    }
    mapcount_sum
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(repeats: usize, mut f: impl FnMut() -> T) -> Duration {
    let samples = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    median(samples)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    assert!(pfn_visible(), "run as root: PFNs must be visible");
    let repeats: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(7);

    // SAFETY: fresh anonymous mapping, unmapped at the end.
    let data = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            DATA_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        libc::madvise(p, DATA_BYTES, libc::MADV_NOHUGEPAGE);
        std::ptr::write_bytes(p.cast::<u8>(), 0x5A, DATA_BYTES);
        p.cast::<u8>()
    };
    let parent = getpid().as_raw();
    let children: Vec<Child> = (0..CHILDREN).map(|i| spawn_writer(data, i)).collect();
    let child_pids: Vec<i32> = children.iter().map(|c| c.0.as_raw()).collect();
    let mut all_pids = vec![parent];
    all_pids.extend(&child_pids);
    let declared = [DeclaredRegion {
        name: "data".into(),
        start: data as u64,
        end: data as u64 + DATA_BYTES as u64,
    }];

    // Sanity: each child copied a quarter of the data pages.
    let truths = compare_children(parent, &child_pids, &declared).unwrap();
    for truth in &truths {
        let counts = truth
            .as_ref()
            .unwrap()
            .declared_region("data")
            .unwrap()
            .counts;
        assert_eq!(
            counts.copied_pages,
            (DATA_BYTES / PAGE / CHILDREN) as u64,
            "{counts:?}"
        );
    }

    let child_ranges: Vec<Vec<Range<usize>>> = child_pids
        .iter()
        .map(|&pid| private_writable_pages(pid))
        .collect();
    let mut union: Vec<Range<usize>> = child_ranges.concat();
    union.sort_by_key(|r| r.start);
    union.dedup();
    let mut raw_buf = vec![0u8; 1 << 20];

    // (a) each child's pagemap plus the parent's once, over those ranges
    let read_five = time(repeats, || {
        let mut n = read_with_procfs(parent, &union);
        for (pid, ranges) in child_pids.iter().zip(&child_ranges) {
            n += read_with_procfs(*pid, ranges);
        }
        n
    });
    // (a') as (a), parent re-read per child: the reads compare_child does
    let read_pairs = time(repeats, || {
        let mut n = 0;
        for (pid, ranges) in child_pids.iter().zip(&child_ranges) {
            n += read_with_procfs(parent, ranges) + read_with_procfs(*pid, ranges);
        }
        n
    });
    // (a raw) as (a) with 1 MiB preads and no parsing
    let read_five_raw = time(repeats, || {
        let mut n = read_raw(parent, &union, &mut raw_buf);
        for (pid, ranges) in child_pids.iter().zip(&child_ranges) {
            n += read_raw(*pid, ranges, &mut raw_buf);
        }
        n
    });
    // (b) page truth for all four children in one pass
    let truth_joint = time(repeats, || {
        compare_children(parent, &child_pids, &declared).unwrap()
    });
    // (b') four separate compare_child calls
    let truth_each = time(repeats, || {
        child_pids
            .iter()
            .map(|&pid| compare_child(parent, pid, &declared).unwrap())
            .collect::<Vec<_>>()
    });
    // (c) tree footprint of parent + children
    let footprint = time(repeats, || tree_footprint(&all_pids).unwrap());
    // (d) procrank-style, once: it is slow
    let start = Instant::now();
    std::hint::black_box(procrank_style(&all_pids));
    let procrank = start.elapsed();

    // (d raw) procrank as written in C
    let procrank_raw = time(3.min(repeats), || procrank_pread(&all_pids));

    let f = tree_footprint(&all_pids).unwrap();
    let ratio = |a: Duration, b: Duration| format!("{:.2}", a.as_secs_f64() / b.as_secs_f64());
    println!("1 GiB private anon, {CHILDREN} children writing 25% each, median of {repeats}\n");
    println!("| step | ms |");
    println!("|---|---|");
    println!(
        "| (a) read 5 pagemaps (procfs get_range_info) | {} |",
        ms(read_five)
    );
    println!(
        "| (a raw) read 5 pagemaps (1 MiB pread, no parse) | {} |",
        ms(read_five_raw)
    );
    println!(
        "| (a') read 4 x (parent + child) pagemaps | {} |",
        ms(read_pairs)
    );
    println!("| (b) compare_children, 4 children | {} |", ms(truth_joint));
    println!("| (b') 4 x compare_child | {} |", ms(truth_each));
    println!("| (c) tree_footprint, 5 processes | {} |", ms(footprint));
    println!(
        "| (d) procrank-style get_count_at_pfn per page (1 run) | {} |",
        ms(procrank)
    );
    println!(
        "| (d raw) procrank-style, 8-byte pread per page | {} |",
        ms(procrank_raw)
    );
    println!();
    println!("| ratio | value |");
    println!("|---|---|");
    println!("| b / a | {} |", ratio(truth_joint, read_five));
    println!("| b' / a | {} |", ratio(truth_each, read_five));
    println!("| b' / a' | {} |", ratio(truth_each, read_pairs));
    println!("| a / a raw | {} |", ratio(read_five, read_five_raw));
    println!("| d / b | {} |", ratio(procrank, truth_joint));
    println!("| d / b' | {} |", ratio(procrank, truth_each));
    println!("| d / c | {} |", ratio(procrank, footprint));
    println!("| d raw / c | {} |", ratio(procrank_raw, footprint));
    println!();
    println!(
        "tree: unique {} MiB, outside-shared {} MiB, {} present pages",
        f.unique_bytes.unwrap() >> 20,
        f.outside_shared_bytes.unwrap() >> 20,
        f.pages_examined
    );

    drop(children);
    // SAFETY: unmapping our own region after the children are gone.
    unsafe { libc::munmap(data.cast(), DATA_BYTES) };
}
