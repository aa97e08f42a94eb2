//! Helpers shared by the integration tests: run the real binary, read its real results.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub fn memlab() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("memlab"))
}

/// Runs `memlab scenario NAME ARGS… --json --out DIR` and returns (exit code, result JSON).
pub fn run_scenario(name: &str, args: &[&str], out: &Path) -> (i32, Value) {
    let output = memlab()
        .args(["scenario", name, "--json", "--out"])
        .arg(out)
        .args(args)
        .output()
        .expect("memlab runs");
    let code = output.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(&stdout).unwrap_or_else(|error| {
        panic!(
            "stdout of {name} {args:?} is not JSON ({error}); exit {code}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, result)
}

pub fn claim<'a>(result: &'a Value, short_id: &str) -> &'a Value {
    let id = format!("{}/{short_id}", result["scenario"].as_str().unwrap());
    result["claims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap_or_else(|| panic!("no claim {id} in {}", result["claims"]))
}

pub fn copied_per_child(result: &Value) -> Vec<u64> {
    result["summary"]["copied_bytes_per_child"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect()
}

pub fn fact(result: &Value, name: &str) -> f64 {
    result["facts"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no fact {name}"))
}

/// Whether a pid is a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Waits up to `seconds` for every pid to be gone.
pub fn all_gone_within(pids: &[i32], seconds: f64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    loop {
        if pids.iter().all(|p| !alive(*p)) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The page truth of child `index` (1-based) in the phase the summary reports.
pub fn child_truth(result: &Value, index: u64) -> &Value {
    let phase_name = result["summary"]["phase"].as_str().unwrap();
    let phase = result["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == phase_name)
        .unwrap();
    let child = phase["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "child" && p["child_index"] == index)
        .unwrap_or_else(|| panic!("no child {index}"));
    &child["page_truth"]
}

/// Pages of `region` child `index` copied from its parent (page truth).
pub fn region_copied_pages(result: &Value, index: u64, region: &str) -> u64 {
    let truth = child_truth(result, index);
    let found = truth["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == region);
    found.unwrap_or_else(|| panic!("no region {region} in {truth}"))["copied_pages"]
        .as_u64()
        .unwrap()
}

/// True (and says why) when a test needs root for exact page truth and does not have it.
pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipped {test}: exact page truth needs root");
    true
}

pub fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Starts `memlab scenario NAME ARGS… --pause-at PHASE` and returns it once paused, with the
/// workload's pid, its children's pids, and the rest of its stderr.
pub fn start_paused(
    name: &str,
    args: &[&str],
    phase: &str,
) -> (
    std::process::Child,
    i32,
    Vec<i32>,
    std::io::BufReader<std::process::ChildStderr>,
) {
    use std::io::BufRead;
    use std::process::Stdio;
    let out = tempfile::tempdir().unwrap();
    let mut child = memlab()
        .args(["scenario", name])
        .args(args)
        .args(["--pause-at", phase, "--out"])
        .arg(out.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "memlab ended before pausing"
        );
        if line.starts_with("paused at phase") {
            break;
        }
    }
    // "paused at phase 'forked': workload pid 123, children [124, 125]; press Enter…"
    let workload: i32 = line
        .split("workload pid ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let inside = line.split('[').nth(1).unwrap().split(']').next().unwrap();
    let children: Vec<i32> = inside
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (child, workload, children, stderr)
}

/// The path of an example program in experiments/examples.
pub fn example(name: &str) -> String {
    format!("{}/experiments/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The project's .venv interpreter (created by `make test`, with numpy).
pub fn venv_python() -> String {
    let path = format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR"));
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: run the tests through `make test`, which creates it with numpy"
    );
    path
}

/// Writes a suite file into `dir` and returns its path.
pub fn write_suite(dir: &Path, json: &str) -> std::path::PathBuf {
    let path = dir.join("suite.json");
    std::fs::write(&path, json).unwrap();
    path
}

/// Runs `memlab ARGS…` and returns (exit code, stdout, stderr).
pub fn run_memlab(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let output = memlab().args(args).output().expect("memlab runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Reads a result file as JSON.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes JSON back (pretty, as memlab does).
pub fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// Values written by the test scripts, one `name value` per line (pids, mostly).
pub fn logged(path: &Path) -> Vec<(String, i32)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// Runs `memlab run --json --out OUT -- .venv/bin/python -c CODE ARGS…`, which must exit 0, and
/// returns its result.
pub fn follow_python(code: &str, args: &[&str], out: &Path) -> memlab::result::ScenarioResult {
    let output = memlab()
        .args(["run", "--json", "--out"])
        .arg(out)
        .args(["--", &venv_python(), "-c", code])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("memlab runs");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    serde_json::from_slice(&output.stdout).expect("a result")
}

/// The value logged under `name`.
pub fn logged_pid(log: &[(String, i32)], name: &str) -> i32 {
    log.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {log:?}"))
        .1
}

/// Processes outside memlab's tree that keep every core busy, killed when dropped.
pub struct Spinners(Vec<std::process::Child>);

impl Spinners {
    pub fn on_every_core() -> Spinners {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Spinners(
            (0..cores)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        for spinner in &mut self.0 {
            let _ = spinner.kill();
            let _ = spinner.wait();
        }
    }
}
