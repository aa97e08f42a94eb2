//! What `memlab run` costs, measured like the scenarios' sampler (examples/bench_sampler.rs):
//! 1. one poll, one page-truth pass and one unique footprint of a real tree
//!    (experiments/examples/pool_global.py: a parent and 4 workers sharing 256 MiB), against the
//!    floor of reading what they must read: every process's smaps_rollup and its pagemap over
//!    all its mappings, raw;
//! 2. how much following the tree slows the measured operation: the median task time the
//!    example pools print (pool_list: 4 workers summing 6.7 M ints, copying 205 MiB each;
//!    pool_global: 4 workers summing a shared 256 MiB array), run alone, under `memlab run`
//!    with the defaults, without the census, and with the timeline sampler off; alternated,
//!    the median of the rounds' ratios, with the load average before and after, and the share
//!    of the cores memlab's own threads used over each run.
//!
//! Run as root after `cargo build --release`:
//! `cargo run --release --example bench_run [repeats] [slowdown-runs] [defaults] [script]` (0
//! repeats: the slowdown only; `defaults`: alone against the defaults only, no other variant;
//! a script, `pool_list.py` or `pool_global.py`: that pool only).

use std::io::{Read, Seek, SeekFrom};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod paired;

use memlab::kernel::pagemap::tree_unique_footprint;
use memlab::kernel::tree::{descendants, direct_children};
use memlab::measure::snapshot::{Member, TreeMeasurement};
use memlab::result::Role;
use memlab::result::median;
use paired::PairedSlowdown;

const MEMLAB: &str = "target/release/memlab";
const PYTHON: &str = ".venv/bin/python";

/// The floor of a pass: each process's smaps_rollup, and its pagemap over every mapping, read
/// raw (no parsing, no comparison).
fn floor(pids: &[i32]) {
    let mut buffer = Vec::new();
    for pid in pids {
        let _ = std::fs::read(format!("/proc/{pid}/smaps_rollup"));
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            continue;
        };
        let Ok(mut pagemap) = std::fs::File::open(format!("/proc/{pid}/pagemap")) else {
            continue;
        };
        for line in maps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
            else {
                continue;
            };
            if start >= 0xffff_ffff_ff60_0000 {
                continue; // vsyscall
            }
            buffer.resize(((end - start) / 4096 * 8) as usize, 0);
            let _ = pagemap.seek(SeekFrom::Start(start / 4096 * 8));
            let _ = pagemap.read_exact(&mut buffer);
        }
    }
}

/// One poll as the follow loop does it: the tree below the root, and each process's stat.
fn poll(root: i32) {
    for pid in std::iter::once(root).chain(descendants(root)) {
        let _ = procfs::process::Process::new(pid).and_then(|p| p.stat());
    }
}

/// The median task time a pool example printed on stderr ("… median sum 0.512 s").
fn task_seconds(stderr: &str) -> f64 {
    stderr
        .lines()
        .find_map(|line| line.split("median sum ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no task time in: {stderr}"))
}

fn pool_alone(script: &str) -> f64 {
    let output = Command::new(PYTHON)
        .arg(format!("experiments/examples/{script}"))
        .output()
        .expect("the venv's python");
    task_seconds(&String::from_utf8_lossy(&output.stderr))
}

/// One run under `memlab run`: the task time the script printed, and the share of the
/// machine's cores memlab's own threads used over the run (its follow loop's and its sampler's
/// CPU seconds, as the result records them, over the run's wall time × cores). On cores the
/// pool keeps busy, that share is about what memlab can take from it, apart from cache and
/// lock effects; unlike the task time it barely moves with the machine's noise.
struct Followed {
    task_seconds: f64,
    memlab_core_share: f64,
}

