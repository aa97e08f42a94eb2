use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use super::*;
use crate::follow::outcome::PeakFootprint;
use crate::kernel::meminfo::MeminfoSnapshot;
use crate::result::run::{ExitStatusFact, Figures, MarkerKind, PassesFact, PhaseMarker, RunPhase};
use crate::result::{Phase, Timeline, TreeTotals};

const MIB: u64 = 1 << 20;

fn process(pid: i32, kind: ProcessKind, parent_pid: Option<i32>) -> RunProcess {
    RunProcess {
        parent_pid,
        ..RunProcess::seen_once(pid, kind)
    }
}

fn child(pid: i32, index: usize, copied_bytes: u64, method: FigureSource) -> RunProcess {
    RunProcess {
        child_index: Some(index),
        figures: Some(Figures {
            time_s: 0.5,
            phase: None,
            moment: Some(FigureMoment::Headline),
            copied_bytes,
            private_bytes: copied_bytes + MIB,
            shared_bytes: None,
            child_only_bytes: None,
            rewritten_by_parent_bytes: None,
            method,
            exact: method.exact(),
        }),
        ..process(pid, ProcessKind::Forked, Some(100))
    }
}

/// A command (100, 40 MiB anonymous) with three forked children that copied 2, 8 and 4 MiB,
/// an exec'd descendant, and a peak phase.
fn outcome(method: FigureSource) -> FollowOutcome {
    let command = RunProcess {
        peak_anonymous_bytes: Some(40 * MIB),
        ..process(100, ProcessKind::Command, None)
    };
    let exec = RunProcess {
        peak_anonymous_bytes: Some(400 * MIB),
        ..process(104, ProcessKind::Exec, Some(101))
    };
    let phase = |name: &str, rss_bytes: u64| Phase {
        name: name.into(),
        time_s: 0.5,
        processes: Vec::new(),
        meminfo: MeminfoSnapshot::default(),
        tree: TreeTotals {
            rss_bytes,
            pss_bytes: rss_bytes / 2,
            unique_bytes: Some(rss_bytes / 4),
            overcount_factor: Some(4.0),
            ..TreeTotals::default()
        },
    };
    FollowOutcome {
        phases: vec![phase("start", 10 * MIB), phase("peak", 160 * MIB)],
        before_end_phase: Some("peak".into()),
        phase_notes: Vec::new(),
        peak_phase: Some("peak".into()),
        peak_footprint: Some(PeakFootprint {
            bytes: 40 * MIB,
            exact: true,
            time_s: 0.5,
            largest: Some((102, 30 * MIB)),
        }),
        processes: vec![
            command,
            child(101, 1, 2 * MIB, method),
            child(102, 2, 8 * MIB, method),
            child(103, 3, 4 * MIB, FigureSource::PageTruthPfn),
            exec,
        ],
        timeline: Timeline::default(),
        exit: Some(ExitStatusFact {
            code: Some(0),
            signal: None,
            killed_by_memlab: false,
        }),
        exit_status: Some(ExitStatus::from_raw(0)),
        interrupted_by: None,
        passes: PassesFact::default(),
        wall_seconds: 1.5,
        markers: None,
    }
}

/// The headline of `outcome` at its default moment.
fn summary_of(outcome: &FollowOutcome, data_bytes: u64) -> Summary {
    headline(outcome, default_moment(outcome).as_ref(), data_bytes)
}

