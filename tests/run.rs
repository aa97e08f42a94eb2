//! `memlab run` on real process trees: the example pools (shared numpy global, copied list of
//! ints), a shell pipeline with subshells, exec and nested forks, early exits, Ctrl-C, memlab
//! killed outright, `--pid`, exit statuses and CI checks. Page truth needs root: the tests that
//! assert exact figures say so when they cannot run.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Spinners, alive, all_gone_within, example, logged, logged_pid, memlab, skip_unless_root,
    venv_python,
};
use memlab::result::ScenarioResult;
use memlab::result::run::{ProcessEnd, ProcessKind, RunBody, RunProcess};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const MIB: u64 = 1 << 20;

struct Ran {
    code: i32,
    result: ScenarioResult,
    stderr: String,
}

/// `memlab run --json --out DIR ARGS…`: the exit code and the result, read back through the
/// schema (a result that does not deserialize fails the test).
fn run(args: &[&str], out: &Path, envs: &[(&str, &str)]) -> Ran {
    let output = memlab()
        .args(["run", "--json", "--out"])
        .arg(out)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("memlab runs");
    let code = output.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let result: ScenarioResult = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("stdout is not a result ({error}); exit {code}\nstderr: {stderr}")
    });
    let stored: ScenarioResult =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(stored, result, "the file holds what stdout showed");
    Ran {
        code,
        result,
        stderr,
    }
}

/// The typed body of a `memlab run` result.
fn body(result: &ScenarioResult) -> &RunBody {
    result.run.as_ref().expect("a run result has a run body")
}

fn processes(result: &ScenarioResult) -> Vec<RunProcess> {
    let processes = body(result).processes.clone();
    assert!(!processes.is_empty(), "no process records");
    processes
}

fn find(processes: &[RunProcess], pid: i32) -> &RunProcess {
    processes
        .iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} not followed: {processes:#?}"))
}

fn copied(process: &RunProcess) -> u64 {
    process
        .figures
        .as_ref()
        .unwrap_or_else(|| panic!("no figures for {process:#?}"))
        .copied_bytes
}

