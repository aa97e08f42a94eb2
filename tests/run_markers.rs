//! Markers in `memlab run`: a Python program (tests/run_markers_support/marker_pool.py) whose
//! forked workers copy a known number of pages between checkpoints; every marker is a phase
//! with exact page truth, `--at` picks the headline's phase, bad lines on the pipe give one
//! warning per kind and the run goes on, and `--pid … --markers-fd` with a `stop` serves a
//! program that starts memlab itself. Page truth needs root: the exact tests say so when they
//! cannot run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{all_gone_within, is_root, logged, memlab, skip_unless_root, venv_python};
use memlab::kernel::pagemap::PageCounts;
use memlab::result::run::{FigureMoment, HeadlineRule, MarkerKind, RunBody};
use memlab::result::{Phase, ScenarioResult};

const WORKERS: usize = 2;

fn support(name: &str) -> String {
    format!(
        "{}/tests/run_markers_support/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn python_client() -> String {
    format!("{}/python", env!("CARGO_MANIFEST_DIR"))
}

struct Ran {
    code: i32,
    result: ScenarioResult,
    stderr: String,
}

/// `memlab run --json --out DIR ARGS -- python marker_pool.py LOG EXTRA…`.
fn run_pool(args: &[&str], out: &Path, extra: &[&str]) -> (Ran, Vec<(String, i32)>) {
    let log = out.join("pids.log");
    let output = memlab()
        .args(["run", "--json", "--out"])
        .arg(out)
        .args(args)
        .arg("--")
        .arg(venv_python())
        .arg(support("marker_pool.py"))
        .arg(&log)
        .args(extra)
        .env("PYTHONPATH", python_client())
        .stdin(Stdio::null())
        .output()
        .expect("memlab runs");
    let code = output.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    // The file: stdout has no result when `--at` named no marker.
    let stored = std::fs::read_to_string(out.join("run.json")).unwrap_or_default();
    let result: ScenarioResult = serde_json::from_str(&stored)
        .unwrap_or_else(|error| panic!("no result ({error}); exit {code}\nstderr: {stderr}"));
    let log = logged(&log);
    (
        Ran {
            code,
            result,
            stderr,
        },
        log,
    )
}

fn body(result: &ScenarioResult) -> &RunBody {
    result.run.as_ref().expect("a run body")
}

fn pids(log: &[(String, i32)], what: &str) -> Vec<i32> {
    log.iter()
        .filter(|(name, _)| name == what)
        .map(|(_, pid)| *pid)
        .collect()
}

fn phase<'a>(result: &'a ScenarioResult, name: &str) -> &'a Phase {
    result.phase(name).unwrap_or_else(|| {
        let names: Vec<&str> = result.phases.iter().map(|p| p.name.as_str()).collect();
        panic!("no phase {name}: {names:?}")
    })
}

/// (pages in all, pages in anonymous mappings) of `pid` in `phase`, counted by `count`, from
/// exact page truth against the parent's frames at the child's sighting.
fn pages_of(phase: &Phase, pid: i32, count: fn(&PageCounts) -> u64) -> (u64, u64) {
    let process = phase
        .processes
        .iter()
        .find(|p| p.pid == pid)
        .unwrap_or_else(|| panic!("pid {pid} not measured in {}", phase.name));
    let truth = process
        .page_truth
        .as_ref()
        .unwrap_or_else(|| panic!("no page truth for {pid} in {}", phase.name));
    assert!(
        truth.exact && truth.against_sighting,
        "{}: {truth:?}",
        phase.name
    );
    let anon = truth
        .regions
        .iter()
        .filter(|r| r.region == "anon")
        .map(|r| count(&r.counts))
        .sum();
    (count(&truth.total), anon)
}

/// (copied pages in all, copied pages in anonymous mappings) of `pid` in `phase`.
fn copied_pages(phase: &Phase, pid: i32) -> (u64, u64) {
    pages_of(phase, pid, |counts| counts.copied_pages)
}

