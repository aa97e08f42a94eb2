//! No orphans even when memlab is SIGKILLed: every process memlab starts (a scenario's
//! workload, `memlab run`'s command) joins a cgroup of its own before it executes, and a small
//! guard process (`memlab __guard DIR`, in its own session) holds the read end of a pipe whose
//! write end only memlab holds. However memlab ends, the kernel closes that end; the guard
//! reads end-of-file, kills the whole cgroup (`cgroup.kill`, or SIGKILL to each member on
//! kernels without it) and removes it. A process cannot leave a cgroup by forking, double
//! forking, `setsid` or re-parenting, which process groups and PR_SET_PDEATHSIG cannot promise.
//!
//! Where no cgroup v2 hierarchy is writable (no privilege, a read-only mount), memlab falls back
//! to what it always did: process groups killed on every exit path, PR_SET_PDEATHSIG and the
//! child subreaper (see docs/reliability.md for what that fallback does not cover).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the guard reads on its pipe before the end: release the processes instead of killing.
const RELEASE_BYTE: u8 = b'r';

/// The cgroup of this memlab process's measured trees, and its guard.
struct Containment {
    dir: PathBuf,
    /// `cgroup.procs` of `dir`, open for writing: a child joins by writing "0" to it between
    /// fork and exec (a write to an open descriptor is async-signal-safe). Close-on-exec.
    procs: File,
    guard: Child,
    /// The only write end of the guard's pipe (close-on-exec, so no child inherits it).
    guard_pipe: Option<std::io::PipeWriter>,
}

/// None until the first spawn; Some(None) when no cgroup could be made (the fallback).
static CONTAINMENT: Mutex<Option<Option<Containment>>> = Mutex::new(None);

/// Where this process's cgroup v2 directory is: the cgroup2 mount plus our path in it.
fn own_cgroup_dir() -> Option<PathBuf> {
    let me = procfs::process::Process::myself().ok()?;
    let mount = me
        .mountinfo()
        .ok()?
        .into_iter()
        .find(|m| m.fs_type == "cgroup2")?;
    let path = me
        .cgroups()
        .ok()?
        .into_iter()
        .find(|c| c.hierarchy == 0)?
        .pathname;
    // The mount may show a sub-tree of the hierarchy (a container's cgroup namespace).
    let relative = path
        .strip_prefix(mount.root.as_str())
        .unwrap_or(&path)
        .trim_start_matches('/');
    Some(mount.mount_point.join(relative))
}

fn create() -> std::io::Result<Containment> {
    let parent = own_cgroup_dir().ok_or_else(|| std::io::Error::other("no cgroup v2 mount"))?;
    let dir = parent.join(format!("memlab-{}", std::process::id()));
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        // A previous memlab with our pid was killed before its guard cleaned up: reuse it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let procs = OpenOptions::new()
        .write(true)
        .open(dir.join("cgroup.procs"))
        .inspect_err(|_| {
            let _ = std::fs::remove_dir(&dir);
        })?;
    let (reader, writer) = std::io::pipe()?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("__guard")
        .arg(&dir)
        .stdin(reader)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe. Its own session: a Ctrl-C to memlab's terminal
    // group must not reach the guard before memlab has ended.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let guard = command.spawn().inspect_err(|_| {
        let _ = std::fs::remove_dir(&dir);
    })?;
    // The guard is memlab's child but never part of a tree memlab follows or kills.
    crate::kernel::tree::set_memlab_own_process(guard.id() as i32);
    Ok(Containment {
        dir,
        procs,
        guard,
        guard_pipe: Some(writer),
    })
}

