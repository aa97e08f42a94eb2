//! `memlab run` on a real server: gunicorn with `--preload` and 2 sync workers serving a Flask
//! app whose data live in module globals (experiments/examples/gunicorn_app/app.py), a bounded
//! number of requests over 127.0.0.1, then Ctrl-C. Checks the headline moment (the steady
//! state, not the teardown), the copies a full collection makes and `gc.freeze()` prevents,
//! the peak phase, and that nothing is left running. Needs root (page truth) and gunicorn in
//! the test venv; each test says why when it cannot run.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{alive, all_gone_within, is_root, memlab};
use memlab::result::ScenarioResult;
use memlab::result::run::{FigureMoment, Figures, ProcessKind, RunBody, RunProcess};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

const WORKERS: usize = 2;
/// `/sum` answers each worker gives before the measurement counts as steady.
const SUMS_PER_WORKER: usize = 5;
/// Requests sent at most to reach every worker (each picks the next connection at random).
const MAX_REQUESTS: usize = 200;
/// After the last request: enough for several page-truth passes (default interval 200 ms).
const SETTLE: Duration = Duration::from_millis(1500);

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/examples/gunicorn_app")
}

fn venv_bin(program: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(program)
}

/// Why the server tests cannot run here, if they cannot.
fn cannot_run() -> Option<String> {
    if !is_root() {
        return Some("exact page truth needs root".into());
    }
    let python = venv_bin("python");
    if !python.exists() {
        return Some(format!(
            "{} is missing (make .venv/.numpy)",
            python.display()
        ));
    }
    let imports = Command::new(&python)
        .args(["-c", "import gunicorn, flask"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(imports, Ok(status) if status.success()) || !venv_bin("gunicorn").exists() {
        return Some(format!(
            "gunicorn and flask are not importable by {} (make .venv/.numpy installs them)",
            python.display()
        ));
    }
    None
}

fn skip(test: &str) -> bool {
    match cannot_run() {
        Some(reason) => {
            eprintln!("skipped {test}: {reason}");
            true
        }
        None => false,
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET PATH` in plain HTTP/1.0; the JSON body, or None when the server does not answer (yet).
fn get(port: u16, path: &str) -> Option<Value> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{response}"
    );
    Some(serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")))
}

/// A `memlab run` of the server, its output in a temporary directory.
struct Server {
    memlab: Child,
    port: u16,
    out: tempfile::TempDir,
    started: Instant,
}

impl Server {
    fn start(freeze: bool) -> Server {
        let out = tempfile::tempdir().unwrap();
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(out.path().join("memlab.log")).unwrap();
        let started = Instant::now();
        let memlab = memlab()
            .args(["run", "--out"])
            .arg(out.path())
            .arg("--")
            .arg(venv_bin("gunicorn"))
            // No control socket: its default path is shared by every gunicorn of the user.
            .args([
                "--no-control-socket",
                "--preload",
                "-w",
                &WORKERS.to_string(),
                "-b",
                &bind,
                "--chdir",
            ])
            .arg(app_dir())
            .arg("app:app")
            .env("FREEZE", if freeze { "1" } else { "0" })
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            memlab,
            port,
            out,
            started,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(port, "/info").is_none() {
            if let Some(status) = server.memlab.try_wait().unwrap() {
                panic!(
                    "memlab ended ({status}) before the server served:\n{}",
                    server.log()
                );
            }
            assert!(Instant::now() < deadline, "never served:\n{}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.out.path().join("memlab.log")).unwrap_or_default()
    }

    /// Sends `GET PATH` until every worker answered it `times` times; answers per worker pid.
    /// Two requests at a time: while one worker serves the first, the second goes to another
    /// (one at a time, a busy machine can let the same worker win every accept).
    fn hit_every_worker(&self, path: &str, times: usize) -> BTreeMap<i32, usize> {
        let mut answers: BTreeMap<i32, usize> = BTreeMap::new();
        for _ in 0..MAX_REQUESTS / 2 {
            if answers.len() == WORKERS && answers.values().all(|n| *n >= times) {
                return answers;
            }
            let port = self.port;
            let pair: Vec<_> = (0..2)
                .map(|_| {
                    let path = path.to_string();
                    std::thread::spawn(move || get(port, &path))
                })
                .collect();
            for request in pair {
                let body = request
                    .join()
                    .unwrap()
                    .unwrap_or_else(|| panic!("{path} unanswered"));
                *answers
                    .entry(body["pid"].as_i64().unwrap() as i32)
                    .or_default() += 1;
            }
        }
        panic!(
            "{MAX_REQUESTS} requests to {path} did not reach every worker {times} times: {answers:?}"
        );
    }

    /// Seconds since memlab started (an upper bound of its own clock).
    fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Ctrl-C to memlab, which forwards it to gunicorn (a quick shutdown); the result.
    /// Also the time of the Ctrl-C, on the test's clock (memlab's starts later).
    fn stop(&mut self) -> (ScenarioResult, String, f64) {
        let interrupted_s = self.elapsed_s();
        kill(Pid::from_raw(self.memlab.id() as i32), Signal::SIGINT).unwrap();
        let deadline = Instant::now() + Duration::from_secs(45);
        let status = loop {
            if let Some(status) = self.memlab.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                self.memlab.kill().unwrap();
                self.memlab.wait().unwrap();
                panic!("memlab still running 45 s after Ctrl-C:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = self.log();
        assert!(
            status.code().is_some(),
            "memlab died of a signal: {status}\n{log}"
        );
        let result: ScenarioResult = serde_json::from_str(
            &std::fs::read_to_string(self.out.path().join("run.json"))
                .unwrap_or_else(|e| panic!("no result ({e}):\n{log}")),
        )
        .unwrap();
        let left = ps_holding(&format!("127.0.0.1:{}", self.port));
        assert!(left.is_empty(), "left running after memlab exited:\n{left}");
        (result, log, interrupted_s)
    }
}

/// However the test ends: Ctrl-C to memlab if it still runs (it stops the server), then SIGKILL
/// (the server dies with memlab, its workers when they see their master gone).
impl Drop for Server {
    fn drop(&mut self) {
        if !matches!(self.memlab.try_wait(), Ok(None)) {
            return;
        }
        let _ = kill(Pid::from_raw(self.memlab.id() as i32), Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if !matches!(self.memlab.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.memlab.kill();
        let _ = self.memlab.wait();
    }
}

/// `ps` lines whose command names `needle` (the server's bind address).
fn ps_holding(needle: &str) -> String {
    let ps = Command::new("ps")
        .args(["-eo", "pid,ppid,stat,args"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|line| line.contains(needle))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn body(result: &ScenarioResult) -> &RunBody {
    result.run.as_ref().expect("a run result has a run body")
}

fn process(result: &ScenarioResult, pid: i32) -> &RunProcess {
    body(result)
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} not followed: {:#?}", body(result).processes))
}

fn headline_figures(process: &RunProcess) -> &Figures {
    process
        .figures
        .as_ref()
        .unwrap_or_else(|| panic!("no figures: {process:#?}"))
}

fn teardown(result: &ScenarioResult, phase: &str) -> bool {
    body(result)
        .phase_notes
        .iter()
        .any(|note| note.phase == phase && note.teardown)
}

/// Checks that hold on every run: the workers are the command's forked children with exact
/// figures at the headline moment, taken after the last request and before the teardown;
/// the peak phase is the pass with the largest ΣPSS; every process of the tree is gone.
/// Returns each worker's copied bytes at the headline moment.
fn check_run(
    result: &ScenarioResult,
    workers: &[i32],
    last_request_s: f64,
    interrupted_s: f64,
) -> Vec<u64> {
    let run = body(result);
    let headline = run.headline.as_ref().expect("a headline moment");
    assert!(
        headline.time_s > last_request_s,
        "headline at {:.2} s, before the last request ({last_request_s:.2} s)",
        headline.time_s
    );
    assert!(
        headline.time_s < interrupted_s,
        "headline at {:.2} s, after the Ctrl-C ({interrupted_s:.2} s)",
        headline.time_s
    );
    assert!(
        !teardown(result, &headline.phase),
        "headline {headline:?} is a teardown pass"
    );
    assert_eq!(result.summary.phase, headline.phase);
    let command = run
        .processes
        .iter()
        .find(|p| p.kind == ProcessKind::Command)
        .expect("the command");
    let mut copied = Vec::new();
    for pid in workers {
        let worker = process(result, *pid);
        assert_eq!(worker.kind, ProcessKind::Forked, "{worker:#?}");
        assert_eq!(worker.parent_pid, Some(command.pid));
        let figures = headline_figures(worker);
        assert_eq!(figures.moment, Some(FigureMoment::Headline), "{figures:#?}");
        assert_eq!(figures.phase.as_deref(), Some(headline.phase.as_str()));
        assert!(figures.exact, "{figures:#?}");
        // The headline figure is the page truth stored in the headline phase.
        let phase = result
            .phases
            .iter()
            .find(|p| p.name == headline.phase)
            .expect("the headline phase is kept");
        let truth = phase
            .processes
            .iter()
            .find(|p| p.pid == *pid)
            .and_then(|p| p.page_truth.as_ref())
            .unwrap_or_else(|| panic!("no page truth of {pid} in {}", phase.name));
        assert_eq!(
            truth.total.copied_pages * truth.page_size_bytes,
            figures.copied_bytes
        );
        copied.push(figures.copied_bytes);
    }
    // The peak is the largest ΣPSS of all passes whose unique footprint was read (as root),
    // teardown included.
    let largest = result
        .phases
        .iter()
        .filter(|p| p.tree.unique_bytes.is_some())
        .map(|p| p.tree.pss_bytes)
        .max()
        .expect("phases");
    let peak_name = run.peak_phase.as_deref().expect("a peak phase");
    let peak = result
        .phases
        .iter()
        .find(|p| p.name == peak_name)
        .expect("the peak phase is kept");
    assert_eq!(peak.tree.pss_bytes, largest, "peak {peak_name}");
    assert_eq!(result.summary.tree_pss_bytes, largest);
    // Nothing of the tree outlived memlab.
    let pids: Vec<i32> = run.processes.iter().map(|p| p.pid).collect();
    assert!(pids.len() > WORKERS, "{pids:?}");
    assert!(
        all_gone_within(&pids, 1.0),
        "left running: {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
    copied
}

struct Served {
    result: ScenarioResult,
    copied: Vec<u64>,
    info: Value,
}

/// One run: `/sum` on every worker, then `/gc` on every worker when `collect`, then Ctrl-C.
fn serve(freeze: bool, collect: bool) -> Served {
    let mut server = Server::start(freeze);
    let info = get(server.port, "/info").unwrap();
    let mut workers: Vec<i32> = server
        .hit_every_worker("/sum", SUMS_PER_WORKER)
        .into_keys()
        .collect();
    if collect {
        let collected: Vec<i32> = server.hit_every_worker("/gc", 1).into_keys().collect();
        assert_eq!(collected, workers, "the same workers answered /sum and /gc");
    }
    let last_request_s = server.elapsed_s();
    std::thread::sleep(SETTLE);
    let (result, log, interrupted_s) = server.stop();
    workers.sort();
    eprintln!("FREEZE={} /gc={collect}:\n{log}", u8::from(freeze));
    let copied = check_run(&result, &workers, last_request_s, interrupted_s);
    Served {
        result,
        copied,
        info,
    }
}

fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

#[test]
fn gunicorn_workers_copy_the_object_headers_on_gc_unless_frozen() {
    if skip("gunicorn_workers_copy_the_object_headers_on_gc_unless_frozen") {
        return;
    }
    let steady = serve(false, false);
    let collected = serve(false, true);
    let frozen = serve(true, true);

    let objects_bytes = steady.info["objects_bytes"].as_u64().unwrap();
    let ints_bytes = steady.info["ints_bytes"].as_u64().unwrap();
    assert_eq!(
        frozen.info["frozen"].as_u64().map(|n| n > 200_000),
        Some(true)
    );
    eprintln!(
        "objects {objects_bytes} B, ints {ints_bytes} B; copied: steady {:?}, after /gc {:?}, frozen after /gc {:?}",
        steady.copied, collected.copied, frozen.copied
    );

    // Steady: each worker summed the ints, writing their reference counts: it copied their
    // pages (and some of the interpreter's).
    for copied in &steady.copied {
        assert!(*copied > ints_bytes / 2, "steady copied {copied} B");
    }
    // The most each worker copied over the run: at least the headline; when more, at a later
    // pass (the teardown: the interpreter freeing everything writes reference counts).
    for served in [&steady, &collected, &frozen] {
        let headline_s = body(&served.result).headline.as_ref().unwrap().time_s;
        for process in &body(&served.result).processes {
            let (Some(figures), Some(most)) = (&process.figures, &process.most_copied) else {
                continue;
            };
            assert!(most.copied_bytes >= figures.copied_bytes, "{process:#?}");
            eprintln!(
                "pid {}: copied {} B at the headline, at most {} B ({:?}, {:.2} s)",
                process.pid, figures.copied_bytes, most.copied_bytes, most.phase, most.time_s
            );
            if most.copied_bytes > figures.copied_bytes {
                assert!(most.time_s > headline_s, "{process:#?}");
            }
        }
    }

    // A full collection writes every tracked object's GC header: each worker copies about the
    // pages of the 200k lists.
    let steady_copied = median(&steady.copied);
    for copied in &collected.copied {
        let jump = copied.saturating_sub(steady_copied);
        assert!(
            jump > objects_bytes / 2,
            "after /gc copied {copied} B, steady {steady_copied} B: a jump of {jump} B for {objects_bytes} B of objects"
        );
    }
    // Frozen before the fork, they are not visited: no jump.
    for copied in &frozen.copied {
        let jump = copied.saturating_sub(steady_copied);
        assert!(
            jump < objects_bytes / 4,
            "frozen, after /gc copied {copied} B, steady {steady_copied} B: a jump of {jump} B"
        );
    }
}