#[test]
fn every_checkpoint_is_a_phase_with_exact_page_truth_and_at_picks_the_headline() {
    if skip_unless_root("markers_exact") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (ran, log) = run_pool(&["--at", "second"], out.path(), &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let result = &ran.result;
    let parent = pids(&log, "parent")[0];
    let workers = pids(&log, "worker");
    assert_eq!(workers.len(), WORKERS, "{log:?}");

    // Each marker is a phase named after it, noting its kind and its sender.
    let notes = &body(result).phase_notes;
    let marked: Vec<(&str, MarkerKind, i32)> = notes
        .iter()
        .filter_map(|n| {
            let m = n.marker.as_ref()?;
            Some((n.phase.as_str(), m.kind, m.pid))
        })
        .collect();
    assert_eq!(
        marked,
        [
            ("loaded", MarkerKind::Checkpoint, parent),
            ("forked", MarkerKind::Checkpoint, parent),
            ("first", MarkerKind::Checkpoint, parent),
            ("second", MarkerKind::Checkpoint, parent),
            ("third", MarkerKind::Checkpoint, parent),
            ("done", MarkerKind::Mark, parent),
            ("finished", MarkerKind::Checkpoint, parent),
        ]
    );
    let markers = body(result).markers.as_ref().expect("markers came");
    assert_eq!((markers.measured, markers.answered), (7, 6), "{markers:?}");
    assert_eq!((markers.dropped, markers.rejected_lines), (0, 0));
    assert!(markers.warnings.is_empty(), "{markers:?}");
    assert!(
        phase(result, "loaded")
            .processes
            .iter()
            .all(|p| p.page_truth.is_none()),
        "nothing was forked before 'loaded'"
    );

    // Between checkpoints each worker wrote 8, then 16, then 32 more pages of the parent's
    // buffer (an anonymous mapping of its own) and touched nothing else it had not touched in
    // its warm-up round: exactly that many more pages copied, all anonymous. The parent's
    // interpreter rewrites pages meanwhile (its checkpoint calls allocate): those have other
    // frames than the child's too, and are told apart by comparing with the parent's frames
    // at the child's first sighting.
    let written_pages = [("forked", 0), ("first", 8), ("second", 24), ("third", 56)];
    for worker in &workers {
        for pair in written_pages.windows(2) {
            let ((before_name, before_pages), (name, pages)) = (pair[0], pair[1]);
            let before = copied_pages(phase(result, before_name), *worker);
            let now = copied_pages(phase(result, name), *worker);
            let written = pages - before_pages;
            let (all, anon) = (now.0 - before.0, now.1 - before.1);
            if before_name == "forked" {
                // The first round that writes also copies pages of the child interpreter's
                // own (its first allocations after fork): a lower bound there.
                assert!(
                    anon >= written && anon <= all,
                    "worker {worker} from '{before_name}' to '{name}': wrote {written} pages, \
                     copied {anon} more anonymous pages ({all} in all)"
                );
            } else {
                // Once both sides are warm, nothing but the buffer moves: exact.
                assert_eq!(
                    (all, anon),
                    (written, written),
                    "worker {worker} from '{before_name}' to '{name}': wrote {written} pages, \
                     copied (all, anonymous) more"
                );
            }
        }
    }
    // The parent's own rewrites are told apart: before 'third' it rewrote the buffer's last
    // 16 pages (marker_pool.py's PARENT_REWRITES), which no worker writes. The workers' copies
    // from 'second' to 'third' stayed exactly what they wrote (above): none of the parent's 16
    // was charged to them. They show as rewritten by the parent instead, next to the page or
    // two its interpreter rewrites at each checkpoint (0 – 2 seen).
    let interpreter_slack = 4;
    for worker in &workers {
        let rewritten = |name: &str| {
            pages_of(phase(result, name), *worker, |counts| {
                counts.rewritten_by_parent_pages
            })
        };
        let (second, third) = (rewritten("second"), rewritten("third"));
        let grown = third.1 - second.1;
        assert!(
            (16..=16 + interpreter_slack).contains(&grown),
            "worker {worker}: anonymous pages rewritten by the parent grew by {grown} from \
             'second' {second:?} to 'third' {third:?} (all, anonymous)"
        );
    }

    // The headline is the second marker's: the summary, each child's figures and the table.
    let headline = body(result).headline.as_ref().expect("a headline");
    assert_eq!(headline.phase, "second");
    assert_eq!(headline.rule, HeadlineRule::At("second".into()));
    assert_eq!(result.summary.phase, "second");
    let page = 4096;
    let at_second: Vec<u64> = workers
        .iter()
        .map(|w| copied_pages(phase(result, "second"), *w).0 * page)
        .collect();
    assert_eq!(result.summary.copied_bytes_per_child, at_second);
    for process in body(result)
        .processes
        .iter()
        .filter(|p| workers.contains(&p.pid))
    {
        let figures = process.figures.as_ref().expect("figures");
        assert_eq!(figures.moment, Some(FigureMoment::Headline));
        assert_eq!(figures.phase.as_deref(), Some("second"));
        let most = process.most_copied.as_ref().expect("the most it copied");
        assert!(most.copied_bytes >= figures.copied_bytes + 32 * page);
    }
    // One source of truth: the table, the chart's bars and the report's text show the
    // summary's figures, all taken at 'second'.
    let shown: Vec<String> = result
        .summary
        .copied_bytes_per_child
        .iter()
        .map(|b| memlab::units::format_bytes(*b))
        .collect();
    let table = memlab::render::run_table::render(result);
    assert!(
        table.contains(&format!(
            "copied per child at 'second' ({:.2} s): [{}]",
            headline.time_s,
            shown.join(", ")
        )),
        "{table}"
    );
    let bars = memlab::report::charts::child_pages::child_bars(result);
    let bar_copied: Vec<u64> = bars.iter().map(|b| b.copied_bytes).collect();
    assert_eq!(bar_copied, result.summary.copied_bytes_per_child);
    let report_dir = out.path().join("report");
    let report = memlab()
        .arg("report")
        .arg(out.path().join("run.json"))
        .arg("--out")
        .arg(&report_dir)
        .arg("--plots")
        .arg(report_dir.join("plots"))
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    let markdown = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    let median = format!(
        "median child copied {:.2}%",
        result.summary.copied_fraction * 100.0
    );
    assert!(markdown.contains(&median), "{median} not in\n{markdown}");
    assert!(
        report_dir.join("plots/children-run.svg").exists(),
        "the children chart"
    );
    let mut all: Vec<i32> = workers.clone();
    all.push(parent);
    assert!(all_gone_within(&all, 2.0));
}

#[test]
fn bad_lines_on_the_pipe_give_one_warning_per_kind_and_the_run_goes_on() {
    let out = tempfile::tempdir().unwrap();
    let (ran, log) = run_pool(&[], out.path(), &["garbage"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let warnings: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("memlab: warning: marker pipe"))
        .collect();
    // Two malformed lines, a bad name, a marker from pid 1: three kinds, three lines.
    assert_eq!(warnings.len(), 3, "{}", ran.stderr);
    assert!(warnings[0].contains("not a JSON object"), "{warnings:?}");
    assert!(warnings[1].contains("\"Bad Name\""), "{warnings:?}");
    assert!(warnings[2].contains("pid 1"), "{warnings:?}");
    let markers = body(&ran.result).markers.as_ref().expect("markers came");
    assert_eq!(markers.rejected_lines, 3);
    assert_eq!(markers.dropped, 1, "the marker from outside the tree");
    assert_eq!(markers.warnings.len(), 3);
    // The markers after the bad lines were measured all the same.
    assert_eq!((markers.measured, markers.answered), (7, 6));
    ran.result
        .phase("third")
        .expect("measured after the garbage");
    let mut all = pids(&log, "worker");
    all.extend(pids(&log, "parent"));
    assert!(all_gone_within(&all, 2.0));
}

#[test]
fn an_at_that_no_marker_had_is_exit_1_naming_the_markers() {
    let out = tempfile::tempdir().unwrap();
    let (ran, _) = run_pool(&["--at", "fourth"], out.path(), &[]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let error: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("memlab: error"))
        .collect();
    assert_eq!(error.len(), 1, "{}", ran.stderr);
    assert!(
        error[0].contains("--at fourth")
            // `done` comes right before the program exits: it may arrive after the last pass.
            && error[0].contains("loaded, forked, first, second, third"),
        "{}",
        error[0]
    );
    // The result is kept, with the default moment.
    let headline = body(&ran.result).headline.as_ref().expect("a headline");
    assert_eq!(headline.rule, HeadlineRule::BeforeEnd);
}

#[test]
fn a_markers_fd_that_is_not_a_pipe_is_a_usage_error() {
    let output = memlab()
        .args([
            "run",
            "--pid",
            &std::process::id().to_string(),
            "--markers-fd",
            "0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--markers-fd 0 is not a pipe"), "{stderr}");
}

/// A program that starts `memlab run --pid ITSELF --markers-fd R`, as a test runner's plugin
/// does, forks a worker that copies 64 pages, checkpoints, and sends `stop`.
const PLUGIN: &str = r#"
import os, subprocess, sys
memlab_bin, out = sys.argv[1], sys.argv[2]
read_end, write_end = os.pipe()
child = subprocess.Popen(
    [memlab_bin, "run", "--json", "--pid", str(os.getpid()), "--markers-fd", str(read_end),
     "--at", "worker-busy", "--out", out],
    pass_fds=[read_end], stdout=open(os.path.join(out, "stdout.json"), "w"))
os.close(read_end)
os.environ["MEMLAB_MARKER_FD"] = str(write_end)
os.environ["MEMLAB_MARKER_PID"] = str(child.pid)
os.set_inheritable(write_end, True)
import memlab
buffer = bytearray(b"\x01" * (128 * 4096))
zero = open("/dev/zero", "rb", buffering=0)
assert memlab.checkpoint("started")
go_read, go_write = os.pipe()
done_read, done_write = os.pipe()
worker = os.fork()
if worker == 0:
    zero.readinto(memoryview(buffer)[: 64 * 4096])
    os.write(done_write, b"d")
    os.read(go_read, 1)
    os._exit(0)
assert os.read(done_read, 1) == b"d"
assert memlab.checkpoint("worker-busy")
os.write(go_write, b"x")
os.waitpid(worker, 0)
print("worker", worker, flush=True)
os.write(write_end, b'{"v": 1, "type": "stop", "pid": %d}\n' % os.getpid())
sys.exit(child.wait())
"#;

#[test]
fn a_program_can_start_memlab_on_itself_and_stop_it() {
    let out = tempfile::tempdir().unwrap();
    let memlab_bin: PathBuf = assert_cmd::cargo::cargo_bin!("memlab").into();
    let output = Command::new(venv_python())
        .args(["-c", PLUGIN])
        .arg(&memlab_bin)
        .arg(out.path())
        .env("PYTHONPATH", python_client())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "memlab's exit; {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let worker: i32 = stdout
        .trim()
        .strip_prefix("worker ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    let result: ScenarioResult =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("stdout.json")).unwrap())
            .unwrap();
    let body = body(&result);
    // memlab, a child of the followed process, left itself out.
    assert!(
        body.processes
            .iter()
            .all(|p| !p.command.contains("memlab run")),
        "{:#?}",
        body.processes
    );
    let worker_record = body
        .processes
        .iter()
        .find(|p| p.pid == worker)
        .expect("the worker was followed");
    let figures = worker_record.figures.as_ref().expect("figures");
    assert_eq!(figures.phase.as_deref(), Some("worker-busy"));
    if is_root() {
        // At least the 64 pages it wrote. (More: its interpreter's own pages, and pages the
        // parent rewrote since the fork, which count as copied until the comparison uses the
        // parent's frames at the child's first sighting.)
        assert!(figures.copied_bytes >= 64 * 4096, "{figures:?}");
    }
    let names: Vec<&str> = result.phases.iter().map(|p| p.name.as_str()).collect();
    assert!(
        names.contains(&"started") && names.contains(&"worker-busy"),
        "{names:?}"
    );
}