/// Makes `command`'s process join memlab's cgroup before it executes, creating the cgroup and
/// its guard at the first call. Returns whether it will be contained (false: the fallback).
pub fn contain(command: &mut Command) -> bool {
    use std::os::unix::process::CommandExt;
    let mut state = CONTAINMENT.lock().unwrap_or_else(|e| e.into_inner());
    let containment = state.get_or_insert_with(|| create().ok());
    let Some(containment) = containment.as_ref() else {
        return false;
    };
    let procs = containment.procs.as_raw_fd();
    // SAFETY: write is async-signal-safe; the descriptor stays open while memlab runs.
    unsafe {
        command.pre_exec(move || {
            if libc::write(procs, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    true
}

/// The cgroup memlab's trees run in, if there is one.
pub fn cgroup_dir() -> Option<PathBuf> {
    let state = CONTAINMENT.lock().unwrap_or_else(|e| e.into_inner());
    state.as_ref()?.as_ref().map(|c| c.dir.clone())
}

/// The cgroup memlab's trees run in, if it holds any of `pids`.
pub fn cgroup_holding(pids: &[i32]) -> Option<PathBuf> {
    cgroup_dir().filter(|dir| members(dir).iter().any(|pid| pids.contains(pid)))
}

/// Kills every process of memlab's cgroup now (between two scenarios: what left a finished
/// workload's process group).
pub fn kill_all() {
    if let Some(dir) = cgroup_dir() {
        kill_members(&dir);
    }
}

/// Kills every process of the cgroup (memlab's normal end: the same as the guard does).
fn kill_members(dir: &Path) {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    for pid in members(dir) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn members(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| parse_pids(&text))
        .unwrap_or_default()
}

/// `cgroup.procs` is one pid per line.
fn parse_pids(text: &str) -> Vec<i32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Kills the cgroup until it is empty, then removes it; bounded in time.
fn kill_and_remove(dir: &Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        kill_members(dir);
        if members(dir).is_empty() {
            match std::fs::remove_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {}
                _ => return,
            }
        }
        if Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// memlab's end, whatever the outcome: kill what is left of its trees, let the guard clean up
/// and wait for it (bounded), so that no memlab process outlives the command.
pub fn end() {
    let mut state = CONTAINMENT.lock().unwrap_or_else(|e| e.into_inner());
    let Some(Some(containment)) = state.as_mut() else {
        return;
    };
    kill_and_remove(&containment.dir, Duration::from_secs(2));
    containment.guard_pipe = None;
    wait_bounded(&mut containment.guard, Duration::from_secs(2));
}

/// Lets the processes live on after memlab (`memlab run --keep`): moves them back to memlab's
/// own cgroup and tells the guard to leave them alone.
pub fn release() {
    let mut state = CONTAINMENT.lock().unwrap_or_else(|e| e.into_inner());
    let Some(Some(containment)) = state.as_mut() else {
        return;
    };
    if let Some(parent) = containment.dir.parent() {
        for pid in members(&containment.dir) {
            let _ = std::fs::write(parent.join("cgroup.procs"), pid.to_string());
        }
    }
    if let Some(mut pipe) = containment.guard_pipe.take() {
        let _ = pipe.write_all(&[RELEASE_BYTE]);
    }
    wait_bounded(&mut containment.guard, Duration::from_secs(2));
    // Nothing left to contain: memlab's end kills nothing.
    *state = Some(None);
}

fn wait_bounded(child: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Entry point of `memlab __guard DIR`: waits for memlab's end (end-of-file on stdin), then
/// kills and removes the cgroup, unless memlab asked to release it.
pub fn guard_main(dir: &Path) -> i32 {
    // Only ever a cgroup memlab made: a mistyped argument must not kill anything else.
    let named_by_memlab = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("memlab-"));
    if !named_by_memlab || !dir.join("cgroup.procs").is_file() {
        eprintln!(
            "memlab: error: {} is not a cgroup memlab made",
            dir.display()
        );
        return crate::error::exit_code::USAGE;
    }
    // Only memlab's end ends the guard: terminal and hang-up signals are not for it.
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        // SAFETY: setting a signal to be ignored has no handler to be unsafe in.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    let mut stdin = std::io::stdin().lock();
    let mut released = false;
    let mut buffer = [0u8; 64];
    loop {
        match stdin.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => released |= buffer[..n].contains(&RELEASE_BYTE),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if released {
        let _ = std::fs::remove_dir(dir);
    } else {
        kill_and_remove(dir, Duration::from_secs(30));
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_procs_lists_one_pid_per_line() {
        assert_eq!(parse_pids("12\n345\n\n7\n"), vec![12, 345, 7]);
        assert_eq!(parse_pids(""), Vec::<i32>::new());
    }
}
