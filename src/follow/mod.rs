//! The follower of `memlab run`: watches a whole process tree as it changes, measures it,
//! and keeps a record of every process that ever belonged to it.
//!
//! - **The tree.** `memlab run -- COMMAND`: every descendant of memlab (the command, what it
//!   forks and execs, and orphans re-parented to memlab, its subreaper); memlab itself never.
//!   `--pid PID`: PID, its descendants, and every process already followed that is still alive
//!   (with its descendants), wherever it was re-parented.
//! - **Polls** (every 20 ms, stretched to stay within 5% of a core) list the tree and read each
//!   process's `stat`: new processes, exited ones (zombies count as exited), and exec. A process
//!   is a copy-on-write child of its parent while its memory layout (code, data, heap start,
//!   stack, arguments and environment addresses: copied at fork, replaced by exec) is its
//!   parent's.
//! - **Passes** measure every live process: smaps_rollup and page truth of each copy-on-write
//!   child against its parent. One at the start, one as soon as a poll sees a new process (its
//!   first sighting), then every `--interval`, stretched so that passes take at most
//!   [`TRUTH_CPU_BUDGET`] of a core. Some passes also take the tree's unique footprint (distinct
//!   physical frames): the first, then as often as [`FOOTPRINT_CPU_BUDGET`] allows, never on a
//!   sighting pass.
//! - **Phases** are the passes kept in the result: `start`, `seen-PID` (first sighting),
//!   `last-PID` (the last pass that saw PID alive, before it exited), `peak` (the largest unique
//!   footprint among the passes that took one; ΣPSS without frame numbers), `end`, and the other
//!   passes as `t-MSms`; beyond [`MAX_PHASES`], every other
//!   unnamed pass is dropped (the per-process records keep each process's figures).
//! - **Censuses** of the Python objects on each forked child's copied pages follow some
//!   passes (`census`): a child's first, when its copied bytes changed markedly or settled,
//!   and on every checkpoint's pass, within [`CENSUS_CPU_BUDGET`]; none once the tree began
//!   to end; off with `--no-census`.
//! - The timeline sampler (statm every 10 ms, smaps_rollup within 5% of a core) runs beside.
//! - **Priority**: scheduled passes (periodic and first sightings) start once the tree leaves a
//!   core free, or once they waited [`PASS_MAX_IDLE_WAIT`] (polls go on until then), and then
//!   run at normal priority: a pass walks page tables under each process's mmap lock, and a
//!   walker descheduled at idle priority inside it would hold up the tree's `mmap` and `fork`
//!   ([`crate::measure::priority`], [`crate::measure::tree_load`]). The sampler waits at
//!   `SCHED_IDLE`, and walks (its rollups) at normal priority too. Polls, marker
//!   passes and the last pass stay at normal priority (signals, the command's exit and a program
//!   blocked at a checkpoint wait for them), and so does a parent's capture at its children's
//!   sighting, once the tree leaves a core free over a window (30 ms), at most 100 ms after the
//!   sighting (a page the parent rewrites meanwhile counts as the child's copy; each child
//!   records when).
//!
//! The pieces, each unit-tested without processes where it is pure:
//!
//! - this file: the follow loop, with signals, the grace and the kill;
//! - `follower`: the state between polls and passes, what a poll and a pass do, and the one
//!   place a pass's outcome is recorded;
//! - `tree`: one record per process, and what each poll changes (a pure decision on the
//!   records and the poll's observations); `observe`: what a poll reads from `/proc`;
//! - `schedule`: when the next poll and pass are due, and what following cost; `yielding`:
//!   when a due pass or a parent's capture starts, and at what priority;
//! - `phases`: which passes are kept and their names; `measured` and `records`: each
//!   process's figures and its record in the result;
//! - `ending`: the command's exit, the grace after an interruption, killing what is left;
//! - `outcome`: what following leaves; [`assemble`]: from it to the run's result and its
//!   checks; [`spawn`]: starting the command.

pub mod assemble;
mod census;
mod ending;
mod follower;
mod inbox;
pub mod marker_pipe;
pub mod markers;
mod measured;
mod observe;
mod outcome;
mod phases;
mod records;
mod schedule;
pub mod spawn;
mod tree;
mod wake;
mod yielding;

