//! The CPython census of the forked children in `memlab run`: which Python objects lie on the
//! pages each child copied from its parent (and on those only it has), read from outside while
//! the child is alive (an exited child can no longer be read).
//!
//! A census reads every copied page (about 0.5 s per GiB), so it is not taken on every pass:
//! right after a pass's measurement, for the children whose copied bytes call for one
//! ([`due`]: a first census, a marked change, a settled new level), at a quiet moment of the
//! child ([`take_now`]: blocked, or its copied bytes unchanged since the pass before; after
//! 5 s of waiting, whatever it does), as its own CPU budget allows ([`Budget`]); on a checkpoint marker's pass (the program waits there: a quiet moment)
//! for every child, whatever the budget. Once the tree begins to end, none is taken: those
//! passes are never the default headline. Each child keeps its censuses, each attached to the
//! pass it was taken at ([`RunCensus`]); the run's table shows the one that goes with the
//! headline ([`RunProcess::census_for`]).
//!
//! [`RunProcess::census_for`]: crate::result::run::RunProcess::census_for

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::census::{self, CensusSkip, take_census};
use crate::follow::observe::still_running;
use crate::kernel::pagemap::{self, ChildComparison, CompareOptions, PageLists, TruthMethod};
use crate::measure::cputime::thread_cpu;
use crate::measure::sightings::{ChildCaptures, Sightings};
use crate::measure::snapshot::Snapshot;
use crate::result::census::ChildCensus;
use crate::result::figures::child_bytes;
use crate::result::run::{CensusReason, PassesFact, ProcessKind, RunCensus, RunProcess};
use crate::result::{ProcessSnapshot, Role};

/// Share of one core the censuses may take over the run, after [`CENSUS_ALLOWANCE`]: like the
/// unique footprint's, small, since a census pass delays the next pass and the markers.
pub const CENSUS_CPU_BUDGET: f64 = 0.05;
/// What censuses may spend at once before the budget holds them back: the children of a pool
/// finish their work together, and each should get its census then, not one per 20 s.
pub const CENSUS_ALLOWANCE: Duration = Duration::from_millis(500);
/// A child's copied bytes changed markedly: by this much at least…
const MIN_CHANGE_BYTES: u64 = 1 << 20;
/// …and by at least this fraction (1/8) of what they were at its last census.
const CHANGE_DIVISOR: u64 = 8;
/// A settled level (unchanged since the pass before) is worth a census when it differs from
/// the last census's by this much.
const MIN_SETTLED_CHANGE_BYTES: u64 = 64 << 10;
/// A child due for a census while it runs (copying, perhaps) waits for a quiet moment at most
/// this long: a child that copies without pause still gets its census.
pub const MAX_WAIT_FOR_QUIET_S: f64 = 5.0;
/// Censuses kept per child: beyond, the oldest taken for a change is dropped (checkpoints'
/// are kept).
pub const MAX_CENSUSES_PER_CHILD: usize = 16;

/// What the last census of a child, and the pass before, saw of its copied bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopiedSoFar {
    /// Copied bytes (the pass's page truth) at its last census; none before its first.
    pub at_census: Option<u64>,
    /// Copied bytes at the previous pass that compared it.
    pub previous_pass: Option<u64>,
}

/// Whether a child whose copied bytes are `copied_bytes` in this pass is due for a census, and
/// why. A checkpoint takes every child.
pub fn due(so_far: CopiedSoFar, copied_bytes: u64, checkpoint: bool) -> Option<CensusReason> {
    if checkpoint {
        return Some(CensusReason::Checkpoint);
    }
    let Some(at_census) = so_far.at_census else {
        return Some(CensusReason::First);
    };
    let change = copied_bytes.abs_diff(at_census);
    if change >= MIN_CHANGE_BYTES.max(at_census / CHANGE_DIVISOR) {
        return Some(CensusReason::Changed);
    }
    if so_far.previous_pass == Some(copied_bytes) && change >= MIN_SETTLED_CHANGE_BYTES {
        return Some(CensusReason::Settled);
    }
    None
}