#[test]
fn pool_global_workers_share_the_array_and_the_naive_sum_is_five_times_the_truth() {
    if skip_unless_root("pool_global") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let python = venv_python();
    let ran = run(
        &["--", &python, &example("pool_global.py")],
        out.path(),
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let result = &ran.result;
    assert_eq!(result.scenario, "run");
    assert!(result.claims.is_empty());
    let array = 256 * MIB;
    let processes = processes(result);
    let workers: Vec<&RunProcess> = processes
        .iter()
        .filter(|p| p.kind == ProcessKind::Forked)
        .collect();
    assert_eq!(workers.len(), 4, "{processes:#?}");
    for worker in &workers {
        let figures = worker.figures.as_ref().unwrap();
        assert!(figures.exact, "{figures:?}");
        assert!(
            figures.copied_bytes < array / 50,
            "worker {} copied {} bytes, 2% of the array is {}",
            worker.pid,
            figures.copied_bytes,
            array / 50
        );
        // It maps the whole array, and shares it.
        assert!(figures.shared_bytes.unwrap() > array, "{figures:?}");
        assert_eq!(worker.end, ProcessEnd::Exited);
    }
    let summary = &result.summary;
    assert_eq!(summary.copied_bytes_per_child.len(), 4);
    assert!(summary.copied_exact);
    let unique = summary.tree_unique_bytes.unwrap_or_else(|| {
        let passes: Vec<_> = result
            .phases
            .iter()
            .map(|p| (&p.name, p.time_s, p.tree.pss_bytes, p.tree.unique_bytes))
            .collect();
        panic!(
            "no unique footprint as root: peak {:?}, passes {passes:?}, {:?}",
            body(result).peak_phase,
            body(result).truth_passes
        )
    });
    assert!(
        unique > array && unique < array + array / 3,
        "unique {unique} should be about one array ({array})"
    );
    assert!(
        summary.tree_rss_bytes > 9 * array / 2,
        "ΣRSS {} should be about five arrays",
        summary.tree_rss_bytes
    );
    assert!(summary.overcount_factor.unwrap() > 4.0);
    // The peak phase (the largest ΣPSS over every pass) holds all four workers, with their
    // page truth, and is the largest pass.
    let peak_phase = body(result).peak_phase.as_deref().expect("a peak");
    let peak = result.phase(peak_phase).unwrap();
    assert_eq!(peak.tree.unique_bytes, summary.tree_unique_bytes);
    assert!(
        result
            .phases
            .iter()
            .filter(|p| p.tree.unique_bytes.is_some())
            .all(|p| p.tree.pss_bytes <= peak.tree.pss_bytes),
        "a pass larger than the peak"
    );
    let measured = peak
        .processes
        .iter()
        .filter(|p| p.page_truth.is_some())
        .count();
    assert_eq!(measured, 4, "{}", peak.name);
    // The timeline followed them too.
    let sampled: std::collections::BTreeSet<i32> = result
        .timeline
        .samples
        .iter()
        .flat_map(|s| &s.processes)
        .map(|p| p.pid)
        .collect();
    for worker in &workers {
        assert!(
            sampled.contains(&worker.pid),
            "worker {} never sampled",
            worker.pid
        );
    }
    // The table shows both totals, rendered from the stored result.
    let table = memlab::render::run_table::render(result);
    assert!(
        table.contains("ΣRSS") && table.contains("unique"),
        "{table}"
    );
}

#[test]
fn pool_list_workers_copy_their_ints_and_the_check_names_them() {
    if skip_unless_root("pool_list") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let python = venv_python();
    let ran = run(
        &[
            "--max-copied-per-child",
            "10MiB",
            "--",
            &python,
            &example("pool_list.py"),
        ],
        out.path(),
        &[],
    );
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let processes = processes(&ran.result);
    let workers: Vec<&RunProcess> = processes
        .iter()
        .filter(|p| p.kind == ProcessKind::Forked)
        .collect();
    assert_eq!(workers.len(), 4, "{processes:#?}");
    // 256 MiB of list: 6.7 M int objects of 32 bytes (205 MiB) behind 51 MiB of pointers.
    let objects = (256 * MIB / 40) * 32;
    let failed: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("memlab: check failed: --max-copied-per-child"))
        .collect();
    assert_eq!(failed.len(), 1, "{}", ran.stderr);
    for worker in &workers {
        assert!(
            copied(worker) > objects / 2,
            "worker {} copied {} of {objects} bytes of int objects",
            worker.pid,
            copied(worker)
        );
        assert!(
            failed[0].contains(&format!("pid {}", worker.pid)),
            "names worker {}: {}",
            worker.pid,
            failed[0]
        );
    }
    let checks = &body(&ran.result).checks;
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].holds, Some(false));
    assert_eq!(checks[0].offenders.len(), 4);
}

