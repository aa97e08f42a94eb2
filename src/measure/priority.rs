//! memlab's own measuring work yields to the measured program. With as many busy processes as
//! cores, every cycle memlab takes is a cycle the program loses; a thread at `SCHED_IDLE` runs
//! only when a core has nothing else to do (its weight is 3 against 1024 for a normal thread, and
//! it never preempts one when it wakes), so its work moves to the moments the program leaves a
//! core free.
//!
//! A starved thread measures late, or never, and holds up whatever waits for it. Hence:
//! - **no page walk at idle priority.** A walk of a process's page tables (`smaps_rollup`, its
//!   pagemap, reading its memory) holds that process's mmap lock, and the kernel may deschedule
//!   the walker inside it. An idle walker descheduled there holds the lock for as long as the
//!   program keeps the cores: a program thread that maps memory (`mmap`, `fork`, a thread's
//!   stack) waits with it. pool_global's parent once waited 371 ms in `mmap` behind the sampler's
//!   `smaps_rollup` that way. So a walk waits *before* it starts, holding nothing, for a core the
//!   program leaves free ([`page_walk_starts`]), and then runs at normal priority: descheduled,
//!   it is back within a time slice or two. [`IdleWorker::walking`] raises an idle thread for
//!   its walk. (Above normal priority, at nice -10, the walks held the lock no shorter, and the
//!   program's threads waited longer for a core behind them: `examples/bench_locks.rs`);
//! - work that something waits for (a signal to forward, the end of a run, a program blocked at
//!   a checkpoint) stays at normal priority, and an idle thread whose work is late is raised
//!   back to it ([`IdleWorker`]);
//! - a thread goes idle only when it can be raised back: leaving `SCHED_IDLE` needs
//!   `CAP_SYS_NICE` (or an `RLIMIT_NICE` that allows nice 0), so without it memlab measures at
//!   normal priority, as before.
//!
//! The policy applies within the thread's scheduling group: the measured command shares
//! memlab's session (its autogroup) and cpu cgroup, so it is what the idle thread yields to. A
//! process in another session or cpu cgroup (`--pid` of a daemon) competes with memlab's group
//! as a whole, whatever the policy of memlab's threads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A thread's scheduling policy and its static priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Policy {
    policy: libc::c_int,
    priority: libc::c_int,
}

/// The kernel's id of the calling thread.
pub fn current_thread_id() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// The calling thread's policy (0 names the calling thread, not the process).
fn current_policy() -> Option<Policy> {
    // SAFETY: sched_getscheduler and sched_getparam only read the thread's attributes into
    // the param they are given.
    let policy = unsafe { libc::sched_getscheduler(0) };
    let mut param = libc::sched_param { sched_priority: 0 };
    if policy < 0 || unsafe { libc::sched_getparam(0, &mut param) } != 0 {
        return None;
    }
    Some(Policy {
        policy,
        priority: param.sched_priority,
    })
}

fn set_policy(thread_id: i32, policy: Policy) -> bool {
    let param = libc::sched_param {
        sched_priority: policy.priority,
    };
    // SAFETY: sched_setscheduler reads the param it is given; a thread id that is gone fails
    // with ESRCH.
    unsafe { libc::sched_setscheduler(thread_id, policy.policy, &param) == 0 }
}

/// `SCHED_IDLE`. A process forked from an idle thread would inherit it (the reset-on-fork flag
/// resets only real-time policies and negative nice values): idle threads never fork.
const IDLE: Policy = Policy {
    policy: libc::SCHED_IDLE,
    priority: 0,
};
const NORMAL: Policy = Policy {
    policy: libc::SCHED_OTHER,
    priority: 0,
};

/// Whether a thread of this process may go idle and come back: tried once, on a thread of its
/// own that ends with the attempt.
pub fn idle_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        std::thread::spawn(|| {
            let Some(before) = current_policy() else {
                return false;
            };
            set_policy(0, IDLE) && set_policy(0, before)
        })
        .join()
        .unwrap_or(false)
    })
}

/// Puts the calling thread at `SCHED_IDLE` for good (a background sampler). Returns false,
/// changing nothing, when it could not be raised back ([`raise_to_normal`]).
pub fn make_current_thread_idle() -> bool {
    idle_supported() && set_policy(0, IDLE)
}

/// Raises thread `thread_id` of this process back to normal priority (before waiting for it).
pub fn raise_to_normal(thread_id: i32) -> bool {
    set_policy(thread_id, NORMAL)
}

