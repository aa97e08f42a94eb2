//! How long the measured tree's threads wait for a memory-map lock, alone and under `memlab run`.
//!
//! memlab reads the tree's page tables (`/proc/PID/smaps_rollup`, `/proc/PID/pagemap`) holding
//! the process's mmap lock for reading; if its reading thread is descheduled inside the read, a
//! thread of the program that needs the lock for writing (`mmap`, `mprotect`, `munmap`, `fork`'s
//! `dup_mmap`) sleeps in D state in `rwsem_down_write_slowpath` until memlab lets go.
//!
//! Each run is `perf record -g -a -e sched:sched_switch -e sched:sched_process_fork -e
//! sched:sched_waking -- [memlab run --] .venv/bin/python experiments/examples/pool_global.py
//! --hold 0.3`, read back with `perf script`. The tree is the first python that forks, its forks
//! and its threads. A wait starts when one of them is switched out in D state with `rwsem_down…`
//! in the first frames of its kernel stack, and ends when it is woken: `sched_waking` is recorded
//! in the waker's context, the task that released the lock, and its stack names the read it
//! released it in (memlab's threads are the tasks whose name starts with
//! `memlab`). Several memlab binaries run interleaved with the script alone, the order rotated
//! each round, so that builds can be compared.
//!
//! Run as root, with perf installed, after `cargo build --release`:
//! `cargo run --release --example bench_locks [runs] [memlab-binary…]` (defaults: 11 runs,
//! target/release/memlab).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};

mod builds;

use builds::{Builds, load_average};
use memlab::result::median;

const PYTHON: &str = ".venv/bin/python";
const SCRIPT: &str = "experiments/examples/pool_global.py";
/// A wait counts as a lock wait when one of its stack's first frames is `rwsem_down…`; a
/// wake-up's frames name the read that released the lock (after `up_read`).
const STACK_DEPTH: usize = 8;
/// How a lock wait is told from others: one of the first frames of the waiter's stack.
const LOCK_FRAMES: usize = 6;
/// Waits longer than this are counted apart: they stall the program visibly.
const LONG_WAIT_MS: f64 = 5.0;

/// One event of `perf script`: its header line and the first frames of its callchain.
struct Event {
    comm: String,
    pid: i32,
    tid: i32,
    time: f64,
    name: String,
    trace: String,
    stack: Vec<String>,
}

/// `  python 3  1234/1240 [001] 72589.203050: sched:sched_switch: prev_comm=…` read around the
/// ` [cpu] time: event:` in its middle, so that the task's name may hold spaces. None for anything
/// else.
fn parse_header(line: &str) -> Option<Event> {
    line.match_indices(" [")
        .find_map(|(at, _)| header_around(&line[..at], &line[at + 2..]))
}

fn header_around(before: &str, after: &str) -> Option<Event> {
    let (comm, ids) = before.trim_end().rsplit_once(char::is_whitespace)?;
    let comm = comm.trim();
    let (pid, tid) = ids.split_once('/').unwrap_or((ids, ids));
    let (cpu, after) = after.split_once(']')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if comm.is_empty() || !all_digits(cpu) || !all_digits(pid) || !all_digits(tid) {
        return None;
    }
    let (time, after) = after.trim_start().split_once(": ")?;
    if !time.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let after = after.trim_start();
    let (name, trace) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
    Some(Event {
        comm: comm.to_string(),
        pid: pid.parse().ok()?,
        tid: tid.parse().ok()?,
        time: time.parse().ok()?,
        name: name.strip_suffix(':')?.to_string(),
        trace: trace.trim().to_string(),
        stack: Vec::new(),
    })
}

/// The events of `perf script -F comm,pid,tid,cpu,time,event,trace,ip,sym`, each followed by its
/// callchain as `\t address symbol` lines; lines that are neither are skipped.
fn parse_events(text: &str) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    for line in text.lines() {
        if let Some(event) = parse_header(line) {
            events.push(event);
        } else if let (Some(event), Some(symbol)) =
            (events.last_mut(), line.split_whitespace().nth(1))
            && event.stack.len() < STACK_DEPTH
        {
            event.stack.push(symbol.to_string());
        }
    }
    events
}

