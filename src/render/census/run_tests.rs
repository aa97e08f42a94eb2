//! A run's census for its headline, on synthetic records.

use super::*;
use crate::result::figures::FigureSource;
use crate::result::run::{
    CensusReason, FigureMoment, Figures, HeadlineRule, ProcessEnd, RunBody, RunCensus,
};

const MIB: u64 = 1 << 20;

fn headline(phase: &str, time_s: f64) -> Headline {
    Headline {
        phase: phase.into(),
        time_s,
        rule: HeadlineRule::BeforeEnd,
    }
}

fn census(time_s: f64, phase: Option<&str>, top: &str, objects: u64) -> RunCensus {
    RunCensus {
        time_s,
        phase: phase.map(String::from),
        reason: CensusReason::Changed,
        quiet: true,
        copied_bytes: 30 * MIB,
        child_only_bytes: 0,
        took_ms: 20.0,
        census: ChildCensus {
            python_interpreter: Some("CPython 3.11.7".into()),
            python_types: Some(vec![TypeCount {
                type_name: top.into(),
                gc_tracked: false,
                objects,
                bytes: objects * 32,
                pages: objects * 32 / 4096,
            }]),
            python_types_child_only: Some(Vec::new()),
            ..ChildCensus::default()
        },
    }
}

fn child(pid: i32, index: usize, copied_bytes: u64, censuses: Vec<RunCensus>) -> RunProcess {
    RunProcess {
        pid,
        parent_pid: Some(1),
        command: "python pool.py".into(),
        kind: ProcessKind::Forked,
        child_index: Some(index),
        depth: 1,
        first_seen_s: 0.1,
        parent_frames_at_s: Some(0.1),
        last_seen_s: 2.0,
        gone_s: Some(2.0),
        end: ProcessEnd::Exited,
        peak_rss_bytes: 0,
        peak_pss_bytes: None,
        peak_uss_bytes: None,
        peak_anonymous_bytes: None,
        measured_passes: 5,
        figures: Some(Figures {
            time_s: 1.0,
            phase: Some("end".into()),
            moment: Some(FigureMoment::Headline),
            copied_bytes,
            private_bytes: copied_bytes,
            shared_bytes: Some(0),
            child_only_bytes: Some(0),
            rewritten_by_parent_bytes: None,
            method: FigureSource::PageTruthPfn,
            exact: true,
        }),
        most_copied: None,
        censuses,
    }
}

#[test]
fn the_headline_takes_its_own_census_else_the_latest_before_never_a_later_one() {
    let process = child(
        7,
        1,
        MIB,
        vec![
            census(0.5, Some("seen-7"), "int", 10),
            census(1.0, None, "int", 20),
            census(1.5, Some("end"), "int", 30),
            census(1.8, Some("t-1800ms"), "int", 40),
        ],
    );
    let (at, moment) = process.census_for(&headline("end", 1.5)).unwrap();
    assert_eq!((at.time_s, moment), (1.5, CensusMoment::AtHeadline));
    let (before, moment) = process.census_for(&headline("t-1400ms", 1.4)).unwrap();
    assert_eq!((before.time_s, moment), (1.0, CensusMoment::Before));
    assert!(process.census_for(&headline("start", 0.2)).is_none());
}

fn run_result(processes: Vec<RunProcess>, at: Headline) -> ScenarioResult {
    let mut result = ScenarioResult::stamped("run", "run", Default::default());
    result.run = Some(RunBody {
        processes,
        headline: Some(at),
        ..RunBody::default()
    });
    result
}

#[test]
fn the_view_shows_the_largest_copier_and_names_its_moment() {
    let result = run_result(
        vec![
            child(7, 1, MIB, vec![census(0.5, Some("seen-7"), "str", 10)]),
            child(
                8,
                2,
                30 * MIB,
                vec![census(0.9, Some("t-900ms"), "int", 900)],
            ),
            child(
                9,
                3,
                50 * MIB,
                vec![census(2.5, Some("t-2500ms"), "int", 1)],
            ),
        ],
        headline("end", 1.5),
    );
    let view = census_view(&result).expect("a view");
    assert_eq!(
        view.copied_heading(),
        "copied by Python type (child 2, pid 8, at 't-900ms' (0.90 s), 0.60 s before the \
         headline 'end' (1.50 s), CPython 3.11.7)"
    );
    let table = super::super::table::terminal(view.copied.as_ref().unwrap());
    assert!(table.contains("int") && table.contains("900"), "{table}");
    assert_eq!(view.child_only, None, "no child-only pages: no table");

    let dropped = census(1.5, None, "int", 3);
    assert_eq!(
        census_moment(&dropped, CensusMoment::Before, &headline("end", 2.0)),
        "at 1.50 s (a pass not kept as a phase), 0.50 s before the headline 'end' (2.00 s)"
    );
    let own = census(2.0, Some("end"), "int", 3);
    assert_eq!(
        census_moment(&own, CensusMoment::AtHeadline, &headline("end", 2.0)),
        "at the headline 'end' (2.00 s)"
    );
}

#[test]
fn a_child_without_a_decodable_python_shows_the_census_note() {
    let mut skipped = census(0.5, Some("seen-7"), "int", 1);
    skipped.census = ChildCensus::skipped("not a CPython: /usr/bin/sleep");
    let result = run_result(vec![child(7, 1, MIB, vec![skipped])], headline("end", 1.0));
    let view = census_view(&result).expect("a view");
    assert_eq!(
        view.note_line().as_deref(),
        Some(
            "copied by Python type (child 1, pid 7, at 'seen-7' (0.50 s), 0.50 s before the \
             headline 'end' (1.00 s)): no census: not a CPython: /usr/bin/sleep"
        )
    );
    // No census at all (--no-census): no view.
    let none = run_result(vec![child(7, 1, MIB, Vec::new())], headline("end", 1.0));
    assert_eq!(census_view(&none), None);
}
