//! Work that walks the tree's page tables yields to the tree: it waits, holding nothing, until
//! the tree leaves a core free, at most a bound. The wait does not hold up the loop: it goes on
//! polling (new processes, exits, signals, markers), less often, and asks again at each turn,
//! so that a tree that keeps every core busy is still seen as it changes.
//!
//! - A scheduled pass (periodic or a first sighting; not the first pass: the start is measured
//!   as it is) waits at most [`PASS_MAX_IDLE_WAIT`], then runs at idle priority while the tree
//!   keeps every core busy (a core the tree leaves unused it takes at normal priority, whoever
//!   else wants it). Passes that something waits for (a marker, the last look) do not wait.
//! - A parent's capture at its children's sighting waits at most [`CAPTURE_MAX_WAIT`] (on a
//!   quiet tree, one window of the tree's load), and runs at normal priority (it is short, and a
//!   descheduled reader would hold the parent's mmap lock). A poll's snapshot of who is running
//!   cannot stand in for the window: the workers of a pool are often seen waiting for their
//!   first task, and busy a millisecond later.
//!
//! Neither waits once memlab is interrupted or the command exited ([`Hurry`]).

use std::time::{Duration, Instant};

use super::schedule::PASS_MAX_IDLE_WAIT;
use crate::measure::guard;
use crate::measure::priority::{IdleSection, page_walk_starts};
use crate::measure::tree_load::{CpuSource, TreeLoad};

/// The polls' interval while work waits on a tree found keeping every core busy.
pub const POLL_WHILE_WAITING: Duration = Duration::from_millis(100);

/// The longest a parent's capture waits after the poll that saw its children: as late as a
/// child forked while the tree keeps every core busy may be seen at all (the polls then come
/// every [`POLL_WHILE_WAITING`]). A page the parent rewrites meanwhile counts as the child's.
pub const CAPTURE_MAX_WAIT: Duration = POLL_WHILE_WAITING;

/// When the waiting stops early: memlab was interrupted, or the command exited (the signal is
/// forwarded and the exit noticed by the loop, after the work).
#[derive(Debug, Clone, Copy)]
pub(super) struct Hurry {
    pub root: i32,
    /// `--pid`: memlab does not wait for the root.
    pub attached: bool,
}

impl Hurry {
    fn now(self) -> bool {
        guard::interrupted().is_some() || (!self.attached && exited(self.root))
    }
}

/// Work that came due and waits for a free core.
struct Waiting {
    since: Instant,
    /// Read afresh when the work came due: its windows hold only what the tree did since.
    load: TreeLoad,
    /// The load has said the tree keeps every core busy.
    found_busy: bool,
}

impl Waiting {
    fn new(tree: Vec<i32>) -> Waiting {
        Waiting {
            since: Instant::now(),
            load: TreeLoad::new(CpuSource::of_tree(tree)),
            found_busy: false,
        }
    }

    /// Whether the work starts now (see [`page_walk_starts`]).
    fn starts(&mut self, max_wait: Duration, hurry: Hurry) -> bool {
        let busy = self.load.busy_lately();
        self.found_busy |= busy == Some(true);
        page_walk_starts(busy, self.since.elapsed(), max_wait) || hurry.now()
    }

    /// How long the loop may sleep before asking again: one window of the tree's load while
    /// none said busy (work on a quiet tree then starts a window late); once the tree was found
    /// busy, a poll at normal priority is taken from it, so at most every
    /// [`POLL_WHILE_WAITING`], and no later than the bound.
    fn sleep(&self, max_wait: Duration, poll_interval: Duration) -> Duration {
        if !self.found_busy {
            return self.load.window();
        }
        let to_bound = max_wait.saturating_sub(self.since.elapsed());
        poll_interval
            .max(POLL_WHILE_WAITING)
            .min(to_bound.max(Duration::from_millis(1)))
    }
}

/// The pass that came due and waits for a free core, if any.
#[derive(Default)]
pub(super) struct PassGate {
    waiting: Option<Waiting>,
}

impl PassGate {
    /// Whether a pass that is `due` starts now, and if so the section it runs in (dropped when
    /// the pass is over). `tree` lists the tree's live processes (the load's source without a
    /// cgroup).
    pub fn open(
        &mut self,
        due: bool,
        first: bool,
        hurry: Hurry,
        tree: impl FnOnce() -> Vec<i32>,
    ) -> Option<IdleSection> {
        if !due {
            // A marker's pass came between, or the tree is gone: nothing waits any more.
            self.waiting = None;
            return None;
        }
        let (waited, mut load) = if first {
            (Duration::ZERO, TreeLoad::new(CpuSource::of_tree(tree())))
        } else {
            let waiting = self.waiting.get_or_insert_with(|| Waiting::new(tree()));
            if !waiting.starts(PASS_MAX_IDLE_WAIT, hurry) {
                return None;
            }
            let waiting = self.waiting.take()?;
            (waiting.since.elapsed(), waiting.load)
        };
        Some(IdleSection::enter(
            PASS_MAX_IDLE_WAIT.saturating_sub(waited),
            move || hurry.now(),
            move || load.busy(),
        ))
    }

    fn sleep(&self, poll_interval: Duration) -> Option<Duration> {
        let waiting = self.waiting.as_ref()?;
        Some(waiting.sleep(PASS_MAX_IDLE_WAIT, poll_interval))
    }
}

/// The parents' captures of children seen since the last capture.
#[derive(Default)]
pub(super) struct CaptureGate {
    waiting: Option<Waiting>,
}

impl CaptureGate {
    /// Whether the captures `pending` now are taken now: once the tree has left a core free over
    /// a window since the first of them was noted, or after [`CAPTURE_MAX_WAIT`]. Children seen
    /// while captures wait join them.
    pub fn open(&mut self, pending: bool, hurry: Hurry, tree: impl FnOnce() -> Vec<i32>) -> bool {
        if !pending {
            // A pass took them (it needs them), or the children are gone.
            self.waiting = None;
            return false;
        }
        let waiting = self.waiting.get_or_insert_with(|| Waiting::new(tree()));
        let starts = waiting.starts(CAPTURE_MAX_WAIT, hurry);
        if starts {
            self.waiting = None;
        }
        starts
    }

    fn sleep(&self, poll_interval: Duration) -> Option<Duration> {
        let waiting = self.waiting.as_ref()?;
        Some(waiting.sleep(CAPTURE_MAX_WAIT, poll_interval))
    }
}

/// How long the loop sleeps before its next turn: as the schedule says (`scheduled`), unless
/// work waiting at a gate asks again sooner.
pub(super) fn loop_sleep(
    passes: &PassGate,
    captures: &CaptureGate,
    scheduled: Duration,
    poll_interval: Duration,
) -> Duration {
    let asks = [passes.sleep(poll_interval), captures.sleep(poll_interval)];
    asks.into_iter().flatten().min().unwrap_or(scheduled)
}

/// Whether the command exited, without reaping it (its `Child` does, on the loop's thread).
fn exited(pid: i32) -> bool {
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    waitid(Id::Pid(nix::unistd::Pid::from_raw(pid)), flags)
        .is_ok_and(|status| status != WaitStatus::StillAlive)
}
