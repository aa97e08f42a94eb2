//! Page truth engine timings, for old-versus-new comparisons of interleaved runs.
//!
//! One run holds 1 GiB of private anonymous data (4 KiB pages) and 4 forked children, each
//! writing a different 25% of its pages, then times, `repeats` times each, in rotation:
//! - `reader-procfs`: the 5 processes' pagemaps over their private writable mappings, read with
//!   procfs's `get_range_info` (one call per mapping);
//! - `reader-pread-N`: the same entries read with one `pread` of up to N entries and decoded
//!   with `PageInfo::parse_info` (what the engine's reader does), for several N;
//! - `compare_children`, `4x compare_child`, `tree_unique_footprint`, `tree_footprint`: the
//!   engine's public calls;
//! - `compare_children_with page lists`, `capture parent frames` (a first, full capture of
//!   the parent's frames), `compare_children_with at sighting` (against such a capture):
//!   what the engine added after the first versions of this example. The version of commit
//!   4016125, without them, builds against the engine before this work (commit a352fb2).
//!
//! It also prints, once, the memory a capture of the parent's frames takes (`info` lines).
//!
//! Each sample is printed as a line `sample<TAB>label<TAB>step<TAB>ms`, wall time, again
//! as `step (cpu)` with the CPU time (user + system) this process spent on it, and as
//! `step (sys)` with the system part alone (not in the first version). `--median` reads
//! such lines on stdin and prints the median per label and step, so two builds can be
//! interleaved:
//!
//! ```sh
//! cargo build --release --example bench_pagemap_reader    # as root
//! new=target/release/examples/bench_pagemap_reader
//! for round in 1 2 3 4 5 6 7 8 9; do
//!   ./bench_old --label old 3; $new --label new 3; $new --label new 3; ./bench_old --label old 3
//! done | $new --median
//! ```
//! (`bench_old`: this example built against the engine to compare with.) Each round runs
//! both orders: whichever process ran second in a pair was 10 – 20% faster, in the steps
//! whose code both builds share too.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, Read};
use std::ops::Range;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::time::Instant;

use memlab::kernel::pagemap::{
    AtSighting, CompareOptions, DeclaredRegion, ParentFrames, compare_child, compare_children,
    compare_children_with, pfn_visible, tree_footprint, tree_unique_footprint,
};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, getpid, pipe2};
use procfs::process::{MMPermissions, MMapPath, PageInfo, Process};

const DATA_BYTES: usize = 1 << 30;
const PAGE: usize = 4096;
const CHILDREN: usize = 4;
const PREAD_BATCHES: [usize; 5] = [512, 1024, 4096, 16384, 65536];

/// Killed and reaped on drop, even when the bench panics.
struct Child(Pid, #[allow(dead_code)] OwnedFd);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGKILL);
        let _ = waitpid(self.0, None);
    }
}

