//! The follower of `memlab run`: watches a whole process tree as it changes, measures it,
//! and keeps a record of every process that ever belonged to it.
//!
//! - this file: the follow loop (what is the tree, when it is measured);
//! - `schedule`: when the next poll and pass are due, and what following cost;
//! - `phases`: which passes are kept as phases and their names;
//! - `ending`: the command's exit, the grace after an interruption, killing what is left;
//! - `outcome`: what following leaves;
//! - [`assemble`]: from what was seen to the run's result and its checks;
//! - [`spawn`]: starting the command.
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
//! - The timeline sampler (statm every 10 ms, smaps_rollup within 5% of a core) runs beside.

pub mod assemble;
mod ending;
mod outcome;
mod phases;
mod schedule;
pub mod spawn;

pub use assemble::{RunLimits, RunTarget};
pub use ending::{GRACE, kill_everything_below_memlab};
pub use outcome::{FollowOutcome, PeakFootprint};
pub use phases::MAX_PHASES;
pub use schedule::{FOOTPRINT_CPU_BUDGET, TRUTH_CPU_BUDGET};

use std::collections::{HashMap, HashSet};
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

use crate::kernel::pagemap::{self, TruthMethod};
use crate::kernel::tree::{descendants, direct_children};
use crate::measure::cputime::thread_cpu;
use crate::measure::guard;
use crate::measure::sampler::{Sampler, SamplerConfig};
use crate::measure::snapshot::{Member, TreeMeasurement};
use crate::result::figures::{FigureSource, child_bytes};
use crate::result::run::{Figures, ProcessEnd, ProcessKind, RunProcess};
use crate::result::{Phase, Role, Timeline};

use ending::{CommandGuard, Ending};
use phases::{Pass, PassLog};
use schedule::Schedule;

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
}

/// The `stat` fields that a forked child shares with its parent and an exec replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout([u64; 10]);

struct Observed {
    ppid: i32,
    starttime: u64,
    layout: Layout,
}

/// The process's `stat`, unless it is gone: a zombie, or exiting (PF_EXITING is set before
/// its memory is torn down, which for a large process takes a while: its layout then reads as
/// zeros and its pages are on their way out).
fn observe(pid: i32) -> Option<Observed> {
    const PF_EXITING: u32 = 0x4;
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    if matches!(stat.state, 'Z' | 'X' | 'x') || stat.flags & PF_EXITING != 0 {
        return None;
    }
    Some(Observed {
        ppid: stat.ppid,
        starttime: stat.starttime,
        layout: Layout([
            stat.startcode,
            stat.endcode,
            stat.startstack,
            stat.start_data.unwrap_or(0),
            stat.end_data.unwrap_or(0),
            stat.start_brk.unwrap_or(0),
            stat.arg_start.unwrap_or(0),
            stat.arg_end.unwrap_or(0),
            stat.env_start.unwrap_or(0),
            stat.env_end.unwrap_or(0),
        ]),
    })
}

const MAX_COMMAND_CHARS: usize = 160;