/// Whether work that walks the program's page tables (a pass: `smaps_rollup`, pagemaps; a
/// timeline rollup) starts now, `waited` after it came due: once the program leaves a core free,
/// both over the load's last window (`lately` is Some(false): see
/// [`super::tree_load::TreeLoad::busy_lately`]) and now (`running_now`: its processes running
/// at this moment are fewer than the cores, see [`super::tree_load::busy_now`]; the window
/// alone still averages the quiet before a spell with its start), or once it has waited
/// `max_wait`. The walk holds each process's mmap lock, so it yields by waiting before it
/// starts (the caller goes on with its other work and asks again), holding nothing, and then
/// runs at normal priority (see the module's comment).
pub fn page_walk_starts(
    lately: Option<bool>,
    running_now: bool,
    waited: Duration,
    max_wait: Duration,
) -> bool {
    waited >= max_wait || (lately == Some(false) && !running_now)
}

/// A thread at idle priority for good, whose work is each due at a time and may wait a while
/// for a free core: a watchdog raises it to normal priority once the piece of work has waited
/// that long past its time, and the thread goes idle again once that piece is done. A sampler
/// on a saturated machine thus samples a bounded time late instead of never.
pub struct IdleWorker {
    shared: Arc<WorkerShared>,
    /// The thread's policy before it went idle, which its walks run at.
    previous: Policy,
    /// Dropping the sender ends the watchdog.
    watchdog: Option<(Sender<()>, JoinHandle<()>)>,
}

struct WorkerShared {
    origin: Instant,
    /// When the watchdog raises the thread for the next piece of work (its time plus its wait),
    /// in nanoseconds since `origin`; 0 while none is due.
    raise_ns: AtomicU64,
    /// The watchdog raised the thread.
    raised: AtomicBool,
}

impl IdleWorker {
    /// Puts the calling thread at idle priority under a watchdog that looks every `check`;
    /// None, changing nothing, when idle priority is not available.
    pub fn start(check: Duration) -> Option<IdleWorker> {
        if !idle_supported() {
            return None;
        }
        let thread_id = current_thread_id();
        let previous = current_policy()?;
        let shared = Arc::new(WorkerShared {
            origin: Instant::now(),
            raise_ns: AtomicU64::new(0),
            raised: AtomicBool::new(false),
        });
        let watched = Arc::clone(&shared);
        let (stop, stopped) = channel::<()>();
        // Spawned before going idle: a thread inherits its creator's policy.
        let watchdog = std::thread::Builder::new()
            .name("memlab-idle-watchdog".into())
            .spawn(move || {
                // A piece of work is raised at most `check` after its wait ran out.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(check) {
                    let raise_ns = watched.raise_ns.load(Ordering::SeqCst);
                    let now_ns = watched.origin.elapsed().as_nanos() as u64;
                    if raise_ns != 0
                        && now_ns > raise_ns
                        && !watched.raised.load(Ordering::SeqCst)
                        && set_policy(thread_id, previous)
                    {
                        watched.raised.store(true, Ordering::SeqCst);
                    }
                }
            })
            .ok()?;
        if !set_policy(0, IDLE) {
            drop(stop);
            let _ = watchdog.join();
            return None;
        }
        Some(IdleWorker {
            shared,
            previous,
            watchdog: Some((stop, watchdog)),
        })
    }

    /// The next piece of work is due at `at` and may wait `max_wait` past it for a free core
    /// (called before waiting for it).
    pub fn due(&self, at: Instant, max_wait: Duration) {
        let raise_ns = (at + max_wait)
            .saturating_duration_since(self.shared.origin)
            .as_nanos() as u64;
        self.shared
            .raise_ns
            .store(raise_ns.max(1), Ordering::SeqCst);
    }

    /// Runs `walk` (a walk of the program's page tables) at the thread's normal priority, then
    /// puts the thread back at idle priority: descheduled inside the walk, an idle thread would
    /// hold the walked process's mmap lock until the program leaves a core free.
    pub fn walking<T>(&self, walk: impl FnOnce() -> T) -> T {
        set_policy(0, self.previous);
        let walked = walk();
        if set_policy(0, IDLE) {
            // Idle again: a piece of work late from now on is raised anew.
            self.shared.raised.store(false, Ordering::SeqCst);
        }
        walked
    }

    /// A piece of work is done: the thread goes back to idle priority if it was raised. Returns
    /// whether it had been raised.
    pub fn done(&self) -> bool {
        self.shared.raise_ns.store(0, Ordering::SeqCst);
        let raised = self.shared.raised.load(Ordering::SeqCst);
        if raised && set_policy(0, IDLE) {
            self.shared.raised.store(false, Ordering::SeqCst);
        }
        raised
    }
}

impl Drop for IdleWorker {
    fn drop(&mut self) {
        if let Some((stop, watchdog)) = self.watchdog.take() {
            drop(stop);
            let _ = watchdog.join();
        }
    }
}

#[cfg(test)]
mod tests;