#[test]
fn the_headline_is_each_forked_child_and_the_tree_at_the_last_pass_before_the_end() {
    let outcome = outcome(FigureSource::PageTruthPfn);
    let data_bytes = data_bytes(&outcome.processes);
    assert_eq!(
        data_bytes,
        40 * MIB,
        "the parent's anonymous memory, not the exec'd one's"
    );
    let summary = summary_of(&outcome, data_bytes);
    assert_eq!(summary.copied_bytes_per_child, [2 * MIB, 8 * MIB, 4 * MIB]);
    assert_eq!(summary.private_bytes_per_child, [3 * MIB, 9 * MIB, 5 * MIB]);
    assert_eq!(summary.copied_fraction, 0.1, "median 4 MiB of 40 MiB");
    assert_eq!(summary.private_fraction, 0.125);
    assert!(summary.copied_exact);
    assert_eq!(summary.phase, "peak");
    assert_eq!(summary.tree_rss_bytes, 160 * MIB);
    assert_eq!(summary.tree_unique_bytes, Some(40 * MIB));
    assert_eq!(summary.wall_seconds, 1.5);
}

#[test]
fn one_estimated_child_makes_the_headline_approximate() {
    let summary = summary_of(&outcome(FigureSource::PrivateDirtyGrowth), 40 * MIB);
    assert!(!summary.copied_exact);
    assert_eq!(
        summary.copied_method,
        Some(FigureSource::PrivateDirtyGrowth)
    );
}

#[test]
fn the_copied_check_names_every_offender_largest_first() {
    let outcome = outcome(FigureSource::PageTruthPfn);
    let summary = summary_of(&outcome, 40 * MIB);
    let check = copied_per_child_check(3 * MIB, &summary, &outcome);
    assert_eq!(check.holds, Some(false));
    assert_eq!(check.measured_bytes, Some(8 * MIB));
    let offenders: Vec<(i32, u64)> = check.offenders.iter().map(|o| (o.pid, o.bytes)).collect();
    assert_eq!(offenders, [(102, 8 * MIB), (103, 4 * MIB)]);
    assert_eq!(check.offenders[0].label, "child 2");
    assert!(check.exact && check.note.is_none());
    let holds = copied_per_child_check(8 * MIB, &summary, &outcome);
    assert_eq!((holds.holds, holds.offenders.len()), (Some(true), 0));
}

#[test]
fn the_copied_check_cannot_hold_without_a_measured_child_and_says_when_approximate() {
    let mut outcome = outcome(FigureSource::PrivateDirtyGrowth);
    let summary = summary_of(&outcome, 40 * MIB);
    let approximate = copied_per_child_check(MIB, &summary, &outcome);
    assert!(
        approximate
            .note
            .is_some_and(|n| n.starts_with("approximate figures"))
    );
    outcome.processes.retain(|p| p.kind != ProcessKind::Forked);
    let summary = summary_of(&outcome, 0);
    let check = copied_per_child_check(MIB, &summary, &outcome);
    assert_eq!((check.holds, check.measured_bytes), (None, None));
    assert!(check.note.is_some_and(|n| n.starts_with("no forked child")));
}

#[test]
fn the_tree_check_names_the_largest_process_at_the_peak() {
    let outcome = outcome(FigureSource::PageTruthPfn);
    let check = tree_unique_check(32 * MIB, &outcome);
    assert_eq!(
        (check.holds, check.measured_bytes),
        (Some(false), Some(40 * MIB))
    );
    let offenders: Vec<(i32, u64)> = check.offenders.iter().map(|o| (o.pid, o.bytes)).collect();
    assert_eq!(offenders, [(102, 30 * MIB)]);
    assert!(check.exact);
    assert!(check.note.is_some_and(|n| n.contains("at 0.50 s")));
    let holds = tree_unique_check(40 * MIB, &outcome);
    assert_eq!((holds.holds, holds.offenders.len()), (Some(true), 0));
}

#[test]
fn the_tree_check_without_frame_numbers_is_approximate_and_without_a_pass_unjudged() {
    let mut outcome = outcome(FigureSource::PageTruthPfn);
    if let Some(peak) = outcome.peak_footprint.as_mut() {
        peak.exact = false;
    }
    let approximate = tree_unique_check(MIB, &outcome);
    assert!(!approximate.exact);
    assert!(
        approximate
            .note
            .is_some_and(|n| n.starts_with("APPROXIMATE"))
    );
    outcome.peak_footprint = None;
    let check = tree_unique_check(MIB, &outcome);
    assert_eq!((check.holds, check.measured_bytes), (None, None));
}