fn pool_under_memlab(script: &str, extra: &[&str]) -> Followed {
    let out = "/tmp/memlab-bench-run";
    let began = Instant::now();
    let output = Command::new(MEMLAB)
        .args(["run", "--out", out])
        .args(extra)
        .args(["--", PYTHON, &format!("experiments/examples/{script}")])
        .stdout(Stdio::null())
        .output()
        .expect("run target/release/memlab (cargo build --release first)");
    let wall = began.elapsed().as_secs_f64();
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{out}/run.json")).expect("memlab wrote run.json"),
    )
    .expect("run.json is JSON");
    let seconds = |pointer: &str| result.pointer(pointer).and_then(|v| v.as_f64());
    let memlab_cpu = seconds("/run/truth_passes/cpu_seconds").unwrap_or(0.0)
        + seconds("/timeline/cost/cpu_seconds").unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Followed {
        task_seconds: task_seconds(&String::from_utf8_lossy(&output.stderr)),
        memlab_core_share: memlab_cpu / (wall * cores as f64),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let repeats: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(21);
    let slowdown_runs: usize = args.next().map(|s| s.parse().unwrap()).unwrap_or(7);
    let defaults_only = match args.next().as_deref() {
        None => false,
        Some("defaults") => true,
        Some(other) => panic!("unknown third argument {other:?} (only \"defaults\")"),
    };
    let scripts: Vec<String> = match args.next() {
        Some(script) => vec![script],
        None => vec!["pool_list.py".into(), "pool_global.py".into()],
    };
    // 0 repeats: the slowdown only.
    if repeats > 0 {
        cost_of_a_pass(repeats);
    }
    if slowdown_runs > 0 {
        slowdown(slowdown_runs, defaults_only, &scripts);
    }
}

/// 1. What one poll, one pass and one footprint cost on a held tree, against the floor.
fn cost_of_a_pass(repeats: usize) {
    // A held tree: pool_global with a long hold, its 4 workers up.
    let mut pool = Command::new(PYTHON)
        .args(["experiments/examples/pool_global.py", "--hold", "60"])
        .stderr(Stdio::null())
        .spawn()
        .expect("the venv's python");
    let root = pool.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(30);
    let workers = loop {
        let workers = direct_children(root);
        if workers.len() == 4 {
            break workers;
        }
        assert!(Instant::now() < deadline, "the pool never came up");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500)); // the workers have read the array
    let mut pids = vec![root];
    pids.extend(&workers);
    let members: Vec<Member> = std::iter::once(Member {
        pid: root,
        role: Role::Parent,
        child_index: None,
        compare_with: None,
    })
    .chain(workers.iter().enumerate().map(|(i, pid)| Member {
        pid: *pid,
        role: Role::Child,
        child_index: Some(i + 1),
        compare_with: Some(root),
    }))
    .collect();
    let mut measurement = TreeMeasurement::default();
    let _ = measurement.measure_members(&members, None); // warm the caches
    // Interleaved, round by round, so that the machine's drift hits both alike.
    let (mut floors, mut passes, mut ratios, mut polls) = (vec![], vec![], vec![], vec![]);
    let (mut footprints, mut footprint_ratios) = (vec![], vec![]);
    let mut pages = 0;
    for _ in 0..repeats {
        let began = Instant::now();
        floor(&pids);
        let raw = began.elapsed().as_secs_f64() * 1e3;
        let began = Instant::now();
        measurement.measure_members(&members, None).unwrap();
        let pass = began.elapsed().as_secs_f64() * 1e3;
        let began = Instant::now();
        let footprint = tree_unique_footprint(&pids).unwrap();
        let footprint_ms = began.elapsed().as_secs_f64() * 1e3;
        footprints.push(footprint_ms);
        footprint_ratios.push(footprint_ms / raw);
        let began = Instant::now();
        poll(root);
        polls.push(began.elapsed().as_secs_f64() * 1e6);
        floors.push(raw);
        passes.push(pass);
        ratios.push(pass / raw);
        pages = footprint
            .unique_bytes
            .map_or(0, |bytes| bytes / memlab::kernel::page_size_bytes());
    }
    let _ = pool.kill();
    let _ = pool.wait();
    for worker in &workers {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*worker),
            nix::sys::signal::Signal::SIGKILL,
        );
    }

    println!(
        "## One poll, one pass and one unique footprint of pool_global's tree (a parent and 4 workers sharing 256 MiB; \
         {pages} distinct pages), median of {repeats}\n"
    );
    println!("| what | cost | vs the floor (median of interleaved rounds) |");
    println!("|---|---|---|");
    println!(
        "| floor: smaps_rollup + the whole pagemap of each process, raw | {:.1} ms | 1.00 |",
        median(&floors)
    );
    println!(
        "| memlab run pass: rollups, page truth of the 4 workers, meminfo | {:.1} ms | {:.2} |",
        median(&passes),
        median(&ratios)
    );
    println!(
        "| the unique footprint (distinct frames of the 5 processes), on some passes | {:.1} ms | {:.2} |",
        median(&footprints),
        median(&footprint_ratios)
    );
    println!(
        "| memlab run poll: the tree and each process's stat | {:.0} µs | |",
        median(&polls)
    );
    let pass = median(&passes);
    let footprint = median(&footprints);
    let budget = memlab::follow::TRUTH_CPU_BUDGET;
    let footprint_budget = memlab::follow::FOOTPRINT_CPU_BUDGET;
    println!(
        "\nAt the default --interval (200 ms) and budgets ({:.0}% of a core for passes, {:.0}% for \
         footprints), a {pass:.0} ms pass allows one every {:.0} ms, a {footprint:.0} ms footprint \
         one every {:.0} ms.",
        budget * 100.0,
        footprint_budget * 100.0,
        (pass / budget).max(200.0),
        footprint / footprint_budget
    );
}