/// Whether a due census is taken now: at a checkpoint, when the child is quiet (blocked, or its
/// copied bytes unchanged since the pass before: it is not writing its memory, so the census
/// shows where its work left it rather than a moment in the middle of it), or when it has
/// waited [`MAX_WAIT_FOR_QUIET_S`] for such a moment (`waited_s`: since it was first due).
pub fn take_now(reason: CensusReason, quiet: bool, waited_s: f64) -> bool {
    reason == CensusReason::Checkpoint || quiet || waited_s >= MAX_WAIT_FOR_QUIET_S
}

/// The censuses' CPU budget: a credit of at most [`CENSUS_ALLOWANCE`], refilled at
/// [`CENSUS_CPU_BUDGET`] of the time that passes, spent by each census pass (it may go below
/// zero: a long census holds the next ones back until it is paid for). Over a long run the
/// censuses take at most the budget's share, plus the allowance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    credit_s: f64,
    at: Option<Instant>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            credit_s: CENSUS_ALLOWANCE.as_secs_f64(),
            at: None,
        }
    }
}

impl Budget {
    fn credit_at(&self, now: Instant) -> f64 {
        let refill = self.at.map_or(0.0, |at| {
            now.saturating_duration_since(at).as_secs_f64() * CENSUS_CPU_BUDGET
        });
        (self.credit_s + refill).min(CENSUS_ALLOWANCE.as_secs_f64())
    }

    /// Whether a census may be taken at `now`.
    pub fn allows(&self, now: Instant) -> bool {
        self.credit_at(now) > 0.0
    }

    /// A census pass that began at `began` took `took`.
    pub fn spend(&mut self, began: Instant, took: Duration) {
        self.credit_s = self.credit_at(began) - took.as_secs_f64();
        self.at = Some(began);
    }
}

/// What the censuses cost so far.
#[derive(Debug, Clone, Default, PartialEq)]
struct Spent {
    censuses: u64,
    passes: u64,
    total: Duration,
    max: Duration,
    cpu_seconds: f64,
}

/// One child's state and its censuses so far.
#[derive(Debug, Clone, Default)]
struct Child {
    copied: CopiedSoFar,
    /// The census engine gave a note that will not change (not a CPython it decodes, no
    /// permission): it is not asked again.
    settled_note: bool,
    /// When (seconds into the run) it became due for a census it has not had yet.
    due_since_s: Option<f64>,
    /// Each census and the id of the pass it was taken at.
    taken: Vec<(u64, RunCensus)>,
}

impl Child {
    fn keep(&mut self, pass_id: u64, census: RunCensus) {
        self.taken.push((pass_id, census));
        if self.taken.len() > MAX_CENSUSES_PER_CHILD
            && let Some(oldest) = self
                .taken
                .iter()
                .position(|(_, c)| c.reason != CensusReason::Checkpoint)
        {
            self.taken.remove(oldest);
        }
    }
}

/// A child due for a census in this pass.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DueChild {
    pid: i32,
    parent: i32,
    reason: CensusReason,
    /// Its copied bytes in this pass.
    copied_bytes: u64,
    quiet: bool,
}

/// The censuses of a followed tree: when each child's is due, and every one taken.
#[derive(Debug)]
pub struct Censuses {
    enabled: bool,
    method: Option<TruthMethod>,
    /// The tree began to end: no more censuses.
    stopped: bool,
    budget: Budget,
    spent: Spent,
    children: HashMap<i32, Child>,
}

impl Censuses {
    /// `enabled`: false with `--no-census`. Without page truth (`method` none) there are no
    /// copied pages to take a census of.
    pub fn new(enabled: bool, method: Option<TruthMethod>) -> Censuses {
        Censuses {
            enabled,
            method,
            stopped: false,
            budget: Budget::default(),
            spent: Spent::default(),
            children: HashMap::new(),
        }
    }