pub use assemble::{RunLimits, RunTarget};
pub use census::{CENSUS_ALLOWANCE, CENSUS_CPU_BUDGET};
pub use ending::{GRACE, kill_everything_below_memlab};
pub use outcome::{FollowOutcome, PeakFootprint};
pub use phases::MAX_PHASES;
pub use schedule::{FOOTPRINT_CPU_BUDGET, PASS_MAX_IDLE_WAIT, TRUTH_CPU_BUDGET};

use std::os::fd::OwnedFd;
use std::process::Child;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::measure::guard;
use crate::measure::sampler::{Sampler, SamplerConfig};

use ending::{CommandGuard, Ending};
use follower::{Follower, PassReason};
use inbox::Inbox;
use marker_pipe::Reader;
use markers::Warnings;
use tree::Change;
use wake::Wake;
use yielding::{Gates, Hurry};

/// What to follow.
pub enum Target {
    /// The command memlab started, leader of its own process group.
    Spawned(Child),
    /// A running process (`--pid`): followed, never signalled.
    Attached(i32),
}

pub struct FollowConfig {
    pub interval: Duration,
    pub sampler: Option<SamplerConfig>,
    /// Printed as the `start` marker.
    pub label: String,
    /// `--grace`: how long the command has to exit after a forwarded signal.
    pub grace: Duration,
    /// `--keep`: what the command leaves running is followed until Ctrl-C, then left running.
    pub keep: bool,
    /// Censuses of the forked CPython children's copied pages (`--no-census`: false).
    pub census: bool,
}

/// The marker pipe's read end, and whether a `stop` on it ends following (`--markers-fd`).
pub struct MarkerSource {
    pub fd: OwnedFd,
    pub stop_allowed: bool,
}

/// Follows `target` until it ends (the command exits; for `--pid`, every followed process is
/// gone) or memlab is interrupted. For a spawned command nothing of the tree is left running
/// when this returns, whatever the outcome.
pub fn follow(
    target: Target,
    started: Instant,
    config: &FollowConfig,
    markers: Option<MarkerSource>,
) -> anyhow::Result<FollowOutcome> {
    let (root, child, attached) = match target {
        Target::Spawned(child) => (child.id() as i32, Some(child), false),
        Target::Attached(pid) => (pid, None, true),
    };
    let mut command = CommandGuard::new(child, root);
    let sampler = match config.sampler {
        Some(sampler_config) => Some(Sampler::start(root, started, sampler_config)?),
        None => None,
    };
    mark(sampler.as_ref(), "start", &config.label);
    // The loop sleeps on this channel between polls: a marker wakes it at once.
    let (wake_sender, wakes) = sync_channel::<Wake>(marker_pipe::QUEUE);
    let warnings = Arc::new(Warnings::default());
    let mut inbox = Inbox::new(
        Arc::clone(&warnings),
        markers.as_ref().is_some_and(|m| m.stop_allowed),
    );
    let reader = match markers {
        Some(source) => Some(Reader::start(source.fd, wake_sender.clone(), warnings)?),
        None => None,
    };
    let mut follower = Follower::new(started, root, attached, config.interval, config.census);
    let mut ending = Ending::default();
    // `--keep`: the command exited and what it left is followed as with `--pid`.
    let mut keeping = false;
    // A due pass, and the parents' captures at their children's sightings, wait for the tree
    // to leave a core free; the loop polls meanwhile.
    let mut gates = Gates::default();
    let hurry = Hurry { root, attached };
    loop {
        notice_interruption(&mut ending, &command, sampler.as_ref(), config.grace);
        if ending.interrupted.is_some() && !attached {
            // The signal was forwarded: the tree is ending.
            follower.begin_ending();
        }
        if ending.exit.is_none()
            && let Some(status) = command.try_wait()?
        {
            ending.exit = Some(status);
            follower.begin_ending();
            mark(
                sampler.as_ref(),
                "command-exit",
                &guard::describe_status(status),
            );
        }
        let change = follower.poll();
        announce(&change, &follower, sampler.as_ref());
        inbox.handle(&mut follower, sampler.as_ref())?;
        let pending = follower.captures_pending();
        let running = follower.running_at_poll();
        if gates.open_captures(pending, hurry, running, || follower.alive_pids()) {
            follower.capture_pending();
        }
        let now = Instant::now();
        let due = follower.schedule().pass_due(now);
        let first = follower.schedule().first_pass();
        if gates.open_pass(due, first, hurry, running, || follower.alive_pids()) {
            follower.pass_if_due(now, sampler.as_ref())?;
        }
        if config.keep && !keeping && ending.exit.is_some() && follower.any_alive() {
            keeping = true;
            eprintln!("memlab run: {}", kept_line(&follower.alive_described()));
        }
        let stop = Stop {
            attached: attached || keeping,
            root,
            requested: inbox.stop_requested(),
        };
        if stop_if_done(&mut follower, &ending, &stop, sampler.as_ref())? {
            break;
        }
        if !keeping && ending.grace_over(now, guard::signals_received()) {
            command.kill();
            ending.killed_by_memlab = Some(now);
        } else if ending.kill_failed(now) {
            anyhow::bail!("the command did not exit 10 s after SIGKILL");
        }
        let schedule = follower.schedule();
        let scheduled = schedule.sleep(Instant::now());
        let sleep = gates.sleep(scheduled, schedule.poll_interval());
        wait_for_wake(&wakes, sleep, &mut inbox);
    }
    command.disarm();
    if keeping {
        // Out of memlab's cgroup, so that memlab's end does not take them along.
        crate::measure::containment::release();
    }
    mark(sampler.as_ref(), "end", "");
    drop(wake_sender);
    let rejected_lines = reader.map_or(0, Reader::finish);
    // Messages read but not handled before the end: nothing to measure any more.
    while let Ok(Wake::Marker(message, _)) = wakes.try_recv() {
        inbox.push(message);
    }
    let markers = inbox.finish(rejected_lines);
    let mut outcome = conclude(follower, sampler, &ending, started);
    outcome.markers = markers;
    Ok(outcome)
}

