//! How much CPU `memlab run`'s own threads take while the measured pool's workers are busy, from
//! the scheduler's own record: a low-noise companion to the end-to-end slowdown of
//! examples/bench_run.rs (whose task times move by ±4 points from run to run).
//!
//! Each run is `perf sched record -- memlab run -- .venv/bin/python experiments/examples/SCRIPT`;
//! `perf sched timehist` then gives every slice a task ran on a core. The workers' busy window
//! runs from the first worker's first slice to the end of the last worker's busy spell (a
//! worker's spell ends at the first gap of more than 0.5 s between its slices: the scripts'
//! workers sleep `--hold` 1 s after their task). Inside the window, the run time of memlab's
//! threads (its follow loop: the main thread; its timeline sampler; the others: the census's
//! reader, watchdogs…), of the workers, of the root python and of every other program (the
//! machine's noise) is summed; memlab's share is its run time over the window's core time
//! (window × cores). Each round also runs the script alone under perf: the window is the pool's
//! makespan, compared with alone's round by round (the median of the rounds' ratios). Several memlab binaries run interleaved, the order
//! rotated each round, so that builds can be compared.
//!
//! Run as root, with perf installed, after `cargo build --release`:
//! `cargo run --release --example bench_window [runs] [script] [memlab-binary…]` (defaults: 11
//! runs, pool_global.py (or pool_list.py), target/release/memlab).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};

mod builds;
mod paired;

use builds::{Builds, load_average};
use memlab::result::median;
use paired::PairedSlowdown;

const PYTHON: &str = ".venv/bin/python";
/// A worker's busy spell ends at the first gap longer than this between its slices.
const SPELL_GAP_SECONDS: f64 = 0.5;
/// The scripts' default pool size.
const WORKERS: usize = 4;

/// One line of `perf sched timehist`: a task switched out at `end` after running since `start`,
/// and ready to run (waiting for a core) since `ready`.
struct Slice {
    ready: f64,
    start: f64,
    end: f64,
    name: String,
    tid: i32,
    pid: i32,
}

/// `   72589.203050 [0001]  memlab-sampler[3575/3574]   0.012   0.003   0.251` (time in s, then
/// the task as `name[tid/pid]` or `name[pid]`, then wait time, scheduling delay and run time in
/// ms), read from the right so that a name may hold spaces or brackets. None for anything else
/// (headers, `<idle>`).
fn parse_timehist_line(line: &str) -> Option<Slice> {
    fn split_last_word(text: &str) -> Option<(&str, &str)> {
        let text = text.trim_end();
        let at = text.rfind(char::is_whitespace)?;
        Some((&text[..at], text[at..].trim_start()))
    }
    let (rest, run_ms) = split_last_word(line)?;
    let (rest, delay_ms) = split_last_word(rest)?;
    let (rest, _wait_ms) = split_last_word(rest)?;
    let run_ms: f64 = run_ms.parse().ok()?;
    let delay_ms: f64 = delay_ms.parse().ok()?;
    let mut words = rest.trim_start().splitn(3, char::is_whitespace);
    let end: f64 = words.next()?.parse().ok()?;
    let cpu = words.next()?;
    if !(cpu.starts_with('[') && cpu.ends_with(']')) {
        return None;
    }
    let task = words.next()?.trim().strip_suffix(']')?;
    let (name, ids) = task.rsplit_once('[')?;
    let (tid, pid) = match ids.split_once('/') {
        Some((tid, pid)) => (tid.parse().ok()?, pid.parse().ok()?),
        None => (ids.parse().ok()?, ids.parse().ok()?),
    };
    Some(Slice {
        ready: end - (run_ms + delay_ms) / 1e3,
        start: end - run_ms / 1e3,
        end,
        name: name.trim().to_string(),
        tid,
        pid,
    })
}

/// Run time (ms) inside the workers' busy window, by whom.
#[derive(Default)]
struct WindowFigures {
    window_ms: f64,
    follow_loop_ms: f64,
    sampler_ms: f64,
    other_memlab_threads_ms: f64,
    workers_ms: f64,
    root_python_ms: f64,
    other_programs_ms: f64,
    /// memlab's run time, in the window, while a process of the tree was ready to run and had
    /// no core: what it took from the tree (run time on a core the tree left free is not).
    memlab_while_tree_waited_ms: f64,
    /// The workers' time in the window neither running nor ready to (waiting for a task, for a
    /// lock, for a page): memlab holding a lock the tree needs would show here.
    workers_asleep_ms: f64,
}

