//! A scheduled pass (periodic or a first sighting) yields to the tree. It starts once the tree
//! leaves a core free (not the first pass: the start is measured as it is), then runs at idle
//! priority while the tree keeps every core busy; at most [`PASS_MAX_IDLE_WAIT`] in all, and no
//! longer once memlab is interrupted or the command exited (the signal is forwarded and the exit
//! noticed by the loop, after the pass). A core the tree leaves unused it takes at normal
//! priority, whoever else wants it. Passes that something waits for (a marker, the last look)
//! stay at normal priority.
//!
//! The wait does not hold up the loop: it goes on polling (new processes and their parents'
//! captures at their sightings, exits, signals, markers), less often, and asks again at each
//! turn, so that a tree that keeps every core busy for a second is still seen as it changes.

use std::time::{Duration, Instant};

use super::schedule::PASS_MAX_IDLE_WAIT;
use crate::measure::guard;
use crate::measure::priority::{IdleSection, page_walk_starts};
use crate::measure::tree_load::{CpuSource, TreeLoad};

/// The polls' interval while a due pass waits for a free core.
pub const POLL_WHILE_WAITING: Duration = Duration::from_millis(100);

/// The pass that came due and waits for a free core, if any.
#[derive(Default)]
pub(super) struct PassGate {
    waiting: Option<Waiting>,
}

struct Waiting {
    since: Instant,
    /// Read afresh when the pass came due: its windows hold only what the tree did since.
    load: TreeLoad,
    /// The load has said the tree keeps every core busy.
    found_busy: bool,
}

impl PassGate {
    /// Whether a pass that is `due` starts now, and if so the section it runs in (dropped when
    /// the pass is over). `tree` lists the tree's live processes (the load's source without a
    /// cgroup); `attached`: `--pid`, whose root memlab does not wait for.
    pub fn open(
        &mut self,
        due: bool,
        first: bool,
        root: i32,
        attached: bool,
        tree: impl FnOnce() -> Vec<i32>,
    ) -> Option<IdleSection> {
        if !due {
            // A marker's pass came between, or the tree is gone: nothing waits any more.
            self.waiting = None;
            return None;
        }
        let hurry = move || guard::interrupted().is_some() || (!attached && exited(root));
        let fresh = || TreeLoad::new(CpuSource::of_tree(tree()));
        let (waited, mut load) = if first {
            (Duration::ZERO, fresh())
        } else {
            let waiting = self.waiting.get_or_insert_with(|| Waiting {
                since: Instant::now(),
                load: fresh(),
                found_busy: false,
            });
            let waited = waiting.since.elapsed();
            let busy = waiting.load.busy_lately();
            waiting.found_busy |= busy == Some(true);
            if !hurry() && !page_walk_starts(busy, waited, PASS_MAX_IDLE_WAIT) {
                return None;
            }
            let waiting = self.waiting.take()?;
            (waited, waiting.load)
        };
        Some(IdleSection::enter(
            PASS_MAX_IDLE_WAIT.saturating_sub(waited),
            hurry,
            move || load.busy(),
        ))
    }

    /// How long the loop sleeps before its next turn. A pass that just came due asks again
    /// after one window of the tree's load (a quiet tree's pass then starts a window late).
    /// Once the tree was found keeping every core busy, a poll at normal priority is taken from
    /// it, so the loop polls at most every [`POLL_WHILE_WAITING`] (new processes and their
    /// parents' captures are then at most that late). Otherwise as the schedule says.
    pub fn sleep(&self, scheduled: Duration, poll_interval: Duration) -> Duration {
        match &self.waiting {
            Some(waiting) if waiting.found_busy => poll_interval.max(POLL_WHILE_WAITING),
            Some(waiting) => waiting.load.window(),
            None => scheduled,
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