/// Sleeps until the next poll is due or something wakes the loop.
fn wait_for_wake(wakes: &Receiver<Wake>, sleep: Duration, inbox: &mut Inbox) {
    match wakes.recv_timeout(sleep) {
        Ok(Wake::Marker(message, _)) => inbox.push(message),
        Err(RecvTimeoutError::Timeout) => {}
        Err(RecvTimeoutError::Disconnected) => std::thread::sleep(sleep),
    }
    // Whatever else arrived meanwhile.
    while let Ok(Wake::Marker(message, _)) = wakes.try_recv() {
        inbox.push(message);
    }
}

/// What following the tree leaves, once the tree is gone or left running.
fn conclude(
    follower: Follower,
    sampler: Option<Sampler>,
    ending: &Ending,
    started: Instant,
) -> FollowOutcome {
    let mut timeline = sampler.map(Sampler::finish).unwrap_or_default();
    let wall_seconds = started.elapsed().as_secs_f64();
    let followed = follower.finish(&mut timeline);
    FollowOutcome {
        phases: followed.phases,
        before_end_phase: followed.before_end_phase,
        phase_notes: followed.phase_notes,
        peak_phase: followed.peak_phase,
        peak_footprint: followed.peak_footprint,
        processes: followed.processes,
        timeline,
        exit: ending.exit_fact(),
        exit_status: ending.exit,
        interrupted_by: ending.interrupted.map(|i| i.signal),
        passes: followed.passes,
        wall_seconds,
        markers: None,
    }
}

/// A marker on the timeline, when there is one.
fn mark(sampler: Option<&Sampler>, kind: &str, name: &str) {
    if let Some(sampler) = sampler {
        sampler.event(kind, name);
    }
}

/// The first signal memlab receives starts the command's grace, and is forwarded to its
/// process group as a terminal would (an attached process is never signalled).
fn notice_interruption(
    ending: &mut Ending,
    command: &CommandGuard,
    sampler: Option<&Sampler>,
    grace: Duration,
) {
    if ending.interrupted.is_some() {
        return;
    }
    let Some(signal) = guard::interrupted() else {
        return;
    };
    ending.interrupt(signal, Instant::now(), guard::signals_received(), grace);
    mark(sampler, "interrupted", guard::signal_name(signal));
    if let Ok(signal) = Signal::try_from(signal) {
        command.forward(signal);
    }
}

/// Tells the sampler which processes to sample, and marks sightings and exits.
fn announce(change: &Change, follower: &Follower, sampler: Option<&Sampler>) {
    let Some(sampler) = sampler else {
        return;
    };
    if change.new.is_empty() && change.gone.is_empty() {
        return;
    }
    sampler.set_children(&follower.others_alive());
    if !change.new.is_empty() {
        sampler.event("spawn", &pid_list(&change.new));
    }
    if !change.gone.is_empty() {
        let gone: Vec<i32> = change.gone.iter().map(|g| g.pid).collect();
        sampler.event("exit", &pid_list(&gone));
    }
}