fn command_line(pid: i32) -> String {
    let Ok(process) = procfs::process::Process::new(pid) else {
        return String::new();
    };
    let line = match process.cmdline() {
        // One line: `python3 -c '…'` scripts hold newlines.
        Ok(args) if !args.is_empty() => args
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        _ => match process.stat() {
            Ok(stat) => format!("[{}]", stat.comm),
            Err(_) => String::new(),
        },
    };
    if line.chars().count() > MAX_COMMAND_CHARS {
        let cut: String = line.chars().take(MAX_COMMAND_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// A process as followed.
struct Tracked {
    pid: i32,
    starttime: u64,
    root: bool,
    /// Its parent when first seen, if that parent was in the tree.
    original_parent: Option<i32>,
    layout: Layout,
    /// First seen with its parent's layout: forked without exec (so far).
    forked_at_sighting: bool,
    /// Its layout changed since first seen: it exec'd.
    exec_after_sighting: bool,
    /// A copy-on-write child of a live parent at the last poll: page truth applies.
    comparable: bool,
    alive: bool,
    /// Sighting order.
    order: usize,
    command: String,
    depth: usize,
    first_seen_s: f64,
    last_seen_s: f64,
    gone_s: Option<f64>,
    end: Option<ProcessEnd>,
    peak_rss: u64,
    peak_pss: Option<u64>,
    peak_uss: Option<u64>,
    peak_anonymous: Option<u64>,
    measured_passes: u32,
    last_pass: Option<u64>,
    /// Its figures where it had copied the most, with their source and the pass's id.
    best: Option<(Figures, FigureSource, u64)>,
}

impl Tracked {
    fn kind(&self, root_kind: ProcessKind) -> ProcessKind {
        if self.root {
            root_kind
        } else if self.exec_after_sighting {
            ProcessKind::Exec
        } else if self.forked_at_sighting {
            ProcessKind::Forked
        } else if self.original_parent.is_some() {
            ProcessKind::Exec
        } else {
            ProcessKind::Orphan
        }
    }
}

fn rank(source: FigureSource) -> u8 {
    match source {
        FigureSource::PageTruthPfn => 2,
        FigureSource::PageTruthExclusiveBit => 1,
        FigureSource::PrivateDirtyGrowth => 0,
    }
}

/// New and vanished processes found by a poll.
#[derive(Default)]
struct Change {
    new: Vec<i32>,
    gone: Vec<i32>,
}

struct Follower {
    started: Instant,
    me: i32,
    root: i32,
    attached: bool,
    tracked: Vec<Tracked>,
    /// pid → index in `tracked` of its latest record.
    by_pid: HashMap<i32, usize>,
    measurement: TreeMeasurement,
    pfn: bool,
    passes: PassLog,
    /// (pass id, footprint) of the largest footprint so far.
    peak: Option<(u64, u64)>,
    peak_footprint: Option<PeakFootprint>,
    schedule: Schedule,
}

impl Follower {
    fn new(
        started: Instant,
        root: i32,
        attached: bool,
        method: Option<TruthMethod>,
        interval: Duration,
    ) -> Follower {
        let pfn = method == Some(TruthMethod::Pfn);
        Follower {
            started,
            me: std::process::id() as i32,
            root,
            attached,
            tracked: Vec::new(),
            by_pid: HashMap::new(),
            measurement: TreeMeasurement::default(),
            pfn,
            passes: PassLog::default(),
            peak: None,
            peak_footprint: None,
            schedule: Schedule::new(interval, Instant::now(), pfn),
        }
    }

    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn root_kind(&self) -> ProcessKind {
        if self.attached {
            ProcessKind::Attached
        } else {
            ProcessKind::Command
        }
    }

    fn alive(&self) -> impl Iterator<Item = &Tracked> {
        self.tracked.iter().filter(|t| t.alive)
    }

    fn any_alive(&self) -> bool {
        self.alive().next().is_some()
    }

    /// Pids that may belong to the tree (zombies and exited ones are filtered by `observe`).
    fn discover(&self) -> Vec<i32> {
        if !self.attached {
            return descendants(self.me);
        }
        let mut seeds: Vec<i32> = self.alive().map(|t| t.pid).collect();
        if self.tracked.is_empty() {
            seeds.push(self.root);
        }
        let mut found = Vec::new();
        let mut seen = HashSet::new();
        for seed in seeds {
            for pid in std::iter::once(seed).chain(descendants(seed)) {
                if pid != self.me && seen.insert(pid) {
                    found.push(pid);
                }
            }
        }
        found
    }

    fn poll(&mut self) -> Change {
        let began = Instant::now();
        let cpu = thread_cpu();
        let now_s = self.now_s();
        let pids = self.discover();
        let mut order = Vec::with_capacity(pids.len());
        let mut observed: HashMap<i32, Observed> = HashMap::with_capacity(pids.len());
        for pid in pids {
            if let Some(seen) = observe(pid) {
                order.push(pid);
                observed.insert(pid, seen);
            }
        }
        let mut change = Change::default();

        // Gone: no longer in the tree, a zombie, or its pid reused by another process.
        for index in 0..self.tracked.len() {
            let tracked = &self.tracked[index];
            if !tracked.alive {
                continue;
            }
            let still = observed
                .get(&tracked.pid)
                .is_some_and(|o| o.starttime == tracked.starttime);
            if !still {
                let (pid, last_pass) = (tracked.pid, tracked.last_pass);
                let tracked = &mut self.tracked[index];
                tracked.alive = false;
                tracked.comparable = false;
                tracked.gone_s = Some(now_s);
                tracked.end = Some(ProcessEnd::Exited);
                change.gone.push(pid);
                if let Some(pass_id) = last_pass {
                    self.passes.mark_last_of(pass_id, pid);
                }
            }
        }

        for pid in order {
            let seen = &observed[&pid];
            let parent_layout = observed.get(&seen.ppid).map(|p| p.layout);
            let known =
                self.by_pid.get(&pid).copied().filter(|i| {
                    self.tracked[*i].alive && self.tracked[*i].starttime == seen.starttime
                });
            match known {
                Some(index) => {
                    let tracked = &mut self.tracked[index];
                    tracked.last_seen_s = now_s;
                    if seen.layout != tracked.layout {
                        // It exec'd: a new program, nothing left to share with its parent.
                        tracked.layout = seen.layout;
                        if !tracked.root {
                            tracked.exec_after_sighting = true;
                        }
                        tracked.command = command_line(pid);
                    } else if tracked.command.is_empty() || tracked.command.starts_with('[') {
                        // Seen in the middle of an exec, before its arguments were in place.
                        tracked.command = command_line(pid);
                    }
                    tracked.comparable = tracked.forked_at_sighting
                        && !tracked.exec_after_sighting
                        && Some(seen.ppid) == tracked.original_parent
                        && parent_layout == Some(seen.layout);
                }
                None => {
                    let root = pid == self.root && !self.tracked.iter().any(|t| t.root);
                    let in_tree = !root && observed.contains_key(&seen.ppid);
                    let forked = in_tree && parent_layout == Some(seen.layout);
                    let depth = if root {
                        0
                    } else {
                        self.by_pid
                            .get(&seen.ppid)
                            .filter(|_| in_tree)
                            .map(|i| self.tracked[*i].depth + 1)
                            .unwrap_or(1)
                    };
                    let order = self.tracked.len();
                    self.tracked.push(Tracked {
                        pid,
                        starttime: seen.starttime,
                        root,
                        original_parent: in_tree.then_some(seen.ppid),
                        layout: seen.layout,
                        forked_at_sighting: forked,
                        exec_after_sighting: false,
                        comparable: forked,
                        alive: true,
                        order,
                        command: command_line(pid),
                        depth,
                        first_seen_s: now_s,
                        last_seen_s: now_s,
                        gone_s: None,
                        end: None,
                        peak_rss: 0,
                        peak_pss: None,
                        peak_uss: None,
                        peak_anonymous: None,
                        measured_passes: 0,
                        last_pass: None,
                        best: None,
                    });
                    self.by_pid.insert(pid, order);
                    change.new.push(pid);
                }
            }
        }
        if !self.attached {
            self.reap_orphans();
        }
        if !change.new.is_empty() {
            self.schedule.saw_new_process();
        }
        self.schedule
            .polled(began.elapsed(), thread_cpu().saturating_sub(cpu));
        change
    }

    /// Reaps orphans re-parented to memlab that have exited (the command is reaped by its
    /// `Child`). Only pids memlab knows are its children: never `waitpid(-1)` here.
    fn reap_orphans(&self) {
        for pid in direct_children(self.me) {
            if pid != self.root {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
            }
        }
    }

    /// Distinct physical frames of the measured processes, into the snapshot's totals.
    fn add_footprint(&mut self, snapshot: &mut crate::measure::snapshot::Snapshot) {
        let began = Instant::now();
        let cpu = thread_cpu();
        let live: Vec<i32> = snapshot
            .processes
            .iter()
            .filter(|p| !p.missing)
            .map(|p| p.pid)
            .collect();
        if let Ok(footprint) = pagemap::tree_unique_footprint(&live)
            && footprint.exact
        {
            let tree = &mut snapshot.tree;
            tree.unique_bytes = footprint.unique_bytes;
            tree.overcount_factor = tree
                .unique_bytes
                .filter(|unique| *unique > 0)
                .map(|unique| tree.rss_bytes as f64 / unique as f64);
        }
        self.schedule
            .footprint_taken(began, began.elapsed(), thread_cpu().saturating_sub(cpu));
    }

    fn pass(&mut self, sampler: Option<&Sampler>, sighting: bool) -> anyhow::Result<()> {
        let mut alive: Vec<&Tracked> = self.alive().collect();
        if alive.is_empty() {
            return Ok(());
        }
        alive.sort_by_key(|t| t.order);
        let began = Instant::now();
        let cpu = thread_cpu();
        let root_kind = self.root_kind();
        let members: Vec<Member> = alive
            .iter()
            .map(|t| {
                let role = match t.kind(root_kind) {
                    ProcessKind::Command | ProcessKind::Attached => Role::Parent,
                    ProcessKind::Forked => Role::Child,
                    _ => Role::Descendant,
                };
                Member {
                    pid: t.pid,
                    role,
                    child_index: (role == Role::Child).then_some(t.order),
                    compare_with: if t.comparable {
                        t.original_parent
                    } else {
                        None
                    },
                }
            })
            .collect();
        let mut snapshot = self.measurement.measure_members(&members)?;
        // The footprint has its own budget: the pass's cost is the measurement's alone.
        let pass_took = began.elapsed();
        let pass_cpu = thread_cpu().saturating_sub(cpu);
        if self.schedule.footprint_due(sighting, began) {
            self.add_footprint(&mut snapshot);
        }
        let time_s = began.duration_since(self.started).as_secs_f64();
        let id = self.passes.next_id();

        let mut seen = Vec::new();
        for process in &snapshot.processes {
            let Some(index) = self.by_pid.get(&process.pid).copied() else {
                continue;
            };
            let Some(rollup) = &process.rollup else {
                continue;
            };
            let tracked = &mut self.tracked[index];
            if tracked.measured_passes == 0 {
                seen.push(process.pid);
            }
            tracked.measured_passes += 1;
            tracked.last_pass = Some(id);
            tracked.peak_rss = tracked.peak_rss.max(rollup.rss_bytes);
            tracked.peak_pss = Some(tracked.peak_pss.unwrap_or(0).max(rollup.pss_bytes));
            tracked.peak_uss = Some(tracked.peak_uss.unwrap_or(0).max(rollup.uss_bytes));
            tracked.peak_anonymous = Some(
                tracked
                    .peak_anonymous
                    .unwrap_or(0)
                    .max(rollup.anonymous_bytes),
            );
            if process.role != Role::Child {
                continue;
            }
            let Some(bytes) = child_bytes(process) else {
                continue;
            };
            let page_truth = process.page_truth.as_ref();
            let figures = Figures {
                time_s,
                phase: None,
                copied_bytes: bytes.copied_bytes,
                private_bytes: bytes.private_bytes,
                shared_bytes: page_truth.map(|t| t.total.shared_bytes(t.page_size_bytes)),
                child_only_bytes: page_truth.map(|t| t.total.child_only_bytes(t.page_size_bytes)),
                method: bytes.source,
                exact: bytes.source.exact(),
            };
            let better = match &tracked.best {
                None => true,
                Some((best, source, _)) => {
                    rank(bytes.source) > rank(*source)
                        || (rank(bytes.source) == rank(*source)
                            && figures.copied_bytes >= best.copied_bytes)
                }
            };
            if better {
                tracked.best = Some((figures, bytes.source, id));
            }
        }

        let footprint = if self.pfn {
            snapshot.tree.unique_bytes
        } else {
            Some(snapshot.tree.pss_bytes)
        };
        if let Some(bytes) = footprint
            && self.peak.is_none_or(|(_, best)| bytes > best)
        {
            self.peak = Some((id, bytes));
            self.peak_footprint = Some(PeakFootprint {
                bytes,
                exact: self.pfn,
                time_s,
                largest: snapshot
                    .processes
                    .iter()
                    .filter_map(|p| Some((p.pid, p.rollup.as_ref()?.pss_bytes)))
                    .max_by_key(|(_, pss)| *pss),
            });
        }
        if let Some(sampler) = sampler {
            sampler.record(crate::measure::sampler::rollup_sample(
                time_s,
                &snapshot.processes,
            ));
        }
        self.passes.push(Pass {
            id,
            phase: Phase {
                name: String::new(),
                time_s,
                processes: snapshot.processes,
                meminfo: snapshot.meminfo,
                tree: snapshot.tree,
            },
            start: id == 0,
            end: false,
            seen,
            last_of: Vec::new(),
        });
        self.schedule.passed(began, pass_took, pass_cpu);
        let oldest_live_last_pass = self.alive().filter_map(|t| t.last_pass).min();
        self.passes
            .thin(self.peak.map(|(id, _)| id), oldest_live_last_pass);
        Ok(())
    }
}

fn pid_list(pids: &[i32]) -> String {
    const SHOWN: usize = 4;
    let mut text: Vec<String> = pids.iter().take(SHOWN).map(|p| p.to_string()).collect();
    if pids.len() > SHOWN {
        text.push(format!("+{}", pids.len() - SHOWN));
    }
    text.join(", ")
}

/// Follows `target` until it ends (the command exits; for `--pid`, every followed process is
/// gone) or memlab is interrupted. For a spawned command nothing of the tree is left running
/// when this returns, whatever the outcome.
pub fn follow(
    target: Target,
    started: Instant,
    config: &FollowConfig,
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
    let marker = |kind: &str, name: &str| {
        if let Some(sampler) = &sampler {
            sampler.event(kind, name);
        }
    };
    marker("start", &config.label);
    let method = pagemap::best_method().ok();
    let mut follower = Follower::new(started, root, attached, method, config.interval);

    let mut ending = Ending::default();
    loop {
        if ending.interrupted.is_none()
            && let Some(signal) = guard::interrupted()
        {
            ending.interrupt(signal, Instant::now(), guard::signals_received());
            marker("interrupted", guard::signal_name(signal));
            if let Ok(signal) = Signal::try_from(signal) {
                // As a terminal would: to the command's process group.
                command.forward(signal);
            }
        }
        if ending.exit.is_none()
            && let Some(status) = command.try_wait()?
        {
            ending.exit = Some(status);
            marker("command-exit", &guard::describe_status(status));
        }

        let change = follower.poll();
        if !change.new.is_empty() || !change.gone.is_empty() {
            if let Some(sampler) = &sampler {
                let others: Vec<i32> = follower
                    .alive()
                    .filter(|t| !t.root)
                    .map(|t| t.pid)
                    .collect();
                sampler.set_children(&others);
            }
            if !change.new.is_empty() {
                marker("spawn", &pid_list(&change.new));
            }
            if !change.gone.is_empty() {
                marker("exit", &pid_list(&change.gone));
            }
        }

        let now = Instant::now();
        if follower.any_alive() && follower.schedule.pass_due(now) {
            let sighting = follower.schedule.sighting();
            follower.pass(sampler.as_ref(), sighting)?;
        }

        if attached {
            if ending.interrupted.is_some() || !follower.any_alive() {
                // What is still running when memlab stops is measured once more.
                if ending.interrupted.is_some() {
                    follower.pass(sampler.as_ref(), false)?;
                }
                for tracked in follower.tracked.iter_mut().filter(|t| t.alive) {
                    tracked.end = Some(ProcessEnd::Running);
                }
                break;
            }
        } else if ending.exit.is_some() {
            // The command is gone: measure what it left behind, then kill it.
            if follower.any_alive() {
                follower.pass(sampler.as_ref(), false)?;
            }
            kill_everything_below_memlab(Some(root));
            let now_s = follower.now_s();
            for tracked in follower.tracked.iter_mut().filter(|t| t.alive) {
                tracked.alive = false;
                tracked.gone_s = Some(now_s);
                tracked.end = Some(ProcessEnd::Killed);
            }
            break;
        } else if ending.grace_over(now, guard::signals_received()) {
            command.kill();
            ending.killed_by_memlab = Some(now);
        } else if ending.kill_failed(now) {
            anyhow::bail!("the command did not exit 10 s after SIGKILL");
        }

        std::thread::sleep(follower.schedule.sleep(Instant::now()));
    }
    command.disarm();
    marker("end", "");
    follower.passes.mark_end();
    let mut timeline = sampler.map(Sampler::finish).unwrap_or_default();
    let wall_seconds = started.elapsed().as_secs_f64();
    let dropped = follower.passes.dropped();
    let passes = std::mem::take(&mut follower.passes);
    let named = passes.into_phases(follower.peak.map(|(id, _)| id));
    let mut phases = named.phases;
    let mut processes = records(&follower, &named.names);
    settle_roles(&processes, &mut phases, &mut timeline);
    add_sampled_peaks(&mut processes, &timeline);
    let passes = follower.schedule.fact(method, phases.len(), dropped);
    Ok(FollowOutcome {
        phases,
        peak_phase: named.peak,
        peak_footprint: follower.peak_footprint.clone(),
        processes,
        timeline,
        exit: ending.exit_fact(),
        exit_status: ending.exit,
        interrupted_by: ending.interrupted.map(|i| i.signal),
        passes,
        wall_seconds,
    })
}

/// Roles as finally known (a child that exec'd later is a descendant everywhere), and children
/// numbered in order of first sighting, in the phases and the timeline alike.
fn settle_roles(processes: &[RunProcess], phases: &mut [Phase], timeline: &mut Timeline) {
    let roles: HashMap<i32, (Role, Option<usize>)> = processes
        .iter()
        .map(|p| {
            let role = match p.kind {
                ProcessKind::Command | ProcessKind::Attached => Role::Parent,
                ProcessKind::Forked => Role::Child,
                _ => Role::Descendant,
            };
            (p.pid, (role, p.child_index))
        })
        .collect();
    for process in phases.iter_mut().flat_map(|p| p.processes.iter_mut()) {
        if let Some((role, index)) = roles.get(&process.pid) {
            process.role = *role;
            process.child_index = *index;
        }
    }
    for process in timeline
        .samples
        .iter_mut()
        .flat_map(|s| s.processes.iter_mut())
    {
        if let Some((role, _)) = roles.get(&process.pid) {
            process.role = Some(*role);
        }
    }
}

/// Peaks seen by the timeline sampler (statm every 10 ms) between the passes.
fn add_sampled_peaks(processes: &mut [RunProcess], timeline: &Timeline) {
    for sampled in timeline.samples.iter().flat_map(|s| &s.processes) {
        if let Some(process) = processes.iter_mut().rev().find(|p| p.pid == sampled.pid) {
            process.peak_rss_bytes = process.peak_rss_bytes.max(sampled.rss_bytes);
            if let Some(pss) = sampled.pss_bytes {
                process.peak_pss_bytes = Some(process.peak_pss_bytes.unwrap_or(0).max(pss));
            }
            if let Some(uss) = sampled.uss_bytes {
                process.peak_uss_bytes = Some(process.peak_uss_bytes.unwrap_or(0).max(uss));
            }
        }
    }
}

/// The per-process records, children numbered by first sighting.
fn records(follower: &Follower, names: &HashMap<u64, String>) -> Vec<RunProcess> {
    let root_kind = follower.root_kind();
    let mut next_index = 0;
    let mut tracked: Vec<&Tracked> = follower.tracked.iter().collect();
    tracked.sort_by_key(|t| t.order);
    tracked
        .into_iter()
        .map(|t| {
            let kind = t.kind(root_kind);
            let child_index = (kind == ProcessKind::Forked).then(|| {
                next_index += 1;
                next_index
            });
            let figures = match (&t.best, kind) {
                (Some((figures, _, pass)), ProcessKind::Forked) => {
                    let mut figures = figures.clone();
                    figures.phase = names.get(pass).cloned();
                    Some(figures)
                }
                _ => None,
            };
            RunProcess {
                pid: t.pid,
                parent_pid: t.original_parent,
                command: t.command.clone(),
                kind,
                child_index,
                depth: t.depth,
                first_seen_s: t.first_seen_s,
                last_seen_s: t.last_seen_s,
                gone_s: t.gone_s,
                end: t.end.unwrap_or(if t.alive {
                    ProcessEnd::Running
                } else {
                    ProcessEnd::Exited
                }),
                peak_rss_bytes: t.peak_rss,
                peak_pss_bytes: t.peak_pss,
                peak_uss_bytes: t.peak_uss,
                peak_anonymous_bytes: t.peak_anonymous,
                measured_passes: t.measured_passes,
                figures,
            }
        })
        .collect()
}