/// 2. The measured operation, alone and followed; alternated so drift hits all alike.
fn slowdown(slowdown_runs: usize, defaults_only: bool, scripts: &[String]) {
    let all_variants: [(&str, &[&str]); 4] = [
        (
            "memlab run (defaults: census on, passes every 200 ms or more within 10% of a core, timeline statm 10 ms)",
            &[],
        ),
        ("memlab run --no-census", &["--no-census"]),
        (
            "memlab run --sample-interval 0 (passes and census, no timeline)",
            &["--sample-interval", "0"],
        ),
        (
            "memlab run --sample-interval 0 --interval 3600000 (start and sighting passes, polls)",
            &["--sample-interval", "0", "--interval", "3600000"],
        ),
    ];
    // Only alone against the defaults: twice the rounds in the same time.
    let variants = if defaults_only {
        &all_variants[..1]
    } else {
        &all_variants[..]
    };
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .map(|text| text.split_whitespace().next().unwrap_or("?").to_string())
            .unwrap_or_default()
    };
    for script in scripts.iter().map(String::as_str) {
        let load_before = load();
        let mut alone = Vec::new();
        let mut followed: Vec<Vec<Followed>> = (0..variants.len()).map(|_| Vec::new()).collect();
        for round in 0..slowdown_runs {
            // Alone first in even rounds, last in odd ones: a side that gains from coming
            // second gains in half the rounds.
            if round % 2 == 0 {
                alone.push(pool_alone(script));
            }
            for ((_, extra), runs) in variants.iter().zip(followed.iter_mut()) {
                runs.push(pool_under_memlab(script, extra));
            }
            if round % 2 == 1 {
                alone.push(pool_alone(script));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let spread = |values: &[f64]| {
            let (low, high) = values
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            format!("{low:.3} – {high:.3}")
        };
        println!(
            "\n## {script}: the workers' median task time, median of {slowdown_runs} runs \
             (load average {load_before} before, {} after)\n",
            load()
        );
        println!(
            "| how | task (s), median | range | vs alone (medians) | vs alone, paired: median of the rounds' ratios (95% bootstrap interval) | memlab's CPU, share of the cores over the run (median) |"
        );
        println!("|---|---|---|---|---|---|");
        let alone_median = median(&alone);
        println!("| alone | {alone_median:.4} | {} | | | |", spread(&alone));
        for ((label, _), runs) in variants.iter().zip(followed) {
            let times: Vec<f64> = runs.iter().map(|run| run.task_seconds).collect();
            let shares: Vec<f64> = runs.iter().map(|run| run.memlab_core_share).collect();
            let followed_median = median(&times);
            println!(
                "| {label} | {followed_median:.4} | {} | {:+.1}% | {} | {:.2}% |",
                spread(&times),
                (followed_median / alone_median - 1.0) * 100.0,
                PairedSlowdown::of(&alone, &times).percent(),
                median(&shares) * 100.0
            );
        }
    }
}