/// How following may stop.
struct Stop {
    attached: bool,
    root: i32,
    /// A `stop` came on the marker pipe (`--markers-fd`).
    requested: bool,
}

/// Ends following when it is over: `--pid`, when memlab is interrupted or told to stop (what
/// is still running is measured once more, the last pass before the end) or everything
/// followed is gone; a command, when it exited (what it left behind is measured, then killed).
fn stop_if_done(
    follower: &mut Follower,
    ending: &Ending,
    stop: &Stop,
    sampler: Option<&Sampler>,
) -> anyhow::Result<bool> {
    if stop.attached {
        let asked = ending.interrupted.is_some() || stop.requested;
        if !asked && follower.any_alive() {
            return Ok(false);
        }
        if asked {
            follower.pass(sampler, PassReason::Last)?;
        }
        follower.begin_ending();
        follower.leave_running();
        return Ok(true);
    }
    if ending.exit.is_none() {
        return Ok(false);
    }
    if follower.any_alive() {
        follower.pass(sampler, PassReason::Last)?;
        eprintln!(
            "memlab run: {}",
            left_behind_line(&follower.alive_described())
        );
    }
    kill_everything_below_memlab(Some(stop.root));
    follower.mark_killed();
    Ok(true)
}

/// The one line saying what the command left running when it exited, and what became of it.
fn left_behind_line(alive: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut named: Vec<&str> = alive.iter().take(SHOWN).map(String::as_str).collect();
    let more = alive.len().saturating_sub(SHOWN).to_string();
    if alive.len() > SHOWN {
        named.push(&more);
        named.push("more");
    }
    format!(
        "the command exited leaving {} process{} running: {}; memlab killed {} \
         (to measure a daemon or a server that outlives its command, run with --keep or follow \
         it with --pid)",
        alive.len(),
        if alive.len() == 1 { "" } else { "es" },
        named.join(", ").replace(", more", " more"),
        if alive.len() == 1 { "it" } else { "them" },
    )
}

/// The one line saying what the command left running, kept with `--keep`.
fn kept_line(alive: &[String]) -> String {
    const SHOWN: usize = 3;
    let named: Vec<&str> = alive.iter().take(SHOWN).map(String::as_str).collect();
    let more = match alive.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(
        "the command exited leaving {} process{} running: {}{more}; following {} until Ctrl-C, \
         then leaving {} running (--keep)",
        alive.len(),
        if alive.len() == 1 { "" } else { "es" },
        named.join(", "),
        if alive.len() == 1 { "it" } else { "them" },
        if alive.len() == 1 { "it" } else { "them" },
    )
}

/// `101, 102, 103, 104, +3`.
fn pid_list(pids: &[i32]) -> String {
    const SHOWN: usize = 4;
    let mut text: Vec<String> = pids.iter().take(SHOWN).map(|p| p.to_string()).collect();
    if pids.len() > SHOWN {
        text.push(format!("+{}", pids.len() - SHOWN));
    }
    text.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_command_left_running_is_named_in_one_line() {
        let one = left_behind_line(&["7 (gunicorn: master)".into()]);
        assert_eq!(
            one,
            "the command exited leaving 1 process running: 7 (gunicorn: master); memlab \
             killed it (to measure a daemon or a server that outlives its command, run with \
             --keep or follow it with --pid)"
        );
        let five: Vec<String> = (1..=5).map(|p| format!("{p} (w)")).collect();
        let line = left_behind_line(&five);
        assert!(
            line.contains(
                "leaving 5 processes running: 1 (w), 2 (w), 3 (w), 2 more; memlab killed them"
            ),
            "{line}"
        );
    }

    #[test]
    fn pid_lists_show_four_and_count_the_rest() {
        assert_eq!(pid_list(&[]), "");
        assert_eq!(pid_list(&[7]), "7");
        assert_eq!(pid_list(&[1, 2, 3, 4]), "1, 2, 3, 4");
        assert_eq!(pid_list(&[1, 2, 3, 4, 5, 6]), "1, 2, 3, 4, +2");
    }
}
