use super::*;
use crate::kernel::meminfo::MeminfoSnapshot;
use crate::result::TreeTotals;

/// An unnamed pass `id` taken `time_s` into the run (the first one is the start).
fn pass(id: u64, time_s: f64) -> Pass {
    Pass::new(
        id,
        Phase {
            name: String::new(),
            time_s,
            processes: Vec::new(),
            meminfo: MeminfoSnapshot::default(),
            tree: TreeTotals::default(),
        },
    )
}

fn log_of(passes: Vec<Pass>) -> PassLog {
    let mut log = PassLog::default();
    for pass in passes {
        log.push(pass);
    }
    log
}

fn names(log: PassLog, peak: Option<u64>) -> Vec<String> {
    log.into_phases(peak)
        .phases
        .into_iter()
        .map(|p| p.name)
        .collect()
}

#[test]
fn passes_are_named_by_why_they_were_kept() {
    let mut sighting = pass(1, 0.2);
    sighting.seen = vec![101];
    let mut many = pass(2, 0.3);
    many.seen = vec![102, 103, 104];
    let mut last = pass(3, 0.4);
    last.last_of = vec![101];
    let plain = pass(4, 1.2345);
    let mut end = pass(5, 1.5);
    end.end = true;
    end.last_of = vec![100];
    let log = log_of(vec![pass(0, 0.01), sighting, many, last, plain, end]);
    assert_eq!(
        names(log, Some(0)),
        [
            "start-peak",
            "seen-101",
            "seen-102-and-2",
            "last-101",
            "t-1235ms",
            "end-last-100"
        ]
    );
}

#[test]
fn the_start_is_not_also_a_sighting() {
    let mut start = pass(0, 0.0);
    start.seen = vec![100, 101];
    assert_eq!(names(log_of(vec![start]), None), ["start"]);
}

#[test]
fn reasons_are_joined_while_they_fit_in_forty_characters() {
    let mut crowded = pass(7, 2.0);
    crowded.end = true;
    crowded.seen = vec![1234567, 2, 3, 4];
    crowded.last_of = vec![7654321, 5];
    // end-peak-seen-1234567-and-3 (27) fits; adding -last-7654321-and-1 (46) does not.
    let name = &names(log_of(vec![crowded]), Some(7))[0];
    assert_eq!(name, "end-peak-seen-1234567-and-3");
    assert!(name.len() <= MAX_PHASE_NAME);
}

#[test]
fn equal_names_get_a_number() {
    // Three passes within the same millisecond.
    let log = log_of(vec![pass(1, 0.005), pass(2, 0.0051), pass(3, 0.0049)]);
    assert_eq!(names(log, None), ["t-5ms", "t-5ms-2", "t-5ms-3"]);
}

#[test]
fn the_peak_is_named_and_every_pass_id_maps_to_its_phase() {
    let log = log_of(vec![pass(0, 0.0), pass(1, 0.1), pass(2, 0.2)]);
    let named = log.into_phases(Some(1));
    assert_eq!(named.peak.as_deref(), Some("peak"));
    assert_eq!(named.names[&0], "start");
    assert_eq!(named.names[&1], "peak");
    assert_eq!(named.names[&2], "t-200ms");
    assert_eq!(named.phases[1].time_s, 0.1);
    assert_eq!(log_of(vec![pass(0, 0.0)]).into_phases(Some(9)).peak, None);
}

#[test]
fn the_end_is_the_latest_pass_and_last_of_marks_the_pass_given() {
    let mut log = log_of(vec![pass(0, 0.0), pass(1, 0.1), pass(2, 0.2)]);
    log.mark_last_of(1, 42);
    log.mark_last_of(9, 43); // dropped earlier: nothing to mark
    log.mark_end();
    assert_eq!(names(log, None), ["start", "last-42", "end"]);
    let mut empty = PassLog::default();
    empty.mark_end();
    assert!(names(empty, None).is_empty());
}

#[test]
fn ids_follow_the_passes_pushed() {
    let mut log = PassLog::default();
    assert_eq!(log.next_id(), 0);
    log.push(pass(0, 0.0));
    log.push(pass(1, 0.1));
    assert_eq!(log.next_id(), 2);
}

/// `count` passes 0.1 s apart, the first being the start.
fn many(count: u64) -> PassLog {
    log_of((0..count).map(|id| pass(id, id as f64 / 10.0)).collect())
}

#[test]
fn up_to_the_limit_nothing_is_dropped() {
    let mut log = many(MAX_PHASES as u64);
    log.thin(None, None);
    assert_eq!(log.dropped(), 0);
    assert_eq!(log.into_phases(None).phases.len(), MAX_PHASES);
}

#[test]
fn beyond_the_limit_every_other_unnamed_pass_is_dropped() {
    let count = MAX_PHASES as u64 + 1;
    let mut log = many(count);
    log.thin(None, None);
    // Passes 1..=239 may go: every other one (1, 3, … 239) does.
    assert_eq!(log.dropped(), 120);
    let named = log.into_phases(None);
    assert_eq!(named.phases.len(), count as usize - 120);
    let ids: Vec<u64> = {
        let mut ids: Vec<u64> = named.names.keys().copied().collect();
        ids.sort();
        ids
    };
    assert_eq!(&ids[..4], [0, 2, 4, 6]);
    assert_eq!(ids.last(), Some(&(count - 1)), "the latest is kept");
}

#[test]
fn the_start_the_peak_named_passes_and_live_processes_last_passes_are_kept() {
    let count = MAX_PHASES as u64 + 1;
    let mut passes: Vec<Pass> = (0..count).map(|id| pass(id, id as f64)).collect();
    passes[1].seen = vec![500];
    passes[3].last_of = vec![501];
    let mut log = log_of(passes);
    // Peak at pass 5; a live process was last measured by pass 200.
    log.thin(Some(5), Some(200));
    let ids: HashSet<u64> = log.into_phases(Some(5)).names.into_keys().collect();
    for kept in [0, 1, 3, 5] {
        assert!(ids.contains(&kept), "pass {kept} was dropped");
    }
    assert!(
        (200..count).all(|id| ids.contains(&id)),
        "protected passes dropped"
    );
    // The others alternate: 2 goes, 4 stays, 6 goes…
    assert!(!ids.contains(&2) && ids.contains(&4) && !ids.contains(&6));
}

#[test]
fn named_passes_go_too_when_unnamed_ones_are_not_enough() {
    let count = MAX_PHASES as u64 + 41;
    let mut passes: Vec<Pass> = (0..count).map(|id| pass(id, id as f64)).collect();
    for pass in passes.iter_mut().skip(1) {
        pass.seen = vec![pass.id as i32];
    }
    let mut log = log_of(passes);
    log.thin(None, None);
    // All but the start and the latest are named: half of those go.
    assert_eq!(log.dropped(), (count as usize - 2).div_ceil(2));
    assert!(log.into_phases(None).phases.len() <= MAX_PHASES);
}