#[test]
fn only_the_checks_asked_for_are_judged() {
    let outcome = outcome(FigureSource::PageTruthPfn);
    let summary = summary_of(&outcome, 40 * MIB);
    assert!(evaluate_checks(&RunLimits::default(), &summary, &outcome).is_empty());
    let both = RunLimits {
        max_copied_per_child_bytes: Some(MIB),
        max_tree_unique_bytes: Some(MIB),
    };
    let names: Vec<String> = evaluate_checks(&both, &summary, &outcome)
        .into_iter()
        .map(|c| c.check)
        .collect();
    assert_eq!(names, ["max-copied-per-child", "max-tree-unique"]);
}

#[test]
fn the_exit_code_is_the_commands_or_128_plus_the_signal() {
    let mut outcome = outcome(FigureSource::PageTruthPfn);
    outcome.exit_status = Some(ExitStatus::from_raw(7 << 8));
    assert_eq!(exit_code_of(&outcome), 7);
    outcome.exit_status = Some(ExitStatus::from_raw(libc::SIGTERM));
    assert_eq!(exit_code_of(&outcome), 128 + libc::SIGTERM);
    // Killed by memlab after Ctrl-C: the interrupting signal, not SIGKILL.
    outcome.exit_status = Some(ExitStatus::from_raw(libc::SIGKILL));
    outcome.interrupted_by = Some(libc::SIGINT);
    outcome.exit = outcome.exit.map(|e| ExitStatusFact {
        killed_by_memlab: true,
        ..e
    });
    assert_eq!(exit_code_of(&outcome), 128 + libc::SIGINT);
    outcome.exit_status = None;
    assert_eq!(exit_code_of(&outcome), 0, "--pid");
}

fn marker_note(phase: &str, kind: MarkerKind, name: &str) -> RunPhase {
    RunPhase {
        phase: phase.into(),
        marker: Some(PhaseMarker {
            kind,
            name: name.into(),
            pid: 100,
        }),
        teardown: false,
    }
}

#[test]
fn at_takes_the_last_phase_of_a_repeated_marker_and_names_the_markers_otherwise() {
    let mut outcome = outcome(FigureSource::PageTruthPfn);
    outcome.phases[0].name = "load".into();
    outcome.phases[1].name = "load-2".into();
    outcome.phase_notes = vec![
        marker_note("load", MarkerKind::Mark, "load"),
        marker_note("load-2", MarkerKind::Mark, "load"),
    ];
    let at = at_marker(&outcome, "load").expect("a marker of that name came");
    assert_eq!(at.index, 1, "the last of the repeats");
    assert_eq!(at.headline.rule, HeadlineRule::At("load".into()));
    let unknown = at_marker(&outcome, "serve").err().expect("no such marker");
    assert_eq!(
        unknown,
        "--at serve: no marker of that name; the run's markers were: load"
    );
    outcome.phase_notes[1] = marker_note("load-2", MarkerKind::End, "work");
    assert_eq!(at_marker(&outcome, "work-end").map(|m| m.index), Ok(1));
    assert_eq!(at_marker(&outcome, "load").map(|m| m.index), Ok(0));
}

#[test]
fn the_default_moment_is_the_last_pass_before_the_end_else_the_first() {
    let mut outcome = outcome(FigureSource::PageTruthPfn);
    outcome.before_end_phase = Some("start".into());
    let moment = default_moment(&outcome).expect("there were passes");
    assert_eq!(
        (moment.index, moment.headline.rule),
        (0, HeadlineRule::BeforeEnd)
    );
    outcome.before_end_phase = None;
    let first = default_moment(&outcome).expect("there were passes");
    assert_eq!(
        (first.index, first.headline.rule),
        (0, HeadlineRule::FirstPass)
    );
    outcome.phases.clear();
    assert!(default_moment(&outcome).is_none());
}