    /// The tree begins to end: later passes are teardown passes, and take no census.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// After pass `pass_id` (taken `time_s` into the run; a checkpoint marker's pass when
    /// `checkpoint`) measured `snapshot`: takes the census of every child due for one, when the
    /// budget allows (always on a checkpoint's pass).
    pub fn take_due(
        &mut self,
        pass_id: u64,
        time_s: f64,
        snapshot: &Snapshot,
        checkpoint: bool,
        sightings: &Sightings,
    ) {
        let (true, false, Some(method)) = (self.enabled, self.stopped, self.method) else {
            return;
        };
        let began = Instant::now();
        let mut due_children = Vec::new();
        for (process, copied_bytes) in compared_children(snapshot) {
            let child = self.children.entry(process.pid).or_default();
            let reason = due(child.copied, copied_bytes, checkpoint);
            let settled = child.copied.previous_pass == Some(copied_bytes);
            child.copied.previous_pass = Some(copied_bytes);
            let (Some(reason), false, Some(parent)) =
                (reason, child.settled_note, process.parent_pid)
            else {
                child.due_since_s = None;
                continue;
            };
            let due_since_s = *child.due_since_s.get_or_insert(time_s);
            let quiet = settled || blocked(process.pid);
            if take_now(reason, quiet, time_s - due_since_s) {
                due_children.push(DueChild {
                    pid: process.pid,
                    parent,
                    reason,
                    copied_bytes,
                    quiet,
                });
            }
        }
        if due_children.is_empty() || !(checkpoint || self.budget.allows(began)) {
            return;
        }
        // This thread's CPU time, and the reading threads' (they read the pages).
        let (cpu, readers_cpu) = (thread_cpu(), census::readers_cpu());
        for (due, taken) in take_censuses(&due_children, method, sightings) {
            let Some(taken) = taken else {
                continue;
            };
            let child = self.children.entry(due.pid).or_default();
            child.copied.at_census = Some(due.copied_bytes);
            child.due_since_s = None;
            child.settled_note = taken.census.python_types_note.is_some();
            child.keep(
                pass_id,
                RunCensus {
                    time_s,
                    phase: None,
                    reason: due.reason,
                    quiet: due.quiet,
                    ..taken
                },
            );
            self.spent.censuses += 1;
        }
        let took = began.elapsed();
        self.budget.spend(began, took);
        self.spent.passes += 1;
        self.spent.total += took;
        self.spent.max = self.spent.max.max(took);
        let used =
            thread_cpu().saturating_sub(cpu) + census::readers_cpu().saturating_sub(readers_cpu);
        self.spent.cpu_seconds += used.as_secs_f64();
    }

    /// Gives each forked child's record its censuses, each named by the phase of its pass
    /// (`names`: pass id → phase name; none when that pass was dropped). A reused pid's
    /// censuses go to the record that was alive then.
    pub fn attach(&self, processes: &mut [RunProcess], names: &HashMap<u64, String>) {
        for process in processes
            .iter_mut()
            .filter(|p| p.kind == ProcessKind::Forked)
        {
            let Some(child) = self.children.get(&process.pid) else {
                continue;
            };
            let gone_s = process.gone_s.unwrap_or(f64::INFINITY);
            process.censuses = child
                .taken
                .iter()
                .filter(|(_, c)| c.time_s >= process.first_seen_s && c.time_s <= gone_s)
                .map(|(pass_id, census)| RunCensus {
                    phase: names.get(pass_id).cloned(),
                    ..census.clone()
                })
                .collect();
        }
    }

    /// Adds what the censuses cost to the run's record of what following cost.
    pub fn add_cost(&self, fact: &mut PassesFact) {
        let spent = &self.spent;
        fact.census_enabled = self.enabled;
        fact.censuses = spent.censuses;
        fact.census_passes = spent.passes;
        fact.mean_census_ms = if spent.passes == 0 {
            0.0
        } else {
            spent.total.as_secs_f64() * 1e3 / spent.passes as f64
        };
        fact.max_census_ms = spent.max.as_secs_f64() * 1e3;
        fact.census_seconds = spent.total.as_secs_f64();
        fact.census_cpu_budget = CENSUS_CPU_BUDGET;
        fact.cpu_seconds += spent.cpu_seconds;
    }
}

