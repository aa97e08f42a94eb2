//! No orphans even when memlab is SIGKILLed (issue 14, case 4): every process memlab started
//! lives in memlab's cgroup, which its guard kills when memlab ends, however it ends. Tested
//! with what process groups and PR_SET_PDEATHSIG cannot catch: a fork pool's workers, a
//! `setsid` grandchild and a double-forked daemon.

mod common;

use std::io::BufRead;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{alive, all_gone_within, is_root, memlab};

/// Forks a pool of 2 workers, a child that calls setsid() and forks a grandchild, and a
/// double-forked daemon; prints every pid on one line; sleeps.
const TREE: &str = r#"
import multiprocessing, os, sys, time
ctx = multiprocessing.get_context("fork")
pool = ctx.Pool(2)
workers = [p.pid for p in pool._pool]
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, b"%d\n" % os.getpid()); time.sleep(600); os._exit(0)
    time.sleep(600); os._exit(0)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.write(w, b"%d\n" % os.getpid()); time.sleep(600); os._exit(0)
    os._exit(0)
f = os.fdopen(r)
grandchild = int(f.readline()); daemon = int(f.readline())
print("pids", os.getpid(), *workers, grandchild, daemon, flush=True)
time.sleep(600)
"#;

fn cgroup_dirs_of(pid: u32) -> Vec<std::path::PathBuf> {
    let name = format!("memlab-{pid}");
    let mut found = Vec::new();
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return found;
    };
    for line in mounts.lines().filter(|l| l.contains(" - cgroup2 ")) {
        if let Some(mount_point) = line.split_whitespace().nth(4) {
            let dir = std::path::Path::new(mount_point).join(&name);
            if dir.exists() {
                found.push(dir);
            }
        }
    }
    found
}

/// The pids a test's shell script wrote (atomically, by a rename) to `file`, once it exists.
fn pids_written_to(file: &std::path::Path) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        assert!(Instant::now() < deadline, "the script never wrote its pids");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(file)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// Starts `memlab ARGS… -- python3 -c TREE`, waits for the tree's pids, SIGKILLs memlab, and
/// returns the pids and memlab's pid.
fn kill_memlab_while_it_follows(args: &[&str]) -> (Vec<i32>, u32) {
    let out = tempfile::tempdir().unwrap();
    let mut child = memlab()
        .args(args)
        .arg("--out")
        .arg(out.path())
        .args(["--", "python3", "-c", TREE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !line.starts_with("pids ") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0 && Instant::now() < deadline,
            "the tree never started"
        );
    }
    let pids: Vec<i32> = line
        .split_whitespace()
        .skip(1)
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 5, "{line}");
    // Let memlab see the tree at least once, then kill it outright.
    std::thread::sleep(Duration::from_millis(300));
    let memlab_pid = child.id();
    child.kill().unwrap();
    child.wait().unwrap();
    (pids, memlab_pid)
}

#[test]
fn memlab_run_sigkilled_leaves_no_pool_worker_setsid_grandchild_or_daemon() {
    if !is_root() {
        eprintln!("skipped: creating a cgroup needs root here");
        return;
    }
    let (pids, memlab_pid) = kill_memlab_while_it_follows(&["run", "--interval", "100"]);
    let gone = all_gone_within(&pids, 10.0);
    let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        gone,
        "left behind after kill -9 of memlab: {left:?} of {pids:?}"
    );
    // The guard removed memlab's cgroup and ended.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cgroup_dirs_of(memlab_pid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        cgroup_dirs_of(memlab_pid).is_empty(),
        "memlab's cgroup is left: {:?}",
        cgroup_dirs_of(memlab_pid)
    );
}

#[test]
fn a_normal_end_kills_what_left_the_process_group_and_removes_the_cgroup() {
    if !is_root() {
        eprintln!("skipped: creating a cgroup needs root here");
        return;
    }
    // The command prints its tree and exits at once: the setsid grandchild and the daemon are
    // outside its process group, and memlab's end must still take them along.
    let script = TREE.replace("time.sleep(600)\n\"", "\"").replace(
        "print(\"pids\", os.getpid(), *workers, grandchild, daemon, flush=True)\ntime.sleep(600)",
        "print(\"pids\", os.getpid(), *workers, grandchild, daemon, flush=True)\npool.terminate()",
    );
    let out = tempfile::tempdir().unwrap();
    let output = memlab()
        .args(["run", "--interval", "100", "--out"])
        .arg(out.path())
        .args(["--", "python3", "-c", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("pids "))
        .unwrap_or_else(|| {
            panic!(
                "no pids line: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let pids: Vec<i32> = line
        .split_whitespace()
        .skip(1)
        .map(|p| p.parse().unwrap())
        .collect();
    let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(left.is_empty(), "alive after memlab ended: {left:?}");
}

#[test]
fn a_scenario_sigkilled_leaves_no_setsid_grandchild_of_its_workload() {
    if !is_root() {
        eprintln!("skipped: creating a cgroup needs root here");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let pid_file = out.path().join("pids");
    // A workload that starts a grandchild in a session of its own, then says nothing.
    let script = format!(
        "setsid sleep 600 & echo $$ $! > {}.tmp && mv {0}.tmp {0}; sleep 600",
        pid_file.display()
    );
    let mut child = memlab()
        .args(["scenario", "array-read", "--size", "1MiB", "--out"])
        .arg(out.path())
        .args(["--workload-cmd", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pids = pids_written_to(&pid_file);
    assert_eq!(pids.len(), 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let gone = all_gone_within(&pids, 10.0);
    let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(gone, "left behind after kill -9 of memlab: {left:?}");
}

/// `memlab run [--keep] -- sh` whose command leaves a `setsid` daemon; Ctrl-C after a second.
/// Returns the daemon's pid and memlab's stderr.
fn run_leaving_a_daemon(keep: bool) -> (i32, String) {
    let out = tempfile::tempdir().unwrap();
    let pid_file = out.path().join("daemon.pid");
    let script = format!(
        "setsid sleep 60 >/dev/null 2>&1 </dev/null & echo $! > {0}.tmp && mv {0}.tmp {0}; exit 0",
        pid_file.display()
    );
    let mut command = memlab();
    command
        .args(["run", "--interval", "100", "--out"])
        .arg(out.path());
    if keep {
        command.arg("--keep");
    }
    let child = command
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let daemon = pids_written_to(&pid_file)[0];
    std::thread::sleep(Duration::from_millis(800));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    (daemon, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn keep_leaves_what_the_command_left_running_and_says_so() {
    if !is_root() {
        eprintln!("skipped: creating a cgroup needs root here");
        return;
    }
    let (daemon, stderr) = run_leaving_a_daemon(true);
    let kept = alive(daemon);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(kept, "--keep killed the daemon: {stderr}");
    assert!(
        stderr.contains("leaving 1 process running") && stderr.contains("(--keep)"),
        "{stderr}"
    );
    // Without --keep the daemon goes, and memlab says so, pointing to --keep.
    let (daemon, stderr) = run_leaving_a_daemon(false);
    assert!(all_gone_within(&[daemon], 5.0), "{stderr}");
    assert!(
        stderr.contains("memlab killed it") && stderr.contains("--keep"),
        "{stderr}"
    );
}