/// Forks a child that writes one byte into every page `p` with `p % CHILDREN == which`,
/// reports, and blocks until killed (or until this process dies).
fn spawn_writer(data: *mut u8, which: usize) -> Child {
    let (ready_read, ready_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (release_read, release_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // SAFETY: the child only writes memory and calls prctl/write/read/_exit.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
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

/// Page ranges of a process's private writable mappings (what page truth scans).
fn private_writable_pages(pid: i32) -> Vec<Range<usize>> {
    let maps = Process::new(pid).unwrap().maps().unwrap();
    maps.iter()
        .filter(|m| {
            let special = match &m.pathname {
                MMapPath::Vsyscall | MMapPath::Vvar | MMapPath::Vdso => true,
                MMapPath::Other(name) => name.starts_with("vvar"),
                _ => false,
            };
            m.perms
                .contains(MMPermissions::PRIVATE | MMPermissions::WRITE)
                && !special
        })
        .map(|m| (m.address.0 as usize / PAGE)..(m.address.1 as usize / PAGE))
        .collect()
}

/// Present pages seen reading with procfs.
fn read_with_procfs(pid: i32, ranges: &[Range<usize>]) -> usize {
    let mut pagemap = Process::new(pid).unwrap().pagemap().unwrap();
    let mut present = 0;
    for range in ranges {
        for info in pagemap.get_range_info(range.clone()).unwrap() {
            present += usize::from(is_present(info));
        }
    }
    present
}

/// Present pages seen reading with preads of up to `batch` entries.
fn read_with_pread(pid: i32, ranges: &[Range<usize>], batch: usize, raw: &mut Vec<u8>) -> usize {
    let file = File::open(format!("/proc/{pid}/pagemap")).unwrap();
    raw.resize(batch * 8, 0);
    let mut present = 0;
    for range in ranges {
        let mut page = range.start;
        while page < range.end {
            let count = batch.min(range.end - page);
            let bytes = &mut raw[..count * 8];
            file.read_exact_at(bytes, (page * 8) as u64).unwrap();
            for entry in bytes.chunks_exact(8) {
                let entry = u64::from_ne_bytes(entry.try_into().unwrap());
                present += usize::from(is_present(PageInfo::parse_info(entry)));
            }
            page += count;
        }
    }
    present
}

/// User plus system CPU time of this process so far, and system time alone, in ms.
fn cpu_ms() -> (f64, f64) {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    (ms(usage.ru_utime) + ms(usage.ru_stime), ms(usage.ru_stime))
}

fn is_present(info: PageInfo) -> bool {
    matches!(info, PageInfo::MemoryPage(flags)
        if flags.contains(procfs::process::MemoryPageFlags::PRESENT))
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let middle = samples.len() / 2;
    if samples.len() % 2 == 1 {
        samples[middle]
    } else {
        (samples[middle - 1] + samples[middle]) / 2.0
    }
}

/// Reads `sample` lines on stdin, prints the median of each label and step.
fn print_medians() {
    let mut samples: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut labels: Vec<String> = Vec::new();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let fields: Vec<&str> = line.split('\t').collect();
        if let ["sample", label, step, ms] = fields[..] {
            if !labels.iter().any(|l| l == label) {
                labels.push(label.to_string());
            }
            samples
                .entry((step.to_string(), label.to_string()))
                .or_default()
                .push(ms.parse().unwrap());
        } else {
            println!("{line}");
        }
    }
    let steps: Vec<String> = {
        let mut steps: Vec<String> = samples.keys().map(|(step, _)| step.clone()).collect();
        steps.dedup();
        steps
    };
    println!("| step | {} |", labels.join(" ms | ") + " ms");
    println!("|---|{}", "---|".repeat(labels.len()));
    for step in steps {
        let cells: Vec<String> = labels
            .iter()
            .map(|label| match samples.get(&(step.clone(), label.clone())) {
                Some(values) => format!("{:.1} (n={})", median(values.clone()), values.len()),
                None => "-".into(),
            })
            .collect();
        println!("| {step} | {} |", cells.join(" | "));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--median") {
        print_medians();
        return;
    }
    let mut label = "this".to_string();
    let mut repeats = 3usize;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--label" => label = rest.next().expect("--label NAME").clone(),
            "--help" | "-h" => {
                println!("bench_pagemap_reader [--label NAME] [REPEATS] | --median (see source)");
                return;
            }
            number => repeats = number.parse().expect("REPEATS"),
        }
    }
    assert!(pfn_visible(), "run as root: PFNs must be visible");

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
    let ranges: Vec<(i32, Vec<Range<usize>>)> = all_pids
        .iter()
        .map(|&pid| (pid, private_writable_pages(pid)))
        .collect();

    // Sanity: each child copied a quarter of the data pages.
    for truth in compare_children(parent, &child_pids, &declared).unwrap() {
        let counts = truth.unwrap().declared_region("data").unwrap().counts;
        assert_eq!(counts.copied_pages, (DATA_BYTES / PAGE / CHILDREN) as u64);
    }
    let mut parent_frames = ParentFrames::new(parent);
    let sighting = parent_frames.capture().unwrap();
    let repeated = parent_frames.capture().unwrap();
    println!(
        "info\tparent frames: {} bytes for {} pages in {} runs ({:.2} bytes a page); \
         a second capture stored {} changed pages",
        parent_frames.heap_bytes(),
        parent_frames.stored_pages(sighting),
        parent_frames.stored_runs(sighting),
        parent_frames.heap_bytes() as f64 / parent_frames.stored_pages(sighting) as f64,
        parent_frames.stored_pages(repeated),
    );
    let captures = vec![Some(sighting); CHILDREN];
    let at_sighting = CompareOptions {
        at_sighting: Some(AtSighting {
            parent_frames: &parent_frames,
            captures: &captures,
        }),
        ..CompareOptions::default()
    };
    // Captured after the children wrote, so every copy is the children's own.
    for result in compare_children_with(parent, &child_pids, &declared, &at_sighting).unwrap() {
        let counts = result
            .unwrap()
            .truth
            .declared_region("data")
            .unwrap()
            .counts;
        assert_eq!(counts.copied_pages, (DATA_BYTES / PAGE / CHILDREN) as u64);
        assert_eq!(counts.rewritten_by_parent_pages, 0);
    }
    let mut raw = Vec::new();
    let procfs_present: usize = ranges.iter().map(|(p, r)| read_with_procfs(*p, r)).sum();
    for batch in PREAD_BATCHES {
        let present: usize = ranges
            .iter()
            .map(|(p, r)| read_with_pread(*p, r, batch, &mut raw))
            .sum();
        assert_eq!(present, procfs_present, "pread batch {batch}");
    }

    let mut steps: Vec<(String, Box<dyn FnMut()>)> = vec![(
        "reader-procfs".into(),
        Box::new(|| {
            std::hint::black_box(
                ranges
                    .iter()
                    .map(|(p, r)| read_with_procfs(*p, r))
                    .sum::<usize>(),
            );
        }),
    )];
    for batch in PREAD_BATCHES {
        let ranges = &ranges;
        let mut raw = Vec::new();
        steps.push((
            format!("reader-pread-{batch:05}"),
            Box::new(move || {
                let present: usize = ranges
                    .iter()
                    .map(|(p, r)| read_with_pread(*p, r, batch, &mut raw))
                    .sum();
                std::hint::black_box(present);
            }),
        ));
    }
    steps.push((
        "compare_children".into(),
        Box::new(|| {
            std::hint::black_box(compare_children(parent, &child_pids, &declared).unwrap());
        }),
    ));
    steps.push((
        "compare_child-x4".into(),
        Box::new(|| {
            for &pid in &child_pids {
                std::hint::black_box(compare_child(parent, pid, &declared).unwrap());
            }
        }),
    ));
    steps.push((
        "compare_children_with page lists".into(),
        Box::new(|| {
            let options = CompareOptions {
                page_lists: true,
                ..CompareOptions::default()
            };
            let results = compare_children_with(parent, &child_pids, &declared, &options);
            std::hint::black_box(results.unwrap());
        }),
    ));
    steps.push((
        "capture parent frames".into(),
        Box::new(|| {
            let mut frames = ParentFrames::new(parent);
            frames.capture().unwrap();
            std::hint::black_box(frames);
        }),
    ));
    steps.push((
        "compare_children_with at sighting".into(),
        Box::new(|| {
            let results = compare_children_with(parent, &child_pids, &declared, &at_sighting);
            std::hint::black_box(results.unwrap());
        }),
    ));
    steps.push((
        "tree_unique_footprint".into(),
        Box::new(|| {
            std::hint::black_box(tree_unique_footprint(&all_pids).unwrap());
        }),
    ));
    steps.push((
        "tree_footprint".into(),
        Box::new(|| {
            std::hint::black_box(tree_footprint(&all_pids).unwrap());
        }),
    ));

    for _ in 0..repeats {
        for (name, step) in steps.iter_mut() {
            let cpu_before = cpu_ms();
            let start = Instant::now();
            step();
            let ms = start.elapsed().as_secs_f64() * 1e3;
            let cpu_after = cpu_ms();
            println!("sample\t{label}\t{name}\t{ms:.3}");
            // CPU time moves less than wall time on a busy machine.
            println!(
                "sample\t{label}\t{name} (cpu)\t{:.3}",
                cpu_after.0 - cpu_before.0
            );
            // The kernel's part: walking page tables for pagemap, kpagecount look-ups.
            println!(
                "sample\t{label}\t{name} (sys)\t{:.3}",
                cpu_after.1 - cpu_before.1
            );
        }
    }

    drop(steps);
    drop(children);
    // SAFETY: unmapping our own region after the children are gone.
    unsafe { libc::munmap(data.cast(), DATA_BYTES) };
}
