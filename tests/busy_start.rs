//! A scheduled pass of `memlab run` does not start while the tree's processes keep every core
//! busy, even when they set to work a few milliseconds before the pass decides: over its last
//! window (30 ms) such a tree still reads as leaving a core free, as pool workers do when they
//! get their first tasks right after memlab saw them. The poll's states tell: as many processes
//! running as cores.
//!
//! The tree, after a quiet spell each time, forks one child per core that sleeps a few
//! milliseconds (a different delay at each burst, so that the children start at every point of
//! the pass's first window after their sighting), spins 0.3 s, then sleeps 0.3 s and exits. The
//! program logs on its monotonic clock when each child spun; a checkpoint at its start places
//! memlab's clock on it, within the checkpoint's round trip. No pass may begin while every child
//! of a burst spins. With the window alone, a pass began inside a burst in most runs.
//!
//! A test binary of its own with a single test: `cargo test` runs binaries one after another, so
//! no other test competes with the tree for the cores.

mod common;

use common::follow_python;
use memlab::result::run::MarkerKind;

const TREE: &str = r#"
import json, os, sys, time
import memlab
log = open(sys.argv[1], "a")
cores = len(os.sched_getaffinity(0))
before = time.monotonic()
measured = memlab.checkpoint("clock")
after = time.monotonic()
print(json.dumps({"clock": [before, after], "measured": measured}), file=log, flush=True)
for burst, delay in enumerate([0.005, 0.012, 0.019, 0.026, 0.033, 0.040]):
    time.sleep(0.35)
    children = []
    for _ in range(cores):
        child = os.fork()
        if child == 0:
            time.sleep(delay)
            began = time.monotonic()
            while time.monotonic() < began + 0.3:
                pass
            ended = time.monotonic()
            print(json.dumps({"burst": burst, "spun": [began, ended], "pid": os.getpid()}),
                  file=log, flush=True)
            time.sleep(0.3)
            os._exit(0)
        children.append(child)
    for child in children:
        os.waitpid(child, 0)
"#;

/// Leeway around the checkpoint's placement of memlab's clock.
const MARGIN_S: f64 = 0.002;

#[test]
fn no_scheduled_pass_starts_while_the_tree_keeps_every_core_busy() {
    let out = tempfile::tempdir().unwrap();
    let log = out.path().join("tree.log");
    let result = follow_python(TREE, &[log.to_str().unwrap()], out.path());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let clock = lines
        .iter()
        .find(|line| line["measured"] == true)
        .expect("the checkpoint was measured");
    let (before, after) = (
        clock["clock"][0].as_f64().unwrap(),
        clock["clock"][1].as_f64().unwrap(),
    );
    let run = result.run.as_ref().expect("a run body");
    let checkpoint = run
        .phase_notes
        .iter()
        .find(|note| {
            note.marker
                .as_ref()
                .is_some_and(|m| m.kind == MarkerKind::Checkpoint)
        })
        .expect("the checkpoint's phase");
    let checkpoint_s = result
        .phases
        .iter()
        .find(|phase| phase.name == checkpoint.phase)
        .expect("the checkpoint's pass")
        .time_s;
    // The checkpoint's pass began between `before` and `after` on the program's clock.
    let (offset_low, offset_high) = (before - checkpoint_s, after - checkpoint_s);
    assert_eq!(run.truth_passes.phases_dropped, 0, "every pass is kept");

    let mut bursts_checked = 0;
    for burst in 0..6 {
        let spins: Vec<_> = lines.iter().filter(|line| line["burst"] == burst).collect();
        assert!(!spins.is_empty(), "burst {burst} logged no child");
        // Every core busy: from the last child's start to the first child's end.
        let began = spins
            .iter()
            .map(|s| s["spun"][0].as_f64().unwrap())
            .fold(0.0, f64::max);
        let ended = spins
            .iter()
            .map(|s| s["spun"][1].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        // A pass surely inside: after `began` and before `ended` whatever the offset.
        let inside = |time_s: f64| {
            time_s + offset_low > began + MARGIN_S && time_s + offset_high < ended - MARGIN_S
        };
        let passes_inside: Vec<f64> = result
            .phases
            .iter()
            .map(|phase| phase.time_s)
            .filter(|time_s| inside(*time_s))
            .collect();
        assert!(
            passes_inside.is_empty(),
            "burst {burst}: passes at {passes_inside:?} s, every core busy from {:.3} to {:.3} s",
            began - offset_low,
            ended - offset_high
        );
        // The burst's children were measured once a core was free again.
        let pids: Vec<i64> = spins.iter().map(|s| s["pid"].as_i64().unwrap()).collect();
        let measured_after = result.phases.iter().any(|phase| {
            phase.time_s + offset_low >= ended
                && phase
                    .processes
                    .iter()
                    .any(|p| pids.contains(&(p.pid as i64)))
        });
        assert!(
            measured_after,
            "burst {burst}: children never measured after they spun"
        );
        bursts_checked += (ended - began > 0.2) as usize;
    }
    // The clock was placed closely enough and the children spun together: the check above had
    // a spell to look into.
    assert!(
        after - before < 0.05 && bursts_checked >= 3,
        "checkpoint round trip {:.3} s; {bursts_checked} bursts with every core busy 0.2 s",
        after - before
    );
}
