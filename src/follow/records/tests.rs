use super::*;
use crate::follow::measured::Measured;
use crate::follow::tree::Layout;
use crate::kernel::meminfo::MeminfoSnapshot;
use crate::result::figures::FigureSource;
use crate::result::run::Figures;
use crate::result::{ProcessSample, ProcessSnapshot, Sample, SampleKind, TreeTotals};

/// A live process first seen 0.1 s into the run, forked from `parent` without exec.
fn forked(pid: i32, parent: i32) -> Tracked {
    Tracked {
        pid,
        starttime: pid as u64,
        root: false,
        original_parent: Some(parent),
        layout: Layout([1; 10]),
        forked_at_sighting: true,
        exec_after_sighting: false,
        comparable: true,
        alive: true,
        command: format!("worker {pid}"),
        depth: 1,
        first_seen_s: 0.1,
        parent_frames_s: Some(0.1),
        last_seen_s: 0.5,
        gone_s: None,
        end: None,
        measured: Measured::default(),
    }
}

fn root(pid: i32) -> Tracked {
    Tracked {
        root: true,
        original_parent: None,
        forked_at_sighting: false,
        comparable: false,
        depth: 0,
        ..forked(pid, 0)
    }
}

fn figures(copied_bytes: u64) -> Figures {
    Figures {
        time_s: 0.3,
        phase: None,
        moment: None,
        copied_bytes,
        private_bytes: copied_bytes,
        shared_bytes: None,
        child_only_bytes: None,
        rewritten_by_parent_bytes: None,
        method: FigureSource::PrivateDirtyGrowth,
        exact: false,
    }
}

#[test]
fn each_process_gets_its_kind_and_forked_children_are_numbered_in_sighting_order() {
    let exec_later = Tracked {
        exec_after_sighting: true,
        ..forked(12, 10)
    };
    let exec_at_sighting = Tracked {
        forked_at_sighting: false,
        ..forked(13, 10)
    };
    let orphan = Tracked {
        original_parent: None,
        forked_at_sighting: false,
        ..forked(14, 10)
    };
    let tracked = vec![
        root(10),
        forked(11, 10),
        exec_later,
        exec_at_sighting,
        orphan,
        forked(15, 11),
    ];
    let processes = records(&tracked, ProcessKind::Command, &HashMap::new());
    let summary: Vec<(i32, ProcessKind, Option<usize>)> = processes
        .iter()
        .map(|p| (p.pid, p.kind, p.child_index))
        .collect();
    assert_eq!(
        summary,
        [
            (10, ProcessKind::Command, None),
            (11, ProcessKind::Forked, Some(1)),
            (12, ProcessKind::Exec, None),
            (13, ProcessKind::Exec, None),
            (14, ProcessKind::Orphan, None),
            (15, ProcessKind::Forked, Some(2)),
        ]
    );
    assert_eq!(processes[5].parent_pid, Some(11));
    assert_eq!(processes[5].command, "worker 15");
    let attached = records(&[root(10)], ProcessKind::Attached, &HashMap::new());
    assert_eq!(attached[0].kind, ProcessKind::Attached);
}

#[test]
fn forked_children_carry_the_figures_where_they_copied_most_labelled_by_the_phase_that_holds_them()
{
    let mut kept = forked(11, 10);
    kept.measured.best = Some((figures(4096), 3));
    let mut dropped = forked(12, 10);
    dropped.measured.best = Some((figures(8192), 4));
    let mut exec = Tracked {
        exec_after_sighting: true,
        ..forked(13, 10)
    };
    exec.measured.best = Some((figures(100), 3));
    let names = HashMap::from([(3, "seen-11".to_string())]);
    let processes = records(
        &[root(10), kept, dropped, exec],
        ProcessKind::Command,
        &names,
    );
    let kept = processes[1].most_copied.as_ref().expect("figures");
    assert_eq!(kept.moment, Some(FigureMoment::MostCopied));
    assert_eq!(
        (kept.copied_bytes, kept.phase.as_deref()),
        (4096, Some("seen-11"))
    );
    let dropped = processes[2].most_copied.as_ref().expect("figures");
    assert_eq!(
        (dropped.copied_bytes, dropped.phase.as_deref()),
        (8192, None)
    );
    assert_eq!(
        processes[3].most_copied, None,
        "an exec'd process shares nothing"
    );
    assert_eq!(processes[0].most_copied, None);
    assert!(
        processes.iter().all(|p| p.figures.is_none()),
        "the headline's figures are the run's to choose"
    );
}

