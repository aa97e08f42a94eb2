//! memlab's page walks wait while the measured tree keeps every core busy, measured on a real
//! tree: a pass of `memlab run` and a timeline rollup start only once the tree leaves a core
//! free (or after their 1 s bound), and a parent's capture at its child's sighting after its
//! 100 ms bound; on a tree that sleeps they start at once (the capture) or a window later.
//!
//! A test binary of its own with a single test: `cargo test` runs binaries one after another, so
//! no other test competes with the tree's spinners for the cores.

mod common;

use std::path::Path;

use common::{Spinners, follow_python, logged, logged_pid, skip_unless_root};
use memlab::result::run::ProcessKind;

/// A parent that starts one spinner per core (exec'd, so that they are not copy-on-write
/// children) for 2.5 s, forks a sleeping child 0.3 s later, and waits for them all; with "quiet",
/// no spinner. It logs the child's pid and whether the spinners kept every core busy (the machine
/// may have given them less).
const TREE: &str = r#"
import os, subprocess, sys, time
log = open(sys.argv[1], "a")
spin = sys.argv[2] == "spin"
cores = len(os.sched_getaffinity(0))
code = "import time\nend = time.monotonic() + 2.5\nwhile time.monotonic() < end: pass"
began = time.monotonic()
spinners = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(cores if spin else 0)]
time.sleep(0.3)
child = os.fork()
if child == 0:
    time.sleep(2.6)
    os._exit(0)
print("child", child, file=log, flush=True)
for spinner in spinners:
    spinner.wait()
spun = time.monotonic() - began
used = os.times()
cpu = used.children_user + used.children_system
# The rule memlab judges by: less than half a core left unused.
print("busy", int(spin and cpu + 0.5 * spun >= cores * spun), file=log, flush=True)
os.waitpid(child, 0)
"#;

struct Observed {
    /// When each pass began (the phases: every pass is kept in so short a run).
    passes_s: Vec<f64>,
    /// How long after its first sighting the child was first measured.
    child_measured_after_s: f64,
    /// How long after its first sighting its parent's frames were captured.
    parent_frames_after_s: f64,
    /// The run's longest wait from a sighting to its capture, as its facts say.
    max_capture_wait_s: f64,

    /// From the spinners' start to the first one's end, as memlab saw them.
    spinning_s: Option<(f64, f64)>,
    rollups_waited: u64,
    rollup_samples: u64,
    /// The rollups' pace when the run ended.
    rollup_interval_ms: f64,
    /// The spinners kept every core busy.
    busy: bool,
}

fn follow(tree: &str, out: &Path) -> Observed {
    let log = out.join("tree.log");
    std::fs::create_dir_all(out).unwrap();
    let result = follow_python(TREE, &[log.to_str().unwrap(), tree], out);
    let logged = logged(&log);
    let value = |name: &str| logged_pid(&logged, name);
    let child = value("child");
    let run = result.run.as_ref().expect("a run body");
    let record = run
        .processes
        .iter()
        .find(|p| p.pid == child)
        .unwrap_or_else(|| panic!("child {child} not followed"));
    let first_measured = result
        .phases
        .iter()
        .filter(|phase| phase.processes.iter().any(|p| p.pid == child))
        .map(|phase| phase.time_s)
        .fold(f64::INFINITY, f64::min);
    assert!(first_measured.is_finite(), "child {child} never measured");
    let spinners: Vec<_> = run
        .processes
        .iter()
        .filter(|p| p.kind == ProcessKind::Exec)
        .collect();
    let spinning_s = (!spinners.is_empty()).then(|| {
        let started = spinners.iter().map(|p| p.first_seen_s).fold(0.0, f64::max);
        let ended = spinners
            .iter()
            .filter_map(|p| p.gone_s)
            .fold(f64::INFINITY, f64::min);
        (started, ended)
    });
    let cost = &result.timeline.cost;
    Observed {
        passes_s: result.phases.iter().map(|phase| phase.time_s).collect(),
        child_measured_after_s: first_measured - record.first_seen_s,
        parent_frames_after_s: record
            .parent_frames_at_s
            .expect("the parent's frames captured")
            - record.first_seen_s,
        max_capture_wait_s: run.truth_passes.max_sighting_capture_wait_ms / 1e3,

        spinning_s,
        rollups_waited: cost.rollups_waited,
        rollup_samples: cost.rollup_samples,
        rollup_interval_ms: result.timeline.rollup_interval_ms,
        busy: value("busy") == 1,
    }
}

