//! Forking and steering the children of a native workload.
//!
//! The workload process is single-threaded and has allocated everything before it forks.
//! Each child gets two pipes: parent→child carries one command byte (then an optional
//! payload), child→parent carries the operation's duration. A child blocks on its pipe
//! between steps, so the orchestrator always measures a quiet tree.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Instant;

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe};

const OPERATE: u8 = b'o';

struct Member {
    pid: Pid,
    to_child: Option<File>,
    from_child: File,
}

/// The forked children of a workload. Dropping it kills and reaps any child still alive.
pub struct Crew {
    members: Vec<Member>,
}

/// What a child does when told to operate: its index and the pipe from its parent (for
/// payloads, as `serialized-copy` uses).
pub type Operation<'a> = dyn Fn(usize, &mut File) + 'a;

#[derive(Debug, thiserror::Error)]
pub enum CrewError {
    #[error("fork failed: {0}")]
    Fork(nix::Error),
    #[error("pipe failed: {0}")]
    Pipe(nix::Error),
    #[error("child {pid} (child {index} of {count}) {how}")]
    ChildDied {
        pid: i32,
        index: usize,
        count: usize,
        how: String,
    },
    #[error("feeding child {index}: {source}")]
    Feed {
        index: usize,
        #[source]
        source: std::io::Error,
    },
}

/// Describes how a child ended, naming the signal when there is one.
pub fn describe_exit(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with status {code}"),
        WaitStatus::Signaled(_, signal, core) => {
            let core = if core { " (core dumped)" } else { "" };
            format!("was killed by {}{core}", signal.as_str())
        }
        other => format!("ended unexpectedly ({other:?})"),
    }
}

impl Crew {
    /// Forks `count` children that wait for [`Crew::operate`].
    pub fn fork(count: usize, operation: &Operation<'_>) -> Result<Crew, CrewError> {
        let parent = nix::unistd::getpid();
        let devnull = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .ok();
        let mut members: Vec<Member> = Vec::with_capacity(count);
        for index in 0..count {
            let (child_reads, parent_writes) = pipe().map_err(CrewError::Pipe)?;
            let (parent_reads, child_writes) = pipe().map_err(CrewError::Pipe)?;
            // SAFETY: the workload is single-threaded, so the child may do anything.
            match unsafe { fork() }.map_err(CrewError::Fork)? {
                ForkResult::Child => {
                    let inherited: Vec<RawFd> = members
                        .iter()
                        .flat_map(|m| {
                            let to_child = m.to_child.as_ref().map(|f| f.as_raw_fd());
                            to_child.into_iter().chain([m.from_child.as_raw_fd()])
                        })
                        .chain([parent_writes.as_raw_fd(), parent_reads.as_raw_fd()])
                        .collect();
                    child_main(
                        parent,
                        index,
                        &inherited,
                        devnull.as_ref(),
                        child_reads,
                        child_writes,
                        operation,
                    );
                }
                ForkResult::Parent { child } => {
                    drop(child_reads);
                    drop(child_writes);
                    members.push(Member {
                        pid: child,
                        to_child: Some(File::from(parent_writes)),
                        from_child: File::from(parent_reads),
                    });
                }
            }
        }
        Ok(Crew { members })
    }

    pub fn pids(&self) -> Vec<i32> {
        self.members.iter().map(|m| m.pid.as_raw()).collect()
    }