/// The number after the last `key=` in `text`.
fn number_after(text: &str, key: &str) -> Option<i32> {
    let at = text.rfind(key)? + key.len();
    let digits = text[at..].split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// `comm=python pid=15526 child_comm=python child_pid=15531`: the parent's name and pid, and the
/// child's pid.
fn parse_fork(trace: &str) -> Option<(&str, i32, i32)> {
    let child = number_after(trace, "child_pid=")?;
    let parent = &trace[..trace.rfind(" child_comm=")?];
    let at = parent.rfind(" pid=")?;
    let comm = parent[..at].strip_prefix("comm=")?;
    Some((comm, number_after(&parent[at..], " pid=")?, child))
}

/// `prev_comm=… prev_pid=1240 prev_prio=120 prev_state=D ==> next_comm=… next_pid=0 …`: the task
/// switched out, its state, and the task switched in.
fn parse_switch(trace: &str) -> Option<(i32, &str, i32)> {
    let next = number_after(trace, "next_pid=")?;
    let prev = &trace[..trace.rfind(" ==> next_comm=")?];
    let state = &prev[prev.rfind("prev_state=")? + "prev_state=".len()..];
    Some((number_after(prev, "prev_pid=")?, state, next))
}

/// The tree's tasks: the first python that forks (the root), its forks, and its threads.
fn tree_tasks(events: &[Event]) -> Option<HashSet<i32>> {
    let forks: Vec<(&str, i32, i32)> = events
        .iter()
        .filter(|e| e.name == "sched:sched_process_fork")
        .filter_map(|e| parse_fork(&e.trace))
        .collect();
    let root = forks.iter().find(|f| f.0.starts_with("python"))?.1;
    let mut tree: HashSet<i32> = forks.iter().filter(|f| f.1 == root).map(|f| f.2).collect();
    tree.insert(root);
    tree.extend(events.iter().filter(|e| e.pid == root).map(|e| e.tid));
    Some(tree)
}

/// One wait of a task of the tree for a memory-map lock.
#[derive(Debug, Clone, PartialEq)]
struct LockWait {
    tid: i32,
    ms: f64,
    /// The name of the task that last woke the waiter: the one that released the lock, and the
    /// kernel function it released it in (`show_smaps_rollup`, `pagemap_read`…).
    released_by: Option<String>,
    released_in: Option<String>,
}

impl LockWait {
    /// memlab's threads are named `memlab-…`, its main thread after the binary (`memlab…`).
    fn released_by_memlab(&self) -> bool {
        self.released_by
            .as_ref()
            .is_some_and(|c| c.starts_with("memlab"))
    }
}

/// The tree's waits for a memory-map lock, in the order they ended; None without a python fork.
/// A wait ends when its task is woken (`sched_waking`, recorded in the waker's context, which
/// released the lock), not when it runs again: the time it then waits for a core is the
/// scheduler's, not the lock's.
fn lock_waits(events: &[Event]) -> Option<Vec<LockWait>> {
    let tree = tree_tasks(events)?;
    let mut waiting_since: HashMap<i32, f64> = HashMap::new();
    let mut waits = Vec::new();
    for event in events {
        if event.name == "sched:sched_waking" {
            if let Some(woken) = number_after(&event.trace, " pid=")
                && let Some(since) = waiting_since.remove(&woken)
            {
                waits.push(LockWait {
                    tid: woken,
                    ms: (event.time - since) * 1e3,
                    released_by: Some(event.comm.clone()),
                    released_in: released_in(&event.stack).map(str::to_string),
                });
            }
            continue;
        }
        let switch = (event.name == "sched:sched_switch").then(|| parse_switch(&event.trace));
        let Some((prev, state, next)) = switch.flatten() else {
            continue;
        };
        let frames = event.stack.iter().take(LOCK_FRAMES);
        let on_rwsem = frames.clone().any(|s| s.starts_with("rwsem_down"));
        if tree.contains(&prev) && state.starts_with('D') && on_rwsem {
            waiting_since.insert(prev, event.time);
        }
        // Running again with no wake-up on record: the wait ends here, its releaser unknown.
        if let Some(since) = waiting_since.remove(&next) {
            waits.push(LockWait {
                tid: next,
                ms: (event.time - since) * 1e3,
                released_by: None,
                released_in: None,
            });
        }
    }
    Some(waits)
}

/// The function a wake-up's task released the lock in: the frame after `up_read`/`up_write`.
fn released_in(stack: &[String]) -> Option<&str> {
    let at = stack
        .iter()
        .position(|s| s == "up_read" || s == "up_write")?;
    stack.get(at + 1).map(String::as_str)
}

/// The waits longer than [`LONG_WAIT_MS`], by who released them and where: `memlab-sampler in
/// show_smaps_rollup: 2 (7.1, 23.0 ms)`.
fn long_waits<R: AsRef<[LockWait]>>(runs: &[R]) -> Vec<String> {
    let mut by_releaser: Vec<(String, Vec<f64>)> = Vec::new();
    for wait in runs
        .iter()
        .flat_map(AsRef::as_ref)
        .filter(|w| w.ms > LONG_WAIT_MS)
    {
        let by = wait.released_by.as_deref().unwrap_or("?");
        let key = format!("{by} in {}", wait.released_in.as_deref().unwrap_or("?"));
        match by_releaser.iter_mut().find(|(k, _)| *k == key) {
            Some((_, waits)) => waits.push(wait.ms),
            None => by_releaser.push((key, vec![wait.ms])),
        }
    }
    by_releaser
        .into_iter()
        .map(|(key, ms)| {
            let each: Vec<String> = ms.iter().map(|ms| format!("{ms:.1}")).collect();
            format!("{key}: {} ({} ms)", ms.len(), each.join(", "))
        })
        .collect()
}

/// A slot's row of the table, from its runs' waits.
fn table_row<R: AsRef<[LockWait]>>(label: &str, runs: &[R]) -> String {
    if runs.is_empty() {
        return format!("| {label} | 0 | | | | | | | |");
    }
    let per_run = |figure: fn(&[LockWait]) -> f64| -> Vec<f64> {
        runs.iter().map(|r| figure(r.as_ref())).collect()
    };
    let max = |ms: &[f64]| ms.iter().copied().fold(0.0, f64::max);
    let totals = per_run(|waits| waits.iter().fold(0.0, |sum, w| sum + w.ms));
    let longest = per_run(|waits| waits.iter().map(|w| w.ms).fold(0.0, f64::max));
    let total: f64 = totals.iter().sum();
    let memlab = runs
        .iter()
        .flat_map(AsRef::as_ref)
        .filter(|w| w.released_by_memlab());
    let by_memlab: f64 = memlab.map(|w| w.ms).sum();
    let share = if total > 0.0 {
        format!("{:.0}%", by_memlab / total * 100.0)
    } else {
        "–".into()
    };
    format!(
        "| {label} | {} | {:.2} | {:.2} | {:.1} | {:.2} | {:.1} | {} | {share} |",
        runs.len(),
        median(&totals),
        total / runs.len() as f64,
        max(&totals),
        median(&longest),
        max(&longest),
        longest.iter().filter(|ms| **ms > LONG_WAIT_MS).count(),
    )
}

/// The output of a command run with stdin from /dev/null, or why it failed (with the last line
/// of its stderr).
fn output_of(command: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let output = command.stdin(Stdio::null()).output();
    let output = output.map_err(|e| format!("{what} could not start: {e}"))?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or("");
    Err(format!("{what} failed ({}): {last}", output.status))
}

/// One run of the script under perf record, alone (`memlab` None) or under `memlab run`.
fn record_and_measure(memlab: Option<&str>, scratch: &Path) -> Result<Vec<LockWait>, String> {
    let (record, out) = (scratch.join("perf.data"), scratch.join("out"));
    let mut command = Command::new("perf");
    command
        .args(["record", "-q", "-g", "-a", "-o"])
        .arg(&record);
    for event in ["switch", "process_fork", "waking"] {
        command.arg("-e").arg(format!("sched:sched_{event}"));
    }
    command.arg("--");
    if let Some(memlab) = memlab {
        command.args([memlab, "run", "--out"]).arg(&out).arg("--");
    }
    command.args([PYTHON, SCRIPT, "--hold", "0.3"]);
    let recorded = output_of(command.stdout(Stdio::null()), "perf record");
    let _ = std::fs::remove_dir_all(&out);
    let mut script = Command::new("perf");
    script.arg("script").arg("-i").arg(&record);
    script.args(["-F", "comm,pid,tid,cpu,time,event,trace,ip,sym"]);
    let text = recorded.and_then(|_| output_of(&mut script, "perf script"));
    let _ = std::fs::remove_file(&record);
    let events = parse_events(&String::from_utf8_lossy(&text?));
    lock_waits(&events).ok_or_else(|| "no python forked in the record".into())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args
        .next()
        .map_or(11, |s| s.parse().expect("runs: a number"));
    let builds = Builds::named(args.collect());
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let load_before = load_average();
    let interleaved = builds.interleave(runs, |memlab| record_and_measure(memlab, scratch.path()));
    drop(scratch);
    let measured = interleaved.by_slot(builds.slots());

    println!(
        "## {SCRIPT} --hold 0.3: the tree's waits for a memory-map lock (D state in rwsem_down…, \
         perf sched events), {runs} rounds (load average {load_before} before, {} after)\n",
        load_average()
    );
    println!(
        "| how | runs | wait per run: median (ms) | mean (ms) | max (ms) | longest single wait: \
         median (ms) | max (ms) | runs with a wait > {LONG_WAIT_MS} ms | share of the wait \
         released by memlab's threads |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (slot, runs) in measured.iter().enumerate() {
        println!("{}", table_row(builds.label(slot), runs));
    }
    println!(
        "\nA wait: a task of the tree switched out in D state with rwsem_down… in its stack's \
         first {LOCK_FRAMES} frames, until it is woken (sched_waking). The share is the wait, over \
         all the runs, whose waking came from a task named memlab…, over the total wait."
    );
    for (slot, runs) in measured.iter().enumerate() {
        let long = long_waits(runs);
        if !long.is_empty() {
            let label = builds.label(slot);
            println!(
                "\nWaits longer than {LONG_WAIT_MS} ms, {label}: {}",
                long.join("; ")
            );
        }
    }
    interleaved.print_skipped();
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = "\
python 15526/15526 [000] 100.000000: sched:sched_process_fork: comm=python pid=15526 child_comm=python child_pid=15531
\tffffffff813587f6 kernel_clone
Thread Pool 15526/15540 [001] 100.100000:       sched:sched_switch: prev_comm=Thread Pool prev_pid=15540 prev_prio=120 prev_state=D ==> next_comm=swapper/1 next_pid=0 next_prio=120
\tffffffff821facd8 __schedule
\tffffffff821fb643 schedule
\tffffffff821fd0a1 rwsem_down_write_slowpath
\tffffffff821fd3c2 down_write_killable
\tffffffff8150a111 vm_mmap_pgoff
python 15531/15531 [000] 100.101000: sched:sched_switch: prev_comm=python prev_pid=15531 prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120
\tffffffff821facd8 __schedule
\tffffffff821fb643 schedule
\tffffffff821fb70f io_schedule
\tffffffff8158e1c6 filemap_read
kworker/1:0-eve 77/77 [001] 100.102000: sched:sched_waking: comm=python pid=15531 prio=120 target_cpu=000
memlab-sampler 9000/9002 [000] 100.103000: sched:sched_waking: comm=Thread Pool pid=15540 prio=120 target_cpu=001
\tffffffff813aa3e5 ttwu_do_activate
\tffffffff813aa887 try_to_wake_up
\tffffffff821fd9f0 up_read
\tffffffff815f0a10 show_smaps_rollup
swapper 0/0 [001] 100.104500: sched:sched_switch: prev_comm=swapper/1 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=Thread Pool next_pid=15540 next_prio=120
swapper 0/0 [000] 100.121000: sched:sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=15531 next_prio=120
";

    #[test]
    fn a_header_is_read_around_its_cpu_and_time() {
        let header = |line| {
            let e = parse_header(line)?;
            Some(format!(
                "{}|{}|{}|{}|{}|{}",
                e.comm, e.pid, e.tid, e.time, e.name, e.trace
            ))
        };
        let spaced = "Thread Pool 15526/15540 [001] 100.100000:    sched:sched_switch: prev_comm=x";
        let no_tid = "  kworker/1:0-eve    77  [000] 1.5: sched:sched_wakeup: comm=a pid=3";
        let switch = "Thread Pool|15526|15540|100.1|sched:sched_switch|prev_comm=x";
        assert_eq!(header(spaced).as_deref(), Some(switch));
        let wakeup = "kworker/1:0-eve|77|77|1.5|sched:sched_wakeup|comm=a pid=3";
        assert_eq!(header(no_tid).as_deref(), Some(wakeup));
        for not_a_header in [
            "\tffffffff821fb643 schedule",
            "\tffff [unknown]",
            "x [1] y: z",
        ] {
            assert_eq!(header(not_a_header), None, "{not_a_header}");
        }
    }

    #[test]
    fn an_rwsem_wait_lasts_until_switched_in_and_the_last_waker_released_it() {
        let events = parse_events(RECORD);
        assert_eq!(events.len(), 7);
        assert_eq!(
            events[1].stack[2..],
            [
                "rwsem_down_write_slowpath",
                "down_write_killable",
                "vm_mmap_pgoff"
            ]
        );
        assert_eq!(events[3].stack.len(), 0);
        assert_eq!(
            tree_tasks(&events),
            Some(HashSet::from([15526, 15531, 15540]))
        );
        // The filemap_read wait of 15531 (20 ms) is not a lock wait.
        let waits = lock_waits(&events).unwrap();
        assert_eq!(waits.len(), 1);
        assert_eq!(waits[0].tid, 15540);
        // Woken at 100.103 by the sampler's release, run at 100.1045: 3 ms of lock wait.
        assert!((waits[0].ms - 3.0).abs() < 1e-6, "{}", waits[0].ms);
        assert_eq!(waits[0].released_by.as_deref(), Some("memlab-sampler"));
        assert_eq!(waits[0].released_in.as_deref(), Some("show_smaps_rollup"));
        assert_eq!(long_waits(&[waits.clone()]), Vec::<String>::new());
        let long = |ms, by: &str| LockWait {
            ms,
            released_by: Some(by.into()),
            ..waits[0].clone()
        };
        let runs = [
            vec![long(7.25, "memlab-sampler")],
            vec![long(12.0, "memlab-sampler"), long(6.0, "python")],
        ];
        assert_eq!(
            long_waits(&runs),
            [
                "memlab-sampler in show_smaps_rollup: 2 (7.2, 12.0 ms)",
                "python in show_smaps_rollup: 1 (6.0 ms)"
            ]
        );
        let row = table_row("x", &[waits, Vec::new()]);
        assert_eq!(row, "| x | 2 | 1.50 | 1.50 | 3.0 | 1.50 | 3.0 | 0 | 100% |");
        let quiet = "| alone | 1 | 0.00 | 0.00 | 0.0 | 0.00 | 0.0 | 0 | – |";
        assert_eq!(table_row("alone", &[Vec::new()]), quiet);
        let no_python = RECORD.replace("comm=python pid=15526", "comm=bash pid=15526");
        assert_eq!(lock_waits(&parse_events(&no_python)), None);
    }
}