fn capture_waits(observed: &Observed) -> String {
    format!(
        "facts: longest capture wait {:.3} s; the child's record: {:.3} s",
        observed.max_capture_wait_s, observed.parent_frames_after_s
    )
}

/// Gaps between consecutive passes, with the time the later one began.
fn gaps(passes_s: &[f64]) -> Vec<(f64, f64)> {
    passes_s.windows(2).map(|w| (w[1], w[1] - w[0])).collect()
}

#[test]
fn page_walks_wait_while_the_tree_keeps_every_core_busy_and_not_otherwise() {
    if skip_unless_root("page walks yield to a busy tree") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let quiet = follow("quiet", &out.path().join("quiet"));
    // A sleeping tree: a pass waits one window (30 ms) for the tree's load, no rollup waits, and
    // passes come at the interval.
    assert!(
        quiet.child_measured_after_s < 0.4,
        "first measured {:.3} s after its sighting",
        quiet.child_measured_after_s
    );
    assert!(quiet.rollup_samples >= 1);
    assert_eq!(quiet.rollups_waited, 0);
    // Its parent's frames: a window of the tree's load (30 ms) after the poll that saw it.
    assert!(
        quiet.parent_frames_after_s < 0.08,
        "parent's frames captured {:.3} s after the sighting",
        quiet.parent_frames_after_s
    );
    // The run's facts tell the same wait: its only capture.
    assert!(
        (quiet.max_capture_wait_s - quiet.parent_frames_after_s).abs() < 0.01,
        "{}",
        capture_waits(&quiet)
    );
    assert!(
        gaps(&quiet.passes_s).iter().any(|(_, gap)| *gap < 0.5),
        "{:?}",
        quiet.passes_s
    );

    // The same tree while programs outside it keep every core busy: the sampler, at idle
    // priority, is kept off the cores for a while, but by them, not by the tree, and its
    // rollups do not wait for the tree.
    let outside = {
        let _spinners = Spinners::on_every_core();
        follow("quiet", &out.path().join("outside"))
    };
    assert!(outside.rollup_samples >= 1);
    assert_eq!(outside.rollups_waited, 0);

    let busy = follow("spin", &out.path().join("spin"));
    if !busy.busy {
        eprintln!(
            "skipped: the machine did not give the tree's spinners every core (other work on \
             it), so the tree never kept every core busy"
        );
        return;
    }
    let (started, ended) = busy.spinning_s.expect("the spinners were followed");
    assert!(
        ended - started > 2.0,
        "spun from {started:.3} to {ended:.3} s"
    );
    // While the tree keeps every core busy (after its first window, until its spinners end), a
    // pass starts only once it has waited its 1 s bound; it came due no sooner than the pass
    // before began.
    let spell = started + 0.1..ended - 0.1;
    let in_spell: Vec<_> = gaps(&busy.passes_s)
        .into_iter()
        .filter(|(at, _)| spell.contains(at))
        .collect();
    assert!(
        in_spell.iter().all(|(_, gap)| *gap >= 0.95),
        "passes at {:?}, the tree busy from {started:.3} to {ended:.3} s",
        busy.passes_s
    );
    // The child, forked during the spell, is measured once a pass may start; its parent's
    // frames were captured after their 100 ms bound, not at the poll that saw it.
    assert!(busy.child_measured_after_s > 0.2);
    assert!(
        (0.09..0.3).contains(&busy.parent_frames_after_s),
        "parent's frames captured {:.3} s after the sighting",
        busy.parent_frames_after_s
    );
    // The run's facts tell the longest wait: at least the child's (the spinners, seen before
    // their exec, had a capture too), within the 100 ms bound.
    assert!(
        busy.max_capture_wait_s > busy.parent_frames_after_s - 0.01
            && busy.max_capture_wait_s < 0.3,
        "{}",
        capture_waits(&busy)
    );
    assert!(busy.rollups_waited >= 1, "no rollup waited");
    // The rollups' pace follows their CPU time (a few processes: well under the 2.5 ms that
    // would stretch it past its 50 ms floor), not their wall time, which the spinners stretch
    // to tens of milliseconds (a pace of 0.5 - 2 s when it followed that).
    assert!(
        busy.rollup_interval_ms < 100.0,
        "rollups every {:.0} ms",
        busy.rollup_interval_ms
    );
}
