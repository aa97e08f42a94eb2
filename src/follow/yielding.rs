//! Work that walks the tree's page tables yields to the tree: it waits, holding nothing, until
//! the tree leaves a core free, at most a bound. The wait does not hold up the loop: it goes on
//! polling (new processes, exits, signals, markers), less often, and asks again at each turn,
//! so that a tree that keeps every core busy is still seen as it changes.
//!
//! - A scheduled pass (periodic or a first sighting; not the first pass: the start is measured
//!   as it is) waits at most [`PASS_MAX_IDLE_WAIT`]. Passes that something waits for (a marker,
//!   the last look) do not wait.
//! - A parent's capture at its children's sighting waits at most [`CAPTURE_MAX_WAIT`] (on a
//!   quiet tree, one window of the tree's load).
//!
//! The tree leaves a core free when both say so: its load over the last window, and this turn's
//! poll, at which fewer of its processes than cores were running (state R). Neither stands in
//! for the other: the workers of a pool are often seen waiting for their first task and busy a
//! millisecond later (the window tells), and a pool that set every core to work in the window's
//! last milliseconds reads quiet over it (the poll tells: a pass started on the window alone
//! shared the cores with the pool's first tasks).
//!
//! Both then run at normal priority: a walk holds the walked process's mmap lock, and a walker
//! descheduled at idle priority inside it would hold up whatever in the tree maps memory (`mmap`,
//! `fork`) for as long as the tree keeps the cores (see [`crate::measure::priority`]).
//!
//! Neither waits once memlab is interrupted or the command exited ([`Hurry`]).

use std::time::{Duration, Instant};

use super::schedule::PASS_MAX_IDLE_WAIT;
use crate::measure::guard;
use crate::measure::priority::page_walk_starts;
use crate::measure::tree_load::{CpuSource, TreeLoad, busy_now};

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
struct Wait {
    since: Instant,
    /// The tree's load has said it keeps every core busy.
    found_busy: bool,
}

impl Wait {
    fn new() -> Wait {
        Wait {
            since: Instant::now(),
            found_busy: false,
        }
    }

    /// Whether the work starts now, the tree's load saying `lately` whether it kept every core
    /// busy over its last window, and the poll `now` (see [`page_walk_starts`]). Both keep the
    /// work from starting, but only the window slows the polls: two processes seen running at
    /// one poll may be a moment's (a parent and the child it just forked), and the next poll,
    /// at the usual interval, looks again.
    fn starts(
        &mut self,
        lately: Option<bool>,
        now: bool,
        max_wait: Duration,
        hurry: Hurry,
    ) -> bool {
        self.found_busy |= lately == Some(true);
        page_walk_starts(lately, now, self.since.elapsed(), max_wait) || hurry.now()
    }

    /// How long the loop may sleep before asking again: one window of the tree's load while
    /// none said busy (work on a quiet tree then starts a window late); once the tree was found
    /// busy, a poll at normal priority is taken from it, so at most every
    /// [`POLL_WHILE_WAITING`], and no later than the bound.
    fn sleep(&self, window: Duration, max_wait: Duration, poll_interval: Duration) -> Duration {
        if !self.found_busy {
            return window;
        }
        let to_bound = max_wait.saturating_sub(self.since.elapsed());
        poll_interval
            .max(POLL_WHILE_WAITING)
            .min(to_bound.max(Duration::from_millis(1)))
    }
}

/// The page walks waiting for a free core: the pass that came due, and the parents' captures
/// of the children seen since the last capture. One load of the tree answers both: made afresh
/// when the first of them came due (its windows hold only what the tree did since), dropped
/// when neither waits any more.
#[derive(Default)]
pub(super) struct Gates {
    load: Option<TreeLoad>,
    pass: Option<Wait>,
    captures: Option<Wait>,
}

impl Gates {
    /// Whether the captures `pending` now are taken now: once the tree has left a core free over
    /// a window since the first of them was noted (or the pass before them came due) and fewer
    /// than all cores' worth of its processes were `running` at this turn's poll, or after
    /// [`CAPTURE_MAX_WAIT`]. Children seen while captures wait join them. `tree` lists the
    /// tree's live processes (the load's source without a cgroup).
    pub fn open_captures(
        &mut self,
        pending: bool,
        hurry: Hurry,
        running: usize,
        tree: impl FnOnce() -> Vec<i32>,
    ) -> bool {
        // Not pending: a pass took them (it needs them), or the children are gone.
        self.open(
            |gates| &mut gates.captures,
            pending,
            CAPTURE_MAX_WAIT,
            hurry,
            running,
            tree,
        )
    }

    /// Whether a pass that is `due` starts now. The first pass does not wait: the start is
    /// measured as it is.
    pub fn open_pass(
        &mut self,
        due: bool,
        first: bool,
        hurry: Hurry,
        running: usize,
        tree: impl FnOnce() -> Vec<i32>,
    ) -> bool {
        if due && first {
            return true;
        }
        // Not due: a marker's pass came between, or the tree is gone.
        self.open(
            |gates| &mut gates.pass,
            due,
            PASS_MAX_IDLE_WAIT,
            hurry,
            running,
            tree,
        )
    }

    /// Whether the work in `wait` (the pass's or the captures') starts now, waiting at most
    /// `max_wait`; work no longer `waiting` waits no more. `running`, `tree`: see
    /// [`Gates::open_captures`].
    fn open(
        &mut self,
        wait: fn(&mut Gates) -> &mut Option<Wait>,
        waiting: bool,
        max_wait: Duration,
        hurry: Hurry,
        running: usize,
        tree: impl FnOnce() -> Vec<i32>,
    ) -> bool {
        let starts = waiting && {
            let (lately, now) = self.busy(running, tree);
            wait(self)
                .get_or_insert_with(Wait::new)
                .starts(lately, now, max_wait, hurry)
        };
        if starts || !waiting {
            *wait(self) = None;
            self.drop_unused_load();
        }
        starts
    }

    /// How long the loop sleeps before its next turn: as the schedule says (`scheduled`), unless
    /// work waiting here asks again sooner.
    pub fn sleep(&self, scheduled: Duration, poll_interval: Duration) -> Duration {
        let Some(load) = &self.load else {
            return scheduled;
        };
        let window = load.window();
        let pass = self
            .pass
            .as_ref()
            .map(|wait| wait.sleep(window, PASS_MAX_IDLE_WAIT, poll_interval));
        let captures = self
            .captures
            .as_ref()
            .map(|wait| wait.sleep(window, CAPTURE_MAX_WAIT, poll_interval));
        pass.into_iter().chain(captures).min().unwrap_or(scheduled)
    }

    /// Whether the tree kept every core busy over the load's last window (read at most once a
    /// turn: see [`TreeLoad`]), and whether it does now, by the processes running at this
    /// turn's poll.
    fn busy(&mut self, running: usize, tree: impl FnOnce() -> Vec<i32>) -> (Option<bool>, bool) {
        let load = self
            .load
            .get_or_insert_with(|| TreeLoad::new(CpuSource::of_tree(tree())));
        (load.busy_lately(), busy_now(running, load.cores()))
    }

    fn drop_unused_load(&mut self) {
        if self.pass.is_none() && self.captures.is_none() {
            self.load = None;
        }
    }
}

/// Whether the command exited, without reaping it (its `Child` does, on the loop's thread).
fn exited(pid: i32) -> bool {
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    waitid(Id::Pid(nix::unistd::Pid::from_raw(pid)), flags)
        .is_ok_and(|status| status != WaitStatus::StillAlive)
}
