//! Failure paths: nothing is left behind, and every failure is one clear line and the
//! documented exit code.

mod common;

use std::io::{BufReader, Write};
use std::process::Child;

use common::{alive, all_gone_within, memlab, stderr_of};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn start_paused(phase: &str) -> (Child, i32, Vec<i32>, BufReader<std::process::ChildStderr>) {
    common::start_paused("array-read", &["--size", "16MiB", "--children", "3"], phase)
}

fn rest_of(mut stderr: BufReader<std::process::ChildStderr>) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
    text
}

#[test]
fn a_child_killed_by_sigkill_fails_the_run_naming_the_signal() {
    let (mut memlab, workload, children, stderr) = start_paused("forked");
    assert_eq!(children.len(), 3);
    kill(Pid::from_raw(children[1]), Signal::SIGKILL).unwrap();
    memlab.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let status = memlab.wait().unwrap();
    let text = rest_of(stderr);
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("killed by SIGKILL"), "{text}");
    assert!(
        text.contains(&children[1].to_string()),
        "names the child: {text}"
    );
    let mut everyone = children.clone();
    everyone.push(workload);
    assert!(all_gone_within(&everyone, 2.0), "left behind: {everyone:?}");
}

#[test]
fn ctrl_c_in_the_middle_of_a_phase_kills_the_tree() {
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let (mut memlab, workload, children, stderr) = start_paused("forked");
        kill(Pid::from_raw(memlab.id() as i32), signal).unwrap();
        let status = memlab.wait().unwrap();
        let text = rest_of(stderr);
        assert_eq!(status.code(), Some(code), "{signal}: {text}");
        assert!(text.contains("interrupted by"), "{text}");
        let mut everyone = children.clone();
        everyone.push(workload);
        assert!(
            all_gone_within(&everyone, 2.0),
            "{signal}: left behind {everyone:?}"
        );
    }
}

#[test]
fn memlab_killed_outright_takes_its_workload_along() {
    // Become the subreaper so the orphans are re-parented here and reaped below, rather than
    // left as zombies under an init that may not reap (as in containers).
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let (mut memlab, workload, children, _stderr) = start_paused("forked");
    memlab.kill().unwrap();
    memlab.wait().unwrap();
    let mut everyone = children.clone();
    everyone.push(workload);
    // PR_SET_PDEATHSIG: the workload dies with memlab, its children with it.
    let gone = all_gone_within(&everyone, 3.0);
    for pid in &everyone {
        let _ = nix::sys::wait::waitpid(
            Pid::from_raw(*pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
    assert!(
        gone,
        "left behind: {:?}",
        everyone.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

fn run_custom_workload(script: &str, timeout: &str) -> std::process::Output {
    let out = tempfile::tempdir().unwrap();
    memlab()
        .args([
            "scenario",
            "array-read",
            "--size",
            "1MiB",
            "--timeout",
            timeout,
            "--out",
        ])
        .arg(out.path())
        .args(["--workload-cmd", "sh", "-c", script])
        .output()
        .unwrap()
}

const HELLO: &str = r#"echo '{"msg":"hello","protocol":1,"workload":"sh","pid":1}'"#;

#[test]
fn a_malformed_protocol_line_is_one_clear_error() {
    let output = run_custom_workload(&format!("{HELLO}; echo 'this is not json'; sleep 30"), "60");
    let text = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("memlab: error: protocol error"), "{text}");
    assert!(last.contains("this is not json"), "quotes the line: {text}");
}

#[test]
fn a_wrong_protocol_version_or_missing_hello_is_refused() {
    let output = run_custom_workload(
        r#"echo '{"msg":"hello","protocol":99,"workload":"sh","pid":1}'; sleep 30"#,
        "60",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("protocol version 99"),
        "{}",
        stderr_of(&output)
    );
    let output = run_custom_workload(
        r#"echo '{"msg":"phase","name":"allocated"}'; sleep 30"#,
        "60",
    );
    assert!(
        stderr_of(&output).contains("first message must be 'hello'"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_silent_workload_times_out_instead_of_hanging() {
    let started = std::time::Instant::now();
    let output = run_custom_workload(&format!("{HELLO}; sleep 60"), "1");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("timeout"),
        "{}",
        stderr_of(&output)
    );
    assert!(started.elapsed().as_secs() < 30);
}

#[test]
fn a_workload_that_dies_mid_protocol_is_named_with_its_signal() {
    let output = run_custom_workload(&format!("{HELLO}; kill -9 $$"), "60");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr_of(&output).contains("was killed by SIGKILL"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        vec!["scenario", "refcount-lst"],
        vec!["scenario", "array-read", "--children", "0"],
        vec!["scenario", "array-read", "--size", "lots"],
        vec!["scenario", "array-write", "--fraction", "2"],
    ] {
        let output = memlab().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let text = stderr_of(&output);
        assert!(output.stdout.is_empty(), "{args:?}");
        let first = text.lines().next().unwrap_or_default();
        assert!(first.contains("error"), "{args:?}: {text}");
    }
    let text = stderr_of(
        &memlab()
            .args(["scenario", "refcount-lst"])
            .output()
            .unwrap(),
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("did you mean 'refcount-list'"), "{text}");
}

#[test]
fn a_workload_that_forks_nothing_proves_nothing() {
    let out = tempfile::tempdir().unwrap();
    let output = memlab()
        .args(["scenario", "array-read", "--size", "1MiB", "--json", "--out"])
        .arg(out.path())
        .args(["--workload-cmd", "sh", "-c"])
        .arg(format!(r#"{HELLO}; echo '{{"msg":"phase","name":"baseline"}}'; read -r go; echo '{{"msg":"done"}}'"#))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let claim = &result["claims"][0];
    assert!(claim["holds"].is_null(), "{claim}");
    assert_eq!(
        claim["note"],
        "no child was measured both before and after its operation"
    );
}

#[test]
fn the_preflight_guard_refuses_a_run_that_would_not_fit() {
    // 20 GiB of data copied by 4 children cannot fit in any machine this runs on.
    let output = memlab()
        .args([
            "scenario",
            "serialized-copy",
            "--size",
            "20GiB",
            "--children",
            "4",
        ])
        .output()
        .unwrap();
    let text = stderr_of(&output);
    if text.contains("larger than this machine's memory") {
        eprintln!("skipped: this machine has less than 20 GiB, the usage check answered first");
        return;
    }
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("refusing to run 'serialized-copy'"), "{text}");
}
