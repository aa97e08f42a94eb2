//! Regressions of the hostile-user review (docs/reliability.md): each test drives the real
//! binary the way the review did and asserts the promise that now holds.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{is_root, memlab, stderr_of};

/// `setpriv` drops to an unprivileged user for real (util-linux, on any Debian).
fn setpriv() -> Option<PathBuf> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs `argv` as uid/gid 65534 (nobody).
fn as_nobody(argv: &[&str]) -> std::process::Output {
    Command::new(setpriv().expect("setpriv"))
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(argv)
        .output()
        .unwrap()
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// One line on stderr, starting `memlab: error:`, and the expected exit code.
fn assert_one_line(output: &std::process::Output, code: i32, needle: &str) {
    let stderr = stderr_of(output);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert_eq!(lines.len(), 1, "one line expected:\n{stderr}");
    assert!(lines[0].starts_with("memlab: error: "), "{stderr}");
    assert!(lines[0].contains(needle), "'{needle}' not in: {stderr}");
}

#[test]
fn results_are_never_written_through_a_planted_symlink() {
    if !is_root() || setpriv().is_none() {
        eprintln!("skipped: needs root and setpriv to plant links as another user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // A root-owned file outside the output directory, and a shared directory like /tmp.
    let precious = tmp.path().join("precious");
    std::fs::write(&precious, "root's data\n").unwrap();
    std::fs::set_permissions(&precious, std::fs::Permissions::from_mode(0o600)).unwrap();
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    // Another user plants links at every name memlab writes: the results and the reports.
    let names = [
        "array-write.json",
        "refcount-list.json",
        "report.html",
        "report.md",
        "compare.md",
    ];
    for name in names {
        let link = shared.join(name);
        let planted = as_nobody(&[
            "ln",
            "-s",
            precious.to_str().unwrap(),
            link.to_str().unwrap(),
        ]);
        assert!(planted.status.success(), "{}", stderr_of(&planted));
    }
    // Old-style temporary names too (`.NAME.PID.tmp`), for the next few pids.
    let next_pid = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(1000);
    for pid in next_pid..next_pid + 20 {
        let link = shared.join(format!(".array-write.json.{pid}.tmp"));
        as_nobody(&[
            "ln",
            "-s",
            precious.to_str().unwrap(),
            link.to_str().unwrap(),
        ]);
    }

    let baseline = fixture("compare/baseline");
    let saved = memlab()
        .args(["baseline", "save"])
        .arg(&shared)
        .arg(baseline.join("array-write.json"))
        .arg(baseline.join("refcount-list.json"))
        .output()
        .unwrap();
    assert!(saved.status.success(), "{}", stderr_of(&saved));
    let reported = memlab()
        .arg("report")
        .arg(&shared)
        .arg("--out")
        .arg(&shared)
        .arg("--plots")
        .arg(tmp.path().join("plots"))
        .output()
        .unwrap();
    assert!(reported.status.success(), "{}", stderr_of(&reported));
    let compared = memlab()
        .arg("compare")
        .arg(&baseline)
        .arg(&shared)
        .arg("--markdown")
        .arg(shared.join("compare.md"))
        .output()
        .unwrap();
    assert!(compared.status.code().is_some(), "{}", stderr_of(&compared));

    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "root's data\n");
    assert_eq!(
        std::fs::metadata(&precious).unwrap().permissions().mode() & 0o777,
        0o600
    );
    for name in names {
        let metadata = std::fs::symlink_metadata(shared.join(name)).unwrap();
        assert!(!metadata.is_symlink(), "{name} is still a link");
    }
}

#[test]
fn a_world_writable_output_directory_without_sticky_bit_is_refused_before_running() {
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let started = std::time::Instant::now();
    let output = memlab()
        .args([
            "scenario",
            "array-read",
            "--size",
            "8MiB",
            "--children",
            "1",
        ])
        .arg("--out")
        .arg(&open)
        .output()
        .unwrap();
    assert_one_line(&output, 1, "writable by every user");
    // Refused up front: no workload ran.
    assert!(started.elapsed().as_secs_f64() < 2.0);
    assert!(std::fs::read_dir(&open).unwrap().next().is_none());
}

/// A workload of the user's own (docs/protocol.md) that declares its data region at an address
/// it never mapped, then forks a child and goes through the usual phases.
const UNMAPPED_REGION_WORKLOAD: &str = r#"
import ctypes, json, mmap, os, sys
def send(message):
    sys.stdout.write(json.dumps(message) + "\n"); sys.stdout.flush()
def phase(name):
    send({"msg": "phase", "name": name}); sys.stdin.readline()
send({"msg": "hello", "protocol": 1, "workload": "unmapped-region", "pid": os.getpid()})
phase("baseline")
data = mmap.mmap(-1, 16 << 20)
data.write(b"x" * (16 << 20))
send({"msg": "region", "name": "data", "start": 1 << 16, "end": (1 << 16) + (16 << 20)})
phase("allocated")
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)
    os.close(w); os.read(r, 1); os._exit(0)
send({"msg": "children", "pids": [pid]})
phase("forked")
phase("operated")
os.close(w); os.waitpid(pid, 0)
send({"msg": "done"})
"#;

#[test]
fn a_region_declared_where_nothing_is_mapped_gets_no_verdict() {
    let out = tempfile::tempdir().unwrap();
    let output = memlab()
        .args([
            "scenario",
            "array-read",
            "--size",
            "16MiB",
            "--children",
            "1",
        ])
        .args(["--json", "--out"])
        .arg(out.path())
        .args(["--workload-cmd", "python3", "-c", UNMAPPED_REGION_WORKLOAD])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let claim = common::claim(&result, "data-shared");
    assert!(claim["holds"].is_null(), "{claim}");
    let note = claim["note"].as_str().unwrap_or_default();
    assert!(note.contains("holds no page of the parent"), "{note}");
}

/// `memlab scenario array-read` with a workload of the user's own, written in sh.
fn run_sh_workload(script: &str) -> std::process::Output {
    let out = tempfile::tempdir().unwrap();
    memlab()
        .args([
            "scenario",
            "array-read",
            "--size",
            "1MiB",
            "--timeout",
            "60",
        ])
        .arg("--out")
        .arg(out.path())
        .args(["--workload-cmd", "sh", "-c", script])
        .output()
        .unwrap()
}

const HELLO: &str = r#"echo '{"msg":"hello","protocol":1,"workload":"sh","pid":1}'"#;

#[test]
fn a_workload_cannot_point_memlab_at_processes_outside_its_tree() {
    // pid 1 (init), and a process memlab did not start: the test's own.
    for pid in [1, std::process::id()] {
        let output = run_sh_workload(&format!(
            r#"{HELLO}; echo '{{"msg":"children","pids":[{pid}]}}'; sleep 30"#
        ));
        assert_one_line(&output, 1, &format!("announced child pid {pid}"));
        assert!(stderr_of(&output).contains("not a process of the workload's tree"));
    }
}

#[test]
fn protocol_volume_is_capped_with_one_clear_error() {
    // 600 facts of 8 KiB each: more facts than the protocol allows.
    let fact = "x".repeat(8 << 10);
    let script = format!(
        r#"{HELLO}; i=0; while [ $i -lt 600 ]; do echo "{{\"msg\":\"fact\",\"name\":\"f$i\",\"value\":\"{fact}\"}}"; i=$((i+1)); done; sleep 30"#
    );
    let output = run_sh_workload(&script);
    assert_one_line(&output, 1, "the protocol's limit per run");
}

#[test]
fn a_workload_flooding_its_pipe_after_done_is_named_for_that() {
    let script = format!(r#"{HELLO}; echo '{{"msg":"done"}}'; while true; do echo noise; done"#);
    let started = std::time::Instant::now();
    let output = run_sh_workload(&script);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("said done but was still running 30 s later"),
        "{stderr}"
    );
    assert!(
        stderr.contains("still writing to its protocol pipe"),
        "{stderr}"
    );
    assert!(!stderr.contains("sent nothing"), "{stderr}");
    assert!(started.elapsed().as_secs() < 45);
}

#[test]
fn run_pid_of_a_process_memlab_may_not_read_is_one_line_and_never_zero_figures() {
    if !is_root() || setpriv().is_none() {
        eprintln!("skipped: needs root (to own the process) and setpriv (to drop to nobody)");
        return;
    }
    let mut root_process = Command::new("sleep").arg("30").spawn().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::set_permissions(out.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let pid = root_process.id().to_string();
    let output = as_nobody(&[
        env!("CARGO_BIN_EXE_memlab"),
        "run",
        "--pid",
        &pid,
        "--out",
        out.path().to_str().unwrap(),
    ]);
    root_process.kill().unwrap();
    root_process.wait().unwrap();
    assert_one_line(&output, 1, "may not read that process's memory");
    // Nothing written: no result with figures of 0.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn an_interrupted_suite_leaves_a_marker_naming_its_stale_results() {
    use common::write_suite;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let suite = write_suite(
        tmp.path(),
        r#"{ "scenarios": [
            { "scenario": "array-read", "size": "1MiB", "children": 1 },
            { "scenario": "refcount-list", "size": "8MiB", "children": 1 }
        ] }"#,
    );
    let run = |interrupt: bool| {
        let mut child = memlab()
            .args(["suite", "--suite"])
            .arg(&suite)
            .arg("--out")
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if interrupt {
            // Ctrl-C once the first result is written and the second is running.
            let first = out.join("array-read.json");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !(first.exists()
                && std::fs::read_to_string(out.join("memlab-incomplete.txt"))
                    .is_ok_and(|t| t.contains("written array-read.json")))
            {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the suite never wrote"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            )
            .unwrap();
        }
        child.wait().unwrap()
    };
    // A complete run leaves no marker.
    assert!(run(false).success());
    let marker = out.join("memlab-incomplete.txt");
    assert!(!marker.exists());
    // An interrupted one says the first result is this run's and the second is stale.
    let status = run(true);
    assert_eq!(status.code(), Some(130));
    let text = std::fs::read_to_string(&marker).unwrap();
    assert!(text.contains("written array-read.json"), "{text}");
    assert!(text.contains("stale refcount-list.json"), "{text}");
    // The report still reads both, and says which is stale.
    let report = tmp.path().join("report");
    let output = memlab()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&report)
        .arg("--plots")
        .arg(report.join("plots"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("stale (from an earlier run): refcount-list.json"),
        "{}",
        stderr_of(&output)
    );
    let markdown = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(markdown.contains("did not finish (memlab-incomplete.txt)"));
}

#[test]
fn a_fifo_given_as_a_result_is_refused_at_once_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("result.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let good = fixture("report/results/array-read.json");
    for args in [
        vec![
            "compare".to_string(),
            good.display().to_string(),
            fifo.display().to_string(),
        ],
        vec!["report".to_string(), fifo.display().to_string()],
    ] {
        // Nobody ever writes the FIFO: reading it would block forever.
        let mut child = memlab()
            .args(&args)
            .current_dir(tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("memlab {args:?} hangs on a FIFO");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        assert_one_line(&output, 1, "not a regular file");
    }
}