#[test]
fn the_end_of_each_record_is_how_memlab_last_found_it() {
    let exited = Tracked {
        alive: false,
        gone_s: Some(0.7),
        ..forked(11, 10)
    };
    let killed = Tracked {
        alive: false,
        end: Some(ProcessEnd::Killed),
        ..forked(12, 10)
    };
    let processes = records(
        &[root(10), exited, killed],
        ProcessKind::Command,
        &HashMap::new(),
    );
    let ends: Vec<ProcessEnd> = processes.iter().map(|p| p.end).collect();
    assert_eq!(
        ends,
        [ProcessEnd::Running, ProcessEnd::Exited, ProcessEnd::Killed]
    );
    assert_eq!(processes[1].gone_s, Some(0.7));
}

#[test]
fn measured_peaks_and_passes_are_carried_over() {
    let mut child = forked(11, 10);
    child.measured = Measured {
        peak_rss_bytes: 9000,
        peak_pss_bytes: Some(5000),
        peak_uss_bytes: Some(3000),
        peak_anonymous_bytes: Some(7000),
        passes: 4,
        last_pass: Some(6),
        best: None,
    };
    let process = &records(&[child], ProcessKind::Command, &HashMap::new())[0];
    assert_eq!(process.peak_rss_bytes, 9000);
    assert_eq!(process.peak_pss_bytes, Some(5000));
    assert_eq!(process.peak_uss_bytes, Some(3000));
    assert_eq!(process.peak_anonymous_bytes, Some(7000));
    assert_eq!(process.measured_passes, 4);
    assert_eq!((process.first_seen_s, process.last_seen_s), (0.1, 0.5));
}

fn snapshot(pid: i32, role: Role) -> ProcessSnapshot {
    ProcessSnapshot {
        pid,
        role,
        child_index: None,
        rollup: None,
        missing: true,
        private_dirty_growth_bytes: None,
        parent_pid: None,
        page_truth: None,
    }
}

fn sample(pid: i32, rss_bytes: u64, pss_bytes: Option<u64>) -> Sample {
    Sample {
        time_s: 0.0,
        kind: SampleKind::Statm,
        processes: vec![ProcessSample {
            pid,
            role: None,
            rss_bytes,
            pss_bytes,
            uss_bytes: pss_bytes.map(|b| b / 2),
        }],
    }
}

#[test]
fn roles_are_settled_in_the_phases_and_the_timeline_as_finally_known() {
    // 12 was measured as a child, then exec'd: a descendant everywhere.
    let tracked = vec![
        root(10),
        forked(11, 10),
        Tracked {
            exec_after_sighting: true,
            ..forked(12, 10)
        },
    ];
    let processes = records(&tracked, ProcessKind::Command, &HashMap::new());
    let mut phases = vec![Phase {
        name: "start".into(),
        time_s: 0.0,
        processes: vec![
            snapshot(10, Role::Parent),
            snapshot(11, Role::Descendant),
            snapshot(12, Role::Child),
            snapshot(99, Role::Child),
        ],
        meminfo: MeminfoSnapshot::default(),
        tree: TreeTotals::default(),
    }];
    let mut timeline = Timeline {
        samples: vec![sample(12, 1, None), sample(99, 1, None)],
        ..Timeline::default()
    };
    settle_roles(&processes, &mut phases, &mut timeline);
    let settled: Vec<(Role, Option<usize>)> = phases[0]
        .processes
        .iter()
        .map(|p| (p.role, p.child_index))
        .collect();
    assert_eq!(
        settled,
        [
            (Role::Parent, None),
            (Role::Child, Some(1)),
            (Role::Descendant, None),
            (Role::Child, None), // not in the records: left as measured
        ]
    );
    assert_eq!(
        timeline.samples[0].processes[0].role,
        Some(Role::Descendant)
    );
    assert_eq!(timeline.samples[1].processes[0].role, None);
}

#[test]
fn sampled_peaks_raise_the_latest_record_of_each_pid() {
    // Pid 11 was reused: the sampler's figures go to its latest record.
    let old = Tracked {
        alive: false,
        ..forked(11, 10)
    };
    let mut latest = forked(11, 10);
    latest.measured.peak_rss_bytes = 5000;
    latest.measured.peak_pss_bytes = Some(4000);
    let mut processes = records(&[old, latest], ProcessKind::Command, &HashMap::new());
    let timeline = Timeline {
        samples: vec![
            sample(11, 3000, None),
            sample(11, 7000, None),
            sample(11, 6000, Some(4500)),
        ],
        ..Timeline::default()
    };
    add_sampled_peaks(&mut processes, &timeline);
    assert_eq!(processes[0].peak_rss_bytes, 0);
    assert_eq!(processes[0].peak_pss_bytes, None);
    assert_eq!(processes[1].peak_rss_bytes, 7000);
    assert_eq!(processes[1].peak_pss_bytes, Some(4500));
    assert_eq!(processes[1].peak_uss_bytes, Some(2250));
}