impl WindowFigures {
    fn memlab_ms(&self) -> f64 {
        self.follow_loop_ms + self.sampler_ms + self.other_memlab_threads_ms
    }
}

/// The window and who ran in it; Err says why the run is skipped. The script's processes are
/// the tasks named as the venv's python (`python`: not an unrelated `python3` the machine runs
/// meanwhile); the root is the first of them seen, the workers the others.
fn window_figures(slices: &[Slice]) -> Result<WindowFigures, String> {
    let python_name = Path::new(PYTHON).file_name().unwrap().to_string_lossy();
    let mut python_pids: Vec<i32> = Vec::new();
    for slice in slices.iter().filter(|s| s.name == python_name) {
        if !python_pids.contains(&slice.pid) {
            python_pids.push(slice.pid);
        }
    }
    let Some((&root, workers)) = python_pids.split_first() else {
        return Err("no python in the record".into());
    };
    if workers.len() != WORKERS {
        return Err(format!("{} workers, not {WORKERS}", workers.len()));
    }
    let (mut window_start, mut window_end) = (f64::MAX, f64::MIN);
    let mut asleep = Vec::new();
    for worker in workers {
        let mut spell: Vec<&Slice> = slices.iter().filter(|s| s.pid == *worker).collect();
        spell.sort_by(|a, b| a.start.total_cmp(&b.start));
        let spell_end = spell
            .windows(2)
            .find(|pair| pair[1].start - pair[0].end > SPELL_GAP_SECONDS)
            .map_or(spell[spell.len() - 1].end, |pair| pair[0].end);
        window_start = window_start.min(spell[0].start);
        window_end = window_end.max(spell_end);
        // From one slice's end to the next's becoming ready: asleep.
        asleep.extend(
            spell
                .windows(2)
                .map(|pair| (pair[0].end, pair[1].ready.max(pair[0].end))),
        );
    }
    // memlab's process: its threads are named memlab-…, its main thread after the binary's
    // file (`memlab`, or a copy's name); of the pids with such tasks, the one that ran most
    // (not the short-lived children it forks before they exec).
    let mut memlab_run: HashMap<i32, f64> = HashMap::new();
    for slice in slices.iter().filter(|s| s.name.starts_with("memlab")) {
        *memlab_run.entry(slice.pid).or_default() += slice.end - slice.start;
    }
    let memlab = memlab_run
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(pid, _)| *pid);
    let mut figures = WindowFigures {
        window_ms: (window_end - window_start) * 1e3,
        workers_asleep_ms: asleep
            .iter()
            .map(|(from, to)| (to.min(window_end) - from.max(window_start)).max(0.0))
            .sum::<f64>()
            * 1e3,
        ..Default::default()
    };
    let tree_waiting = merged(
        slices
            .iter()
            .filter(|s| s.pid == root || workers.contains(&s.pid))
            .map(|s| (s.ready.max(window_start), s.start.min(window_end)))
            .filter(|(from, to)| from < to)
            .collect(),
    );
    for slice in slices {
        let overlap_ms = (slice.end.min(window_end) - slice.start.max(window_start)) * 1e3;
        if overlap_ms <= 0.0 {
            continue;
        }
        if Some(slice.pid) == memlab {
            figures.memlab_while_tree_waited_ms +=
                overlap(&tree_waiting, slice.start, slice.end) * 1e3;
        }
        // The follow loop is memlab's main thread; its unnamed threads (the census's reader)
        // are named after the binary too, and go with the watchdogs and the rest.
        let bucket = if Some(slice.pid) == memlab {
            if slice.tid == slice.pid {
                &mut figures.follow_loop_ms
            } else if slice.name == "memlab-sampler" {
                &mut figures.sampler_ms
            } else {
                &mut figures.other_memlab_threads_ms
            }
        } else if slice.pid == root {
            &mut figures.root_python_ms
        } else if workers.contains(&slice.pid) {
            &mut figures.workers_ms
        } else {
            &mut figures.other_programs_ms
        };
        *bucket += overlap_ms;
    }
    Ok(figures)
}