const PIPELINE: &str = r#"
# A pipeline whose parts are subshells (forks of sh, no exec). The first runs `sleep` (fork
# and exec) then a builtin, so that it stays a subshell; the last ends in `cat`, which the shell
# execs in place of the subshell.
(read -r me _ < /proc/self/stat; echo "subshell $me" >> "$LOG"; sleep 1.5; :) | (read -r me _ < /proc/self/stat; echo "reader $me" >> "$LOG"; cat > /dev/null)
# Python (exec'd by a forked sh) forks a child, which forks a grandchild, then exits early.
"$PYTHON" -c '
import os, time
log = open(os.environ["LOG"], "a")
buf = bytearray(32 << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1
child = os.fork()
if child == 0:
    grandchild = os.fork()
    if grandchild == 0:
        for i in range(0, len(buf) // 2, 4096):
            buf[i] = 2  # writes 16 MiB of the buffer: copies them
        print("grandchild", os.getpid(), file=log, flush=True)
        time.sleep(1.2)
        os._exit(0)
    print("child", os.getpid(), file=log, flush=True)
    time.sleep(0.6)
    os._exit(0)  # early, before its own child
print("python", os.getpid(), file=log, flush=True)
os.waitpid(child, 0)
time.sleep(1.2)
'
"#;

#[test]
fn a_pipeline_with_subshells_exec_and_nested_forks_is_followed_completely() {
    if skip_unless_root("pipeline") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("pids.log");
    let python = venv_python();
    let ran = run(
        &["--", "sh", "-c", PIPELINE],
        out.path(),
        &[("LOG", log.to_str().unwrap()), ("PYTHON", &python)],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let log = logged(&log);
    let processes = processes(&ran.result);
    let root = processes
        .iter()
        .find(|p| p.kind == ProcessKind::Command)
        .unwrap();
    assert_eq!(root.depth, 0);

    let subshell = find(&processes, logged_pid(&log, "subshell"));
    assert_eq!(subshell.kind, ProcessKind::Forked, "{subshell:#?}");
    assert_eq!(subshell.parent_pid, Some(root.pid));
    let sleep = processes
        .iter()
        .find(|p| p.parent_pid == Some(subshell.pid))
        .unwrap_or_else(|| panic!("the subshell's sleep: {processes:#?}"));
    assert_eq!(sleep.kind, ProcessKind::Exec);
    assert!(sleep.command.starts_with("sleep"), "{sleep:#?}");
    let reader = find(&processes, logged_pid(&log, "reader"));
    assert_eq!(reader.kind, ProcessKind::Exec, "it exec'd cat: {reader:#?}");
    assert!(reader.command.starts_with("cat"), "{reader:#?}");

    let python = find(&processes, logged_pid(&log, "python"));
    assert_eq!(python.kind, ProcessKind::Exec);
    assert_eq!(python.depth, 1);
    let child = find(&processes, logged_pid(&log, "child"));
    assert_eq!(child.kind, ProcessKind::Forked);
    assert_eq!(child.parent_pid, Some(python.pid));
    assert_eq!(child.depth, 2);
    let grandchild = find(&processes, logged_pid(&log, "grandchild"));
    assert_eq!(grandchild.kind, ProcessKind::Forked);
    assert_eq!(grandchild.parent_pid, Some(child.pid));
    assert_eq!(grandchild.depth, 3);
    // Compared with its own parent, page by page: it copied the 16 MiB it wrote.
    assert!(
        copied(grandchild) >= 16 * MIB,
        "grandchild copied {}",
        copied(grandchild)
    );
    assert!(copied(grandchild) < 20 * MIB);

    // The child exited early and is kept with its last figures, in a phase of the result.
    assert_eq!(child.end, ProcessEnd::Exited);
    let child_gone = child.gone_s.unwrap();
    assert!(
        child_gone < grandchild.gone_s.unwrap() && child_gone < python.gone_s.unwrap(),
        "child {child:#?}\ngrandchild {grandchild:#?}\npython {python:#?}"
    );
    let figures = child.figures.as_ref().unwrap();
    assert!(figures.exact);
    let phase = ran
        .result
        .phase(
            figures
                .phase
                .as_deref()
                .expect("its figures' phase is kept"),
        )
        .unwrap();
    assert!(
        phase
            .processes
            .iter()
            .any(|p| p.pid == child.pid && p.page_truth.is_some()),
        "{}",
        phase.name
    );
    // Every phase is named by the tree's events.
    let names: Vec<&str> = ran.result.phases.iter().map(|p| p.name.as_str()).collect();
    assert!(names[0].starts_with("start"), "{names:?}");
    assert!(names.iter().any(|n| n.contains("end")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("seen-")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("last-")), "{names:?}");
    // Everything exited by itself: nothing killed, nothing left.
    assert!(processes.iter().all(|p| p.end == ProcessEnd::Exited));
    let pids: Vec<i32> = processes.iter().map(|p| p.pid).collect();
    assert!(all_gone_within(&pids, 2.0));
}

/// Starts `memlab run --out DIR -- sh -c SCRIPT` and returns it once the tree has logged
/// `expected` lines, with the command's pid.
/// `--grace` of the trees [`start_tree`] starts.
const GRACE: Duration = Duration::from_secs(3);

fn start_tree(script: &str, out: &Path, log: &Path, expected: usize) -> (Child, i32) {
    let mut child = memlab()
        .args(["run", "--grace", &GRACE.as_secs().to_string(), "--out"])
        .arg(out)
        .args(["--", "sh", "-c", script])
        .env("LOG", log)
        .env("PYTHON", venv_python())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    // "memlab run: following pid 123 (sh -c …); Ctrl-C stops it"
    let command: i32 = line
        .split("following pid ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while logged(log).len() < expected {
        assert!(
            Instant::now() < deadline,
            "the tree never came up: {:?}",
            logged(log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, command)
}

const STUBBORN: &str = r#"
# In the background (SIGINT ignored there, as POSIX shells do), a process that also ignores it
# itself, a Python whose child leaves the process group (setsid), and a sleeper.
(trap '' INT; exec sleep 60) &
echo "ignorer $!" >> "$LOG"
"$PYTHON" -c '
import os, time
if os.fork() == 0:
    os.setsid()
    print("setsid", os.getpid(), file=open(os.environ["LOG"], "a"), flush=True)
    time.sleep(60)
    os._exit(0)
time.sleep(60)' &
echo "python $!" >> "$LOG"
sleep 60 &
echo "sleeper $!" >> "$LOG"
wait
"#;

fn read_result(out: &Path) -> ScenarioResult {
    serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap()
}

#[test]
fn ctrl_c_forwards_the_signal_and_leaves_nothing_running() {
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("pids.log");
    let (mut memlab_run, command) = start_tree(STUBBORN, out.path(), &log, 4);
    let mut everyone: Vec<i32> = logged(&log).iter().map(|(_, pid)| *pid).collect();
    everyone.push(command);
    assert!(everyone.iter().all(|p| alive(*p)), "{everyone:?}");
    kill(Pid::from_raw(memlab_run.id() as i32), Signal::SIGINT).unwrap();
    let status = memlab_run.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        all_gone_within(&everyone, 2.0),
        "left running: {:?}",
        everyone.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
    // The measurement stopped and was saved: every process of the tree is in it.
    let result = read_result(out.path());
    assert_eq!(body(&result).interrupted_by.as_deref(), Some("SIGINT"));
    let processes = processes(&result);
    for pid in &everyone {
        find(&processes, *pid);
    }
    assert_eq!(
        find(&processes, logged_pid(&logged(&log), "setsid")).end,
        ProcessEnd::Killed
    );
}

#[test]
fn a_command_that_ignores_ctrl_c_is_killed_after_the_grace_period() {
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("pids.log");
    let script =
        r#"trap '' INT; echo "shell $$" >> "$LOG"; sleep 60 & echo "sleep $!" >> "$LOG"; wait"#;
    let (mut memlab_run, command) = start_tree(script, out.path(), &log, 2);
    let began = Instant::now();
    kill(Pid::from_raw(memlab_run.id() as i32), Signal::SIGINT).unwrap();
    let status = memlab_run.wait().unwrap();
    let took = began.elapsed();
    assert_eq!(status.code(), Some(130));
    assert!(
        took >= GRACE - Duration::from_millis(100) && took < GRACE + Duration::from_secs(3),
        "took {took:?}"
    );
    let mut everyone: Vec<i32> = logged(&log).iter().map(|(_, pid)| *pid).collect();
    everyone.push(command);
    assert!(all_gone_within(&everyone, 2.0), "{everyone:?}");
    let exit = body(&read_result(out.path())).exit_status.clone().unwrap();
    assert!(exit.killed_by_memlab, "{exit:?}");
}

#[test]
fn memlab_killed_outright_takes_the_command_along() {
    // Orphans are re-parented to this test process and reaped below (not left as zombies).
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("pids.log");
    let script = r#"echo "shell $$" >> "$LOG"; exec sleep 60"#;
    let (mut memlab_run, command) = start_tree(script, out.path(), &log, 1);
    memlab_run.kill().unwrap();
    memlab_run.wait().unwrap();
    // PR_SET_PDEATHSIG: the command dies with memlab.
    let gone = all_gone_within(&[command], 3.0);
    let _ = nix::sys::wait::waitpid(
        Pid::from_raw(command),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    assert!(gone, "command {command} outlived memlab");
}

#[test]
fn the_exit_status_is_passed_through() {
    let out = tempfile::tempdir().unwrap();
    for (script, code) in [
        ("exit 0", 0),
        ("exit 7", 7),
        ("kill -TERM $$", 143),
        ("kill -KILL $$", 137),
    ] {
        let ran = run(&["--", "sh", "-c", script], out.path(), &[]);
        assert_eq!(ran.code, code, "{script}: {}", ran.stderr);
    }
    let output = memlab()
        .args(["run", "--out"])
        .arg(out.path())
        .args(["--", "no-such-command-memlab"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("cannot run 'no-such-command-memlab'"),
        "{text}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        vec!["run"],
        vec!["run", "--pid", "1", "--", "true"],
        vec!["run", "--pid", "1"],
        vec!["run", "--pid", "-4"],
        vec!["run", "--interval", "5", "--", "true"],
        vec!["run", "--name", "../escape", "--", "true"],
        vec!["run", "--max-copied-per-child", "lots", "--", "true"],
    ] {
        let output = memlab().args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {text}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert!(
            text.lines().next().unwrap_or("").contains("error"),
            "{args:?}: {text}"
        );
    }
}

/// A Python process forking `children` children that each hold `seconds`, started by the test.
fn python_tree(children: usize, seconds: f64) -> Child {
    let script = format!(
        "import os, sys, time\n\
         sys.stdout.write('ready\\n'); sys.stdout.flush()\n\
         time.sleep(0.3)\n\
         pids = [os.fork() or (time.sleep({seconds}), os._exit(0)) for _ in range({children})]\n\
         for pid in pids: os.waitpid(pid, 0)\n"
    );
    let mut child = Command::new(venv_python())
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    child
}

#[test]
fn attaching_follows_a_running_tree_to_its_end_without_touching_it() {
    let out = tempfile::tempdir().unwrap();
    let mut tree = python_tree(3, 0.6);
    let pid = tree.id() as i32;
    let ran = run(&["--pid", &pid.to_string()], out.path(), &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(tree.wait().unwrap().success(), "the tree ended by itself");
    let processes = processes(&ran.result);
    assert_eq!(find(&processes, pid).kind, ProcessKind::Attached);
    let children: Vec<&RunProcess> = processes
        .iter()
        .filter(|p| p.parent_pid == Some(pid))
        .collect();
    assert_eq!(children.len(), 3, "{processes:#?}");
    assert!(children.iter().all(|c| c.kind == ProcessKind::Forked));
    assert!(body(&ran.result).exit_status.is_none());
}

#[test]
fn ctrl_c_while_attached_stops_following_and_leaves_the_process_running() {
    let out = tempfile::tempdir().unwrap();
    let mut tree = python_tree(1, 60.0);
    let pid = tree.id() as i32;
    let mut memlab_run = memlab()
        .args(["run", "--out"])
        .arg(out.path())
        .args(["--pid", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    kill(Pid::from_raw(memlab_run.id() as i32), Signal::SIGINT).unwrap();
    let status = memlab_run.wait().unwrap();
    let still = alive(pid);
    let result = read_result(out.path());
    // The test's own tree: ended here, by its pid.
    let children: Vec<i32> = processes(&result)
        .iter()
        .filter(|p| p.parent_pid == Some(pid))
        .map(|p| p.pid)
        .collect();
    for child in &children {
        let _ = kill(Pid::from_raw(*child), Signal::SIGKILL);
    }
    // Its child killed, the root (waiting for it) reaps it and ends.
    let ended = tree.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(ended.success());
    assert!(still, "memlab must not touch an attached process");
    assert_eq!(children.len(), 1);
    assert_eq!(find(&processes(&result), pid).end, ProcessEnd::Running);
}

#[test]
fn the_tree_unique_check_fails_with_the_largest_process_named() {
    if skip_unless_root("max-tree-unique") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let python = venv_python();
    let script = "import time; b = bytearray(64 << 20); b[::4096] = b'x' * (len(b) // 4096); time.sleep(0.5)";
    let ran = run(
        &["--max-tree-unique", "32MiB", "--", &python, "-c", script],
        out.path(),
        &[],
    );
    assert_eq!(ran.code, 3, "{}", ran.stderr);
    let root = body(&ran.result).processes[0].pid;
    let failed = ran
        .stderr
        .lines()
        .find(|l| l.starts_with("memlab: check failed: --max-tree-unique"))
        .unwrap_or_else(|| panic!("{}", ran.stderr));
    assert!(failed.contains(&format!("pid {root}")), "{failed}");
    let ran = run(
        &["--max-tree-unique", "1GiB", "--", &python, "-c", script],
        out.path(),
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn what_the_command_leaves_running_is_named_in_one_line_then_killed() {
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("pids.log");
    let ran = run(
        &[
            "--",
            "sh",
            "-c",
            r#"sleep 30 & echo "sleep $!" >> "$LOG"; sleep 0.5; exit 0"#,
        ],
        out.path(),
        &[("LOG", log.to_str().unwrap())],
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let sleep = logged_pid(&logged(&log), "sleep");
    let lines: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains("the command exited leaving"))
        .collect();
    assert_eq!(
        lines,
        [format!(
            "memlab run: the command exited leaving 1 process running: {sleep} (sleep 30); \
             memlab killed it (to measure a daemon or a server that outlives its command, \
             run with --keep or follow it with --pid)"
        )],
        "{}",
        ran.stderr
    );
    let processes = processes(&ran.result);
    assert_eq!(find(&processes, sleep).end, ProcessEnd::Killed);
    assert!(all_gone_within(&[sleep], 2.0));
}

/// memlab's passes yield to the measured tree, not to everyone: with other programs on every
/// core and a tree that leaves them unused, a pass is not left waiting for a free core. A worker
/// that copies 16 MiB a little after its first sighting and exits 0.45 s later is measured with
/// its copy (a pass waiting for a core the spinners keep would have waited past its exit).
#[test]
fn a_short_lived_worker_is_measured_while_other_programs_keep_every_core_busy() {
    if skip_unless_root("short-lived worker") {
        return;
    }
    let spinners = Spinners::on_every_core();
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("pids.log");
    let script = r#"
import os, sys, time
log = open(sys.argv[1], "a")
buf = bytearray(32 << 20)
child = os.fork()
if child == 0:
    print("child", os.getpid(), file=log, flush=True)
    time.sleep(0.15)  # its first sighting's pass comes before the copy
    for i in range(0, 16 << 20, 4096):
        buf[i] = 1
    time.sleep(0.45)
    os._exit(0)
os.waitpid(child, 0)
time.sleep(0.3)
"#;
    let python = venv_python();
    let ran = run(
        &["--", &python, "-c", script, log.to_str().unwrap()],
        out.path(),
        &[],
    );
    drop(spinners);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let processes = processes(&ran.result);
    let child = find(&processes, logged_pid(&logged(&log), "child"));
    assert_eq!(child.kind, ProcessKind::Forked);
    assert!(
        child.figures.as_ref().is_some_and(|f| f.exact),
        "{child:#?}"
    );
    assert!(copied(child) >= 16 * MIB, "copied {}", copied(child));
    assert!(copied(child) < 20 * MIB, "copied {}", copied(child));
}
