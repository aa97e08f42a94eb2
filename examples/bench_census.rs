//! Times the Python object census against the floor of reading the same pages.
//! Run as root: `cargo run --release --example bench_census [MiB of ints] [rounds] [python]`
//! (defaults: 1024 MiB, 5 rounds, python3 on PATH).
//!
//! A CPython parent builds a list of distinct ints filling the given size of 32-byte blocks,
//! forks a child that sums them (writing every int's reference count, so copying every page
//! holding one), and the census of the child's copied pages is timed against reading exactly
//! those pages in 4 MiB batches, round by round so that machine drift hits every side alike:
//! - `process_vm_readv`: the fastest read (safe on these pages only because the child's copies
//!   are mapped by it alone; see src/census/remote.rs);
//! - `/proc/PID/mem`: the read that never copies a shared page; the census uses it for pages
//!   still shared, and `process_vm_readv` for those the child maps alone (src/census/remote.rs).

#[path = "../tests/census_support/forked.rs"]
mod forked;
#[path = "../tests/census_support/pages.rs"]
#[allow(dead_code)] // the frame comparisons are the tests'
mod pages;

use std::fs::File;
use std::io::IoSliceMut;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use forked::ForkedPython;
use memlab::census::take_census;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

const BATCH_BYTES: usize = 4 << 20;

/// Reads every run in batches of at most `BATCH_BYTES`, one `process_vm_readv` per batch with
/// one remote iovec per run piece.
fn read_with_process_vm_readv(pid: i32, runs: &[Range<u64>], buffer: &mut [u8]) -> u64 {
    let mut total = 0u64;
    let mut remote: Vec<RemoteIoVec> = Vec::new();
    let mut pending = 0usize;
    let mut flush = |remote: &mut Vec<RemoteIoVec>, pending: &mut usize| {
        if *pending > 0 {
            let read = process_vm_readv(
                Pid::from_raw(pid),
                &mut [IoSliceMut::new(&mut buffer[..*pending])],
                remote,
            )
            .expect("process_vm_readv");
            assert_eq!(read, *pending);
            total += read as u64;
        }
        remote.clear();
        *pending = 0;
    };
    for run in runs {
        let mut start = run.start;
        while start < run.end {
            let length = ((run.end - start) as usize).min(BATCH_BYTES - pending);
            remote.push(RemoteIoVec {
                base: start as usize,
                len: length,
            });
            pending += length;
            start += length as u64;
            if pending == BATCH_BYTES || remote.len() == 1024 {
                flush(&mut remote, &mut pending);
            }
        }
    }
    flush(&mut remote, &mut pending);
    total
}

/// Reads every run in preads of at most `BATCH_BYTES` from `/proc/PID/mem`.
fn read_with_proc_mem(pid: i32, runs: &[Range<u64>], buffer: &mut [u8]) -> u64 {
    let memory = File::open(format!("/proc/{pid}/mem")).expect("open /proc/PID/mem");
    let mut total = 0u64;
    for run in runs {
        let mut start = run.start;
        while start < run.end {
            let length = ((run.end - start) as usize).min(BATCH_BYTES);
            memory
                .read_exact_at(&mut buffer[..length], start)
                .expect("read /proc/PID/mem");
            total += length as u64;
            start += length as u64;
        }
    }
    total
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("usage: bench_census [MiB of ints, 1024] [rounds, 5] [python, python3]");
        return;
    }
    let mib: u64 = args.first().map_or(1024, |a| a.parse().expect("MiB"));
    let rounds: usize = args.get(1).map_or(5, |a| a.parse().expect("rounds"));
    let python = PathBuf::from(args.get(2).map_or("python3", String::as_str));
    let count = (mib << 20) >> 5; // 32-byte blocks

    let started = Instant::now();
    let run = ForkedPython::start(&python, "ints", count, &[]);
    let copied = run.copied_pages();
    let copied_pages = pages::page_count(&copied);
    let runs: Vec<Range<u64>> = copied.iter().flat_map(|(_, r)| r.iter().cloned()).collect();
    println!(
        "{count} ints; the child copied {copied_pages} pages ({} MiB) in {} runs; set-up {:.1} s",
        (copied_pages * 4096) >> 20,
        runs.len(),
        started.elapsed().as_secs_f64()
    );

    let mut buffer = vec![0u8; BATCH_BYTES];
    let (mut vm, mut mem, mut census_times) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=rounds {
        let t = Instant::now();
        let read = read_with_process_vm_readv(run.child_pid, &runs, &mut buffer);
        let vm_time = t.elapsed();
        assert_eq!(read, copied_pages * 4096);

        let t = Instant::now();
        let read = read_with_proc_mem(run.child_pid, &runs, &mut buffer);
        let mem_time = t.elapsed();
        assert_eq!(read, copied_pages * 4096);

        let t = Instant::now();
        let census = take_census(run.child_pid, &copied).expect("census");
        let census_time = t.elapsed();
        assert!(census.objects("int") >= count, "{census:?}");
        println!(
            "round {round}: process_vm_readv {:7.1} ms, /proc/PID/mem {:7.1} ms, census {:7.1} ms \
             ({} ints, {} pages){}",
            vm_time.as_secs_f64() * 1e3,
            mem_time.as_secs_f64() * 1e3,
            census_time.as_secs_f64() * 1e3,
            census.objects("int"),
            census.pages_examined,
            if round == 0 {
                " [warm-up, not counted]"
            } else {
                ""
            }
        );
        if round > 0 {
            vm.push(vm_time);
            mem.push(mem_time);
            census_times.push(census_time);
        }
    }
    let (vm, mem, census) = (median(&mut vm), median(&mut mem), median(&mut census_times));
    println!(
        "medians of {rounds}: process_vm_readv {:.1} ms, /proc/PID/mem {:.1} ms, census {:.1} ms",
        vm.as_secs_f64() * 1e3,
        mem.as_secs_f64() * 1e3,
        census.as_secs_f64() * 1e3
    );
    println!(
        "census / process_vm_readv = {:.2}, census / /proc/PID/mem = {:.2}",
        census.as_secs_f64() / vm.as_secs_f64(),
        census.as_secs_f64() / mem.as_secs_f64()
    );
    println!(
        "peak RSS of this process (page lists, read buffer, census): {:.1} MiB",
        peak_rss_kib() as f64 / 1024.0
    );
    drop(run);
}