/// Intervals sorted and merged where they touch or overlap.
fn merged(mut intervals: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    intervals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(intervals.len());
    for (from, to) in intervals {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    merged
}

/// How much of `from..to` the merged `intervals` cover.
fn overlap(intervals: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let first = intervals.partition_point(|interval| interval.1 <= from);
    intervals[first..]
        .iter()
        .take_while(|interval| interval.0 < to)
        .map(|interval| interval.1.min(to) - interval.0.max(from))
        .sum()
}

/// One run of the script under perf sched record, alone (`memlab` None) or under `memlab run`.
fn record_and_measure(
    memlab: Option<&str>,
    script: &str,
    scratch: &Path,
) -> Result<WindowFigures, String> {
    let record = scratch.join("perf.data");
    let out = scratch.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let mut command = Command::new("perf");
    command
        .args(["sched", "record", "-q", "-o"])
        .arg(&record)
        .arg("--");
    if let Some(memlab) = memlab {
        command.args([memlab, "run", "--out"]).arg(&out).arg("--");
    }
    command.args([PYTHON, &format!("experiments/examples/{script}")]);
    let run = command.stdin(Stdio::null()).stdout(Stdio::null()).output();
    let run = run.map_err(|e| format!("perf sched record: {e}"))?;
    if !run.status.success() {
        let stderr = String::from_utf8_lossy(&run.stderr);
        let last = stderr.lines().last().unwrap_or("");
        return Err(format!("the run failed ({}): {last}", run.status));
    }
    let timehist = Command::new("perf")
        .args(["sched", "timehist", "-i"])
        .arg(&record)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("perf sched timehist: {e}"))?;
    let _ = std::fs::remove_file(&record);
    let _ = std::fs::remove_dir_all(&out);
    if !timehist.status.success() {
        return Err(format!("perf sched timehist failed ({})", timehist.status));
    }
    let text = String::from_utf8_lossy(&timehist.stdout);
    let slices: Vec<Slice> = text.lines().filter_map(parse_timehist_line).collect();
    window_figures(&slices)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .map_or(11, |s| s.parse().expect("runs: a number"));
    let script = args.next().unwrap_or_else(|| "pool_global.py".into());
    let builds = Builds::named(args.collect());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let load_before = load_average();
    let interleaved = builds.interleave(runs, |memlab| {
        record_and_measure(memlab, &script, scratch.path())
    });
    drop(scratch);
    let measured = interleaved.by_slot(builds.slots());

    println!(
        "## {script}: memlab's run time inside the workers' busy window (perf sched), {runs} \
         rounds, {cores} cores (load average {load_before} before, {} after)\n",
        load_average()
    );
    println!(
        "| how | runs | window (ms) | follow loop (ms) | sampler (ms) | other memlab threads: census reader, watchdogs… (ms) \
         | memlab total (ms) | memlab share of window × cores: median, mean | share range \
         | memlab while the tree waited for a core (ms): median, mean | as a share of window × cores: median, mean | workers asleep in the window (ms) | workers (ms) \
         | root python (ms) | other programs (ms) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    for (slot, runs) in measured.iter().enumerate() {
        let of = |figure: fn(&WindowFigures) -> f64| {
            median(&runs.iter().map(|r| figure(r)).collect::<Vec<_>>())
        };
        let share = |ms: f64, run: &WindowFigures| ms / (run.window_ms * cores) * 100.0;
        let shares: Vec<f64> = runs.iter().map(|r| share(r.memlab_ms(), r)).collect();
        let taken: Vec<f64> = runs.iter().map(|r| r.memlab_while_tree_waited_ms).collect();
        let taken_shares: Vec<f64> = runs
            .iter()
            .map(|r| share(r.memlab_while_tree_waited_ms, r))
            .collect();
        let (low, high) = shares
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), s| (l.min(*s), h.max(*s)));
        let common = format!(
            "{:.1} | {:.0} | {:.0} | {:.1}",
            of(|r| r.workers_asleep_ms),
            of(|r| r.workers_ms),
            of(|r| r.root_python_ms),
            of(|r| r.other_programs_ms)
        );
        let label = builds.label(slot);
        let window = format!("{} | {:.1}", runs.len(), of(|r| r.window_ms));
        if runs.is_empty() {
            println!("| {label} | 0 | | | | | | | | | | | | | |");
        } else if slot == 0 {
            println!("| {label} | {window} | | | | | | | | | {common} |");
        } else {
            println!(
                "| {label} | {window} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}%, {:.2}% | {low:.2}% – {high:.2}% | {:.2}, {:.2} | {:.2}%, {:.2}% | {common} |",
                of(|r| r.follow_loop_ms),
                of(|r| r.sampler_ms),
                of(|r| r.other_memlab_threads_ms),
                of(WindowFigures::memlab_ms),
                median(&shares),
                mean(&shares),
                median(&taken),
                mean(&taken),
                median(&taken_shares),
                mean(&taken_shares),
            );
        }
    }
    println!(
        "\nMedians of each column over the runs (the total is the median of the runs' totals, not \
         the sum of the medians); the share is memlab total / (window × cores), per run; its mean \
         counts the runs where a larger piece of work fell in the window. \"while the tree \
         waited\": memlab's run time while a process of the tree was ready to run and had no \
         core (what memlab took from it; on a core the tree left free it took nothing)."
    );
    // The window is the pool's makespan: the program's own time for its map.
    println!(
        "\n| how | the window (the pool's makespan) vs alone, paired: median of the rounds' \
         ratios (95% bootstrap interval) | rounds |"
    );
    println!("|---|---|---|");
    for slot in 1..builds.slots() {
        let (alone, followed) = interleaved.paired(slot, |figures| figures.window_ms);
        if !alone.is_empty() {
            let paired = PairedSlowdown::of(&alone, &followed).percent();
            println!("| {} | {paired} | {} |", builds.label(slot), alone.len());
        }
    }
    interleaved.print_skipped();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_counts_only_the_covered_part() {
        let waiting = merged(vec![(5.0, 6.0), (1.0, 2.0), (1.5, 3.0), (3.0, 4.0)]);
        assert_eq!(waiting, vec![(1.0, 4.0), (5.0, 6.0)]);
        assert_eq!(overlap(&waiting, 0.0, 1.0), 0.0);
        assert_eq!(overlap(&waiting, 3.5, 5.5), 1.0);
        assert_eq!(overlap(&waiting, 0.0, 10.0), 4.0);
    }

    #[test]
    fn a_timehist_line_is_read_from_the_right() {
        let task = |line| parse_timehist_line(line).map(|s| (s.name, s.tid, s.pid, s.start, s.end));
        let thread = "   72589.25 [0001]  memlab-sampler[3575/3574]   0.012   10.000   250.000 ";
        let spaced = "   72866.9 [0000]  lto cgu.01[5090/5087]   0.000   0.000   400.000";
        let bracketed = "   1.5 [0000]  odd[x] name[42]   0.000   0.000   500.000";
        assert_eq!(
            task(thread),
            Some(("memlab-sampler".into(), 3575, 3574, 72589.0, 72589.25))
        );
        // Ready since its scheduling delay (10 ms) before it ran.
        let ready = parse_timehist_line(thread).unwrap().ready;
        assert!((ready - 72588.99).abs() < 1e-9, "{ready}");
        assert_eq!(
            task(spaced),
            Some(("lto cgu.01".into(), 5090, 5087, 72866.5, 72866.9))
        );
        assert_eq!(
            task(bracketed),
            Some(("odd[x] name".into(), 42, 42, 1.0, 1.5))
        );
        for not_a_slice in [
            "           time    cpu  task name                       wait time  sch delay   run time",
            "                        [tid/pid]                          (msec)     (msec)     (msec)",
            "--------------- ------  ------------------------------  ---------  ---------  ---------",
            "   72832.312839 [0000]  <idle>                              0.000      0.000      0.131 ",
            "",
        ] {
            assert_eq!(task(not_a_slice), None, "{not_a_slice}");
        }
    }
}
