//! No orphans, ever: every workload runs in its own process group, registered here, and is
//! killed on normal exit, error, timeout, panic (Drop), SIGINT, SIGTERM and SIGHUP (the
//! signal thread). The workload and its children also set PR_SET_PDEATHSIG, which covers an
//! orchestrator killed by SIGKILL.

use std::process::{Child, Command};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;

/// Process groups of the workloads currently running.
static ACTIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
/// The signal that interrupted memlab, or 0.
static INTERRUPTED_BY: AtomicI32 = AtomicI32::new(0);
/// How many SIGINT/SIGTERM/SIGHUP memlab has received.
static SIGNALS_RECEIVED: AtomicUsize = AtomicUsize::new(0);

/// Installs the signal thread and makes memlab the reaper of its workloads' orphans.
/// Call once, before spawning any workload.
pub fn install() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // Orphaned grandchildren are reparented to us, so none can escape a kill by re-parenting.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("memlab-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                INTERRUPTED_BY.store(signal, Ordering::SeqCst);
                SIGNALS_RECEIVED.fetch_add(1, Ordering::SeqCst);
                kill_all_groups();
            }
        })?;
    Ok(())
}

/// The signal that interrupted this run, if any.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED_BY.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// How many interrupting signals memlab has received (a second Ctrl-C can cut short the grace
/// `memlab run` gives its command).
pub fn signals_received() -> usize {
    SIGNALS_RECEIVED.load(Ordering::SeqCst)
}

pub fn signal_name(signal: i32) -> &'static str {
    Signal::try_from(signal)
        .map(|s| s.as_str())
        .unwrap_or("a signal")
}

fn kill_all_groups() {
    let groups = ACTIVE_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for group in groups {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
}

/// A spawned workload tree. Dropping it kills the whole group and reaps what it can.
pub struct TreeGuard {
    child: Child,
    group: i32,
    finished: bool,
}

impl TreeGuard {
    /// Spawns `command` as the leader of a new process group.
    pub fn spawn(mut command: Command) -> std::io::Result<TreeGuard> {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        super::containment::contain(&mut command);
        command.env("MEMLAB_ORCHESTRATOR_PID", std::process::id().to_string());
        // Hold the lock across spawn so a signal cannot slip between spawn and registration.
        let mut groups = ACTIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        let child = command.spawn()?;
        let group = child.id() as i32;
        groups.push(group);
        drop(groups);
        if interrupted().is_some() {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
        Ok(TreeGuard {
            child,
            group,
            finished: false,
        })
    }

    pub fn pid(&self) -> i32 {
        self.group
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Waits up to `limit` for the workload to exit by itself.
    pub fn wait_timeout(
        &mut self,
        limit: Duration,
    ) -> std::io::Result<Option<std::process::ExitStatus>> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills whatever is left of the tree and reaps it.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let _ = killpg(Pid::from_raw(self.group), Signal::SIGKILL);
        // What left the group (setsid, double fork) is still in memlab's cgroup.
        super::containment::kill_all();
        let _ = self.child.kill();
        let _ = self.child.wait();
        ACTIVE_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|g| *g != self.group);
        reap_orphans(Duration::from_secs(2));
    }
}

impl Drop for TreeGuard {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Reaps children that were re-parented to memlab (the subreaper) after their parent died,
/// killing any that are still alive. Bounded in time: never hangs an exit path.
fn reap_orphans(limit: Duration) {
    let me = std::process::id() as i32;
    let deadline = Instant::now() + limit;
    loop {
        let orphans = crate::kernel::tree::direct_children(me);
        for orphan in &orphans {
            let _ = nix::sys::signal::kill(Pid::from_raw(*orphan), Signal::SIGKILL);
        }
        while let Ok(status) = waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            if matches!(status, nix::sys::wait::WaitStatus::StillAlive) {
                break;
            }
        }
        if orphans.is_empty() || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How a process ended, in words: `exited with status 1`, `was killed by SIGKILL`.
pub fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by {}", signal_name(signal)),
        _ => "ended".to_string(),
    }
}