/// The children a pass compared with their parent, and their copied bytes then.
fn compared_children(snapshot: &Snapshot) -> impl Iterator<Item = (&ProcessSnapshot, u64)> {
    snapshot
        .processes
        .iter()
        .filter(|p| p.role == Role::Child && !p.missing && p.page_truth.is_some())
        .filter_map(|p| Some((p, child_bytes(p)?.copied_bytes)))
}

/// The census of each due child: its page lists from a comparison with its parent (one per
/// parent), then the objects on them. None for a child that exited meanwhile (its previous
/// census stands) or could not be compared.
fn take_censuses(
    due: &[DueChild],
    method: TruthMethod,
    sightings: &Sightings,
) -> Vec<(DueChild, Option<RunCensus>)> {
    let mut by_parent: BTreeMap<i32, Vec<DueChild>> = BTreeMap::new();
    for child in due {
        by_parent.entry(child.parent).or_default().push(*child);
    }
    let mut taken = Vec::with_capacity(due.len());
    for (parent, children) in by_parent {
        let began = Instant::now();
        let pids: Vec<i32> = children.iter().map(|c| c.pid).collect();
        // The same comparison as the pass's: against the parent's frames at each child's
        // first sighting, so the census reads the pages the figures count as copied.
        let captures = sightings.for_children(parent, &pids);
        let options = CompareOptions {
            method: Some(method),
            page_lists: true,
            at_sighting: captures.as_ref().map(ChildCaptures::at_sighting),
        };
        let compared = pagemap::compare_children_with(parent, &pids, &[], &options)
            .ok()
            .unwrap_or_default();
        let compare_took = began.elapsed() / pids.len().max(1) as u32;
        let mut compared = compared.into_iter();
        for child in children {
            let lists = compared
                .next()
                .and_then(Result::ok)
                .and_then(|ChildComparison { page_lists, .. }| page_lists);
            let census = lists.and_then(|lists| {
                let began = Instant::now();
                let census = child_census(child.pid, &lists)?;
                Some(RunCensus {
                    time_s: 0.0,
                    phase: None,
                    reason: child.reason,
                    quiet: child.quiet,
                    copied_bytes: run_bytes(&lists.copied),
                    child_only_bytes: run_bytes(&lists.child_only),
                    took_ms: (compare_took + began.elapsed()).as_secs_f64() * 1e3,
                    census,
                })
            });
            taken.push((child, census));
        }
    }
    taken
}

/// The census of a child's copied pages and of its child-only pages; the engine's note when
/// it cannot take one (not a CPython it decodes, no permission). None when the child exited
/// while it was read.
fn child_census(pid: i32, lists: &PageLists) -> Option<ChildCensus> {
    let census = (|| {
        let copied = take_census(pid, &lists.by_region(&lists.copied))?;
        let own = take_census(pid, &lists.by_region(&lists.child_only))?;
        Ok::<_, CensusSkip>(ChildCensus {
            python_interpreter: Some(copied.interpreter),
            python_types: Some(copied.types),
            python_types_child_only: Some(own.types),
            python_not_pymalloc_regions: copied.not_pymalloc_regions,
            python_types_by_region: Vec::new(),
            python_types_note: None,
        })
    })();
    if !still_running(pid) {
        return None;
    }
    Some(census.unwrap_or_else(|skip| ChildCensus::skipped(skip.reason)))
}

/// Bytes of address runs.
fn run_bytes(runs: &[Range<u64>]) -> u64 {
    runs.iter().map(|r| r.end.saturating_sub(r.start)).sum()
}

/// Blocked (sleeping, waiting for a task, or stopped): not running its code, so not writing
/// its memory.
fn blocked(pid: i32) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|stat| matches!(stat.state, 'S' | 'T' | 't'))
}

#[cfg(test)]
mod tests;
