//! What the timeline sampler costs, in two parts:
//! 1. one sample of a tree (1 GiB of data, a parent and 4 children, held by `--pause-at`):
//!    memlab's `smaps_rollup` sample against the kernel's own walk (reading the file raw), `statm`,
//!    and, when installed, psutil's `memory_full_info()` and Debian's `smem`;
//! 2. how much sampling at the default rate slows the measured operation: `child_operation_seconds`
//!    of a scenario run alternately with `--sample-interval 0` and the default.
//!
//! Run as root after `cargo build --release`:
//! `cargo run --release --example bench_sampler [repeats] [slowdown-runs]`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod paired;

use memlab::kernel::rollup::read_rollup;
use memlab::result::median;
use paired::PairedSlowdown;

const MEMLAB: &str = "target/release/memlab";

/// Median wall time of `repeats` calls of `sample`, in microseconds.
fn time_it(repeats: usize, mut sample: impl FnMut()) -> f64 {
    sample(); // warm the caches
    let times: Vec<f64> = (0..repeats)
        .map(|_| {
            let began = Instant::now();
            sample();
            began.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median(&times)
}

/// Starts memlab paused at `operated` and returns it with the tree's pids.
fn paused_tree() -> (std::process::Child, Vec<i32>) {
    let mut memlab = Command::new(MEMLAB)
        .args([
            "scenario",
            "array-write",
            "--size",
            "1GiB",
            "--children",
            "4",
            "--sample-interval",
            "0",
        ])
        .args([
            "--pause-at",
            "operated",
            "--out",
            "/tmp/memlab-bench-sampler",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run target/release/memlab (cargo build --release first)");
    let mut stderr = BufReader::new(memlab.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("paused at phase") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "memlab ended before pausing"
        );
    }
    let workload: i32 = line
        .split("workload pid ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let inside = line.split('[').nth(1).unwrap().split(']').next().unwrap();
    let mut pids = vec![workload];
    pids.extend(inside.split(", ").map(|s| s.parse::<i32>().unwrap()));
    (memlab, pids)
}

/// psutil's memory_full_info() for the tree, and the raw smaps_rollup reads timed in the same
/// Python process, interleaved: (psutil µs, its ratio to the raw reads).
fn psutil_us(python: &str, pids: &[i32], repeats: usize) -> Option<(f64, f64)> {
    let script = format!(
        "import psutil,time,statistics\nps=[psutil.Process(p) for p in {pids:?}]\n[p.memory_full_info() for p in ps]\n\
         t=[];r=[]\nfor _ in range({repeats}):\n\
         \x20   a=time.perf_counter()\n\
         \x20   for p in {pids:?}: open('/proc/%d/smaps_rollup' % p, 'rb').read()\n\
         \x20   b=time.perf_counter(); [p.memory_full_info() for p in ps]; c=time.perf_counter()\n\
         \x20   t.append(c-b); r.append((c-b)/(b-a))\n\
         print(statistics.median(t)*1e6, statistics.median(r))"
    );
    let output = Command::new(python).args(["-c", &script]).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut numbers = text
        .split_whitespace()
        .filter_map(|n| n.parse::<f64>().ok());
    Some((numbers.next()?, numbers.next()?))
}

/// Debian's smem over the tree (it reads each process's smaps; `-P` matches the command line),
/// alternated with raw smaps_rollup reads: (smem µs, median ratio).
fn smem_us(pids: &[i32], repeats: usize) -> Option<(f64, f64)> {
    let smem = ["/usr/bin/smem", "/usr/local/bin/smem"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let run = || {
        Command::new(smem)
            .args([
                "-c",
                "pid pss uss",
                "-P",
                r"^\S*memlab __workload array-write",
                "-H",
            ])
            .output()
    };
    let listed = String::from_utf8_lossy(&run().ok()?.stdout).lines().count();
    assert_eq!(
        listed,
        pids.len(),
        "smem should list exactly the tree's processes"
    );
    let (mut times, mut ratios) = (Vec::new(), Vec::new());
    for _ in 0..repeats.min(7) {
        let began = Instant::now();
        for pid in pids {
            let _ = std::fs::read(format!("/proc/{pid}/smaps_rollup"));
        }
        let floor = began.elapsed().as_secs_f64();
        let began = Instant::now();
        let _ = run();
        let took = began.elapsed().as_secs_f64();
        times.push(took * 1e6);
        ratios.push(took / floor);
    }
    Some((median(&times), median(&ratios)))
}

fn operation_seconds(sample_interval: &str) -> f64 {
    let output = Command::new(MEMLAB)
        .args([
            "scenario",
            "refcount-list",
            "--size",
            "256MiB",
            "--children",
            "2",
            "--json",
        ])
        .args([
            "--sample-interval",
            sample_interval,
            "--out",
            "/tmp/memlab-bench-sampler",
        ])
        .output()
        .expect("memlab runs");
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("result JSON");
    let seconds: Vec<f64> = result["facts"]["child_operation_seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    seconds.iter().sum::<f64>() / seconds.len() as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let repeats: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(21);
    let slowdown_runs: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(10);

    let (mut memlab, pids) = paused_tree();
    let page = memlab::kernel::page_size_bytes();
    // Interleaved, round by round, so that the machine's drift hits both alike.
    let (mut raw_times, mut rollup_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeats {
        let began = Instant::now();
        for pid in &pids {
            let _ = std::fs::read(format!("/proc/{pid}/smaps_rollup"));
        }
        let raw = began.elapsed().as_secs_f64() * 1e6;
        let began = Instant::now();
        for pid in &pids {
            let _ = read_rollup(*pid);
        }
        let rollup = began.elapsed().as_secs_f64() * 1e6;
        raw_times.push(raw);
        rollup_times.push(rollup);
        ratios.push(rollup / raw);
    }
    let (raw, rollup, rollup_ratio) = (median(&raw_times), median(&rollup_times), median(&ratios));
    let statm = time_it(repeats, || {
        for pid in &pids {
            let _ = procfs::process::Process::new(*pid)
                .and_then(|p| p.statm())
                .map(|s| s.resident * page);
        }
    });
    let python = [".venv/bin/python", "python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import psutil"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let psutil = python.and_then(|python| psutil_us(python, &pids, repeats));
    let smem = smem_us(&pids, repeats);
    memlab.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    memlab.wait().unwrap();

    println!(
        "## One sample of a tree of 5 processes (1 GiB of data, 4 children), median of {repeats}\n"
    );
    println!(
        "| method | µs per tree sample | vs the kernel's walk (median of interleaved rounds) |"
    );
    println!("|---|---|---|");
    println!("| raw read of smaps_rollup (the kernel's walk: the floor) | {raw:.0} | 1.00 |");
    println!("| memlab smaps_rollup sample (procfs + status) | {rollup:.0} | {rollup_ratio:.3} |");
    println!("| memlab statm sample | {statm:.0} | {:.3} |", statm / raw);
    match psutil {
        Some((us, ratio)) => println!("| psutil memory_full_info() | {us:.0} | {ratio:.3} |"),
        None => println!("| psutil memory_full_info() | not installed | |"),
    }
    match smem {
        Some((us, ratio)) => println!("| smem (the tree's 5 processes) | {us:.0} | {ratio:.1} |"),
        None => println!("| smem | not installed | |"),
    }

    // Paired rounds: drift in the machine's load hits both settings alike.
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_before = load();
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..slowdown_runs {
        off.push(operation_seconds("0"));
        on.push(operation_seconds("10"));
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "\n## The measured operation with and without sampling (refcount-list 256 MiB, 2 children), \
         {slowdown_runs} paired rounds (load average {} before, {} after)\n",
        load_before.split_whitespace().next().unwrap_or("?"),
        load().split_whitespace().next().unwrap_or("?")
    );
    println!(
        "| sampling | children's operation (s), median | vs off, paired: median of the rounds' ratios (95% bootstrap interval) |"
    );
    println!("|---|---|---|");
    println!("| off (--sample-interval 0) | {:.4} | |", median(&off));
    println!(
        "| default (statm 10 ms, rollup within 5% of a core) | {:.4} | {} |",
        median(&on),
        PairedSlowdown::of(&off, &on).percent()
    );
}