    /// Tells every child to operate, lets `feed` send each one its payload, and waits until
    /// all have finished. Returns each child's operation time in seconds.
    pub fn operate(
        &mut self,
        mut feed: impl FnMut(usize, &mut File) -> std::io::Result<()>,
    ) -> Result<Vec<f64>, CrewError> {
        for index in 0..self.members.len() {
            let sent = self.members[index]
                .to_child
                .as_mut()
                .map(|pipe| pipe.write_all(&[OPERATE]))
                .unwrap_or(Ok(()));
            if sent.is_err() {
                return Err(self.died(index));
            }
        }
        for index in 0..self.members.len() {
            let pipe = self.members[index]
                .to_child
                .as_mut()
                .expect("not released yet");
            if let Err(source) = feed(index, pipe) {
                return Err(match source.kind() {
                    std::io::ErrorKind::BrokenPipe => self.died(index),
                    _ => CrewError::Feed { index, source },
                });
            }
        }
        let mut seconds = Vec::with_capacity(self.members.len());
        for index in 0..self.members.len() {
            let mut nanos = [0u8; 8];
            if self.members[index]
                .from_child
                .read_exact(&mut nanos)
                .is_err()
            {
                return Err(self.died(index));
            }
            seconds.push(u64::from_ne_bytes(nanos) as f64 / 1e9);
        }
        Ok(seconds)
    }

    /// Lets every child exit and reaps it; a child that died by a signal is an error.
    pub fn release(mut self) -> Result<(), CrewError> {
        for member in &mut self.members {
            member.to_child = None;
        }
        let count = self.members.len();
        let members = std::mem::take(&mut self.members);
        let mut first_error = None;
        for (index, member) in members.into_iter().enumerate() {
            match waitpid(member.pid, None) {
                Ok(WaitStatus::Exited(_, 0)) => {}
                Ok(status) => {
                    first_error.get_or_insert(CrewError::ChildDied {
                        pid: member.pid.as_raw(),
                        index: index + 1,
                        count,
                        how: describe_exit(status),
                    });
                }
                Err(_) => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A child stopped answering: reap it and say how it ended.
    fn died(&mut self, index: usize) -> CrewError {
        let pid = self.members[index].pid;
        let how = match waitpid(pid, None) {
            Ok(status) => describe_exit(status),
            Err(error) => format!("vanished ({error})"),
        };
        CrewError::ChildDied {
            pid: pid.as_raw(),
            index: index + 1,
            count: self.members.len(),
            how,
        }
    }
}

impl Drop for Crew {
    fn drop(&mut self) {
        for member in &self.members {
            let _ = nix::sys::signal::kill(member.pid, Signal::SIGKILL);
        }
        for member in &self.members {
            let _ = waitpid(member.pid, None);
        }
    }
}

fn child_main(
    parent: Pid,
    index: usize,
    inherited: &[RawFd],
    devnull: Option<&File>,
    commands: OwnedFd,
    reports: OwnedFd,
    operation: &Operation<'_>,
) -> ! {
    // Die with the parent, even if it is SIGKILLed; and do not outlive a parent that
    // died before the prctl took effect.
    // SAFETY: plain syscalls with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if nix::unistd::getppid() != parent {
        unsafe { libc::_exit(1) };
    }
    // The protocol pipes belong to the parent; a child holding them would hide the parent's
    // death from the orchestrator. Other children's pipes would hide theirs from the parent.
    if let Some(null) = devnull {
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(null.as_raw_fd(), 1);
        }
    }
    for fd in inherited {
        unsafe { libc::close(*fd) };
    }
    let mut commands = File::from(commands);
    let mut reports = File::from(reports);
    let mut command = [0u8; 1];
    loop {
        match commands.read(&mut command) {
            Ok(1) if command[0] == OPERATE => {
                let started = Instant::now();
                // A panic must not unwind into the parent's state (the Crew's Drop would
                // kill the siblings): end this child with a distinctive status instead.
                let run = std::panic::AssertUnwindSafe(|| operation(index, &mut commands));
                if std::panic::catch_unwind(run).is_err() {
                    unsafe { libc::_exit(101) };
                }
                let nanos = started.elapsed().as_nanos() as u64;
                if reports.write_all(&nanos.to_ne_bytes()).is_err() {
                    unsafe { libc::_exit(1) };
                }
            }
            // EOF: the parent released us.
            Ok(0) => unsafe { libc::_exit(0) },
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => unsafe { libc::_exit(1) },
        }
    }
}
