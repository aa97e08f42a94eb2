//! How a run ends: the command's exit, an interruption and the grace the command gets after
//! it, and the killing of everything left below memlab.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::kernel::tree::descendants;
use crate::measure::guard;
use crate::result::run::ExitStatusFact;

/// After forwarding Ctrl-C (or SIGTERM, SIGHUP), how long the command has to exit before
/// memlab kills the tree (`--grace`). A second signal cuts it short. Longer than gunicorn's
/// default graceful timeout (30 s), so that a server shutting down gracefully is not killed
/// in the middle of it.
pub const GRACE: Duration = Duration::from_secs(35);
/// How long a command killed by memlab may take to be reaped before memlab gives up.
const KILLED_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The signal that interrupted memlab, and the grace it gave the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interruption {
    pub signal: i32,
    pub deadline: Instant,
    /// Signals received when it began: one more cuts the grace short.
    pub signals_seen: usize,
}

/// How the run is ending, as far as it is known.
#[derive(Debug, Default)]
pub struct Ending {
    /// The command's exit status, once it exited.
    pub exit: Option<ExitStatus>,
    pub interrupted: Option<Interruption>,
    /// When memlab killed the command (its grace was over).
    pub killed_by_memlab: Option<Instant>,
}

impl Ending {
    /// memlab got `signal` at `now`, having received `signals_seen` signals in all; the command
    /// has `grace` to exit.
    pub fn interrupt(&mut self, signal: i32, now: Instant, signals_seen: usize, grace: Duration) {
        self.interrupted = Some(Interruption {
            signal,
            deadline: now + grace,
            signals_seen,
        });
    }

    /// The command had its grace and has not exited: its deadline passed, or another signal
    /// came. False once memlab killed it.
    pub fn grace_over(&self, now: Instant, signals_received: usize) -> bool {
        self.killed_by_memlab.is_none()
            && self.interrupted.is_some_and(|interruption| {
                now >= interruption.deadline || signals_received > interruption.signals_seen
            })
    }

    /// memlab killed the command long ago and it has still not exited.
    pub fn kill_failed(&self, now: Instant) -> bool {
        self.killed_by_memlab
            .is_some_and(|at| now.duration_since(at) > KILLED_EXIT_TIMEOUT)
    }

    pub fn exit_fact(&self) -> Option<ExitStatusFact> {
        use std::os::unix::process::ExitStatusExt;
        self.exit.map(|status| ExitStatusFact {
            code: status.code(),
            signal: status
                .signal()
                .map(|signal| guard::signal_name(signal).to_string()),
            killed_by_memlab: self.killed_by_memlab.is_some(),
        })
    }
}

/// The spawned command: killed with everything below memlab if the follow loop fails.
pub struct CommandGuard {
    child: Option<Child>,
    group: i32,
    done: bool,
}

impl CommandGuard {
    /// `child` leads its own process group; none when memlab attached to a running process.
    pub fn new(child: Option<Child>, group: i32) -> CommandGuard {
        CommandGuard {
            child,
            group,
            done: false,
        }
    }

    /// Its exit status, once it has exited (never for an attached process).
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => child.try_wait(),
            None => Ok(None),
        }
    }

    /// Forwards `signal` to the command's group, as a terminal would.
    pub fn forward(&self, signal: Signal) {
        if self.child.is_some() {
            let _ = killpg(Pid::from_raw(self.group), signal);
        }
    }

    /// Kills the command's group and the command.
    pub fn kill(&mut self) {
        let _ = killpg(Pid::from_raw(self.group), Signal::SIGKILL);
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
    }

    /// The follow loop ended normally: nothing is left to clean up.
    pub fn disarm(&mut self) {
        self.done = true;
    }
}

impl Drop for CommandGuard {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(child) = self.child.as_mut() {
            let _ = killpg(Pid::from_raw(self.group), Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
            kill_everything_below_memlab(Some(self.group));
        }
    }
}

/// Kills everything left below memlab (the command's group, then every descendant, orphans
/// included) and reaps it. Bounded in time.
pub fn kill_everything_below_memlab(group: Option<i32>) {
    if let Some(group) = group {
        let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
    }
    let me = std::process::id() as i32;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = descendants(me);
        for pid in &left {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        while let Ok(status) = waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            if matches!(status, WaitStatus::StillAlive) {
                break;
            }
        }
        if left.is_empty() || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn without_an_interruption_there_is_no_grace_to_end() {
        let ending = Ending::default();
        let later = Instant::now() + Duration::from_secs(3600);
        assert!(!ending.grace_over(later, 5));
        assert!(!ending.kill_failed(later));
    }

    #[test]
    fn the_grace_ends_at_its_deadline_or_at_the_next_signal() {
        let t0 = Instant::now();
        let mut ending = Ending::default();
        ending.interrupt(libc::SIGINT, t0, 1, GRACE);
        assert_eq!(ending.interrupted.map(|i| i.deadline), Some(t0 + GRACE));
        assert!(!ending.grace_over(t0 + GRACE - Duration::from_millis(1), 1));
        assert!(ending.grace_over(t0 + GRACE, 1));
        assert!(
            ending.grace_over(t0 + Duration::from_millis(5), 2),
            "a second Ctrl-C"
        );
        ending.killed_by_memlab = Some(t0 + GRACE);
        assert!(!ending.grace_over(t0 + GRACE * 2, 3), "killed once");
    }

    #[test]
    fn a_killed_command_that_never_exits_is_an_error_after_a_while() {
        let t0 = Instant::now();
        let ending = Ending {
            killed_by_memlab: Some(t0),
            ..Ending::default()
        };
        assert!(!ending.kill_failed(t0 + KILLED_EXIT_TIMEOUT));
        assert!(ending.kill_failed(t0 + KILLED_EXIT_TIMEOUT + Duration::from_millis(1)));
    }

    #[test]
    fn the_exit_fact_says_how_the_command_ended_and_who_killed_it() {
        assert_eq!(Ending::default().exit_fact(), None);
        let exited = Ending {
            exit: Some(ExitStatus::from_raw(3 << 8)),
            ..Ending::default()
        };
        let fact = exited.exit_fact().expect("a fact");
        assert_eq!(
            (fact.code, fact.signal, fact.killed_by_memlab),
            (Some(3), None, false)
        );
        let killed = Ending {
            exit: Some(ExitStatus::from_raw(libc::SIGKILL)),
            killed_by_memlab: Some(Instant::now()),
            ..Ending::default()
        };
        let fact = killed.exit_fact().expect("a fact");
        assert_eq!(fact.code, None);
        assert_eq!(
            fact.signal.as_deref(),
            Some(guard::signal_name(libc::SIGKILL))
        );
        assert!(fact.killed_by_memlab);
    }
}
