use super::*;

const MIB: u64 = 1 << 20;

fn so_far(at_census: Option<u64>, previous_pass: Option<u64>) -> CopiedSoFar {
    CopiedSoFar {
        at_census,
        previous_pass,
    }
}

#[test]
fn a_child_gets_its_first_census_whatever_it_copied() {
    assert_eq!(due(so_far(None, None), 0, false), Some(CensusReason::First));
    assert_eq!(
        due(so_far(None, Some(5 * MIB)), 5 * MIB, false),
        Some(CensusReason::First)
    );
}

#[test]
fn a_marked_change_is_an_eighth_and_at_least_a_mebibyte() {
    // Small copies: a mebibyte either way.
    assert_eq!(due(so_far(Some(0), Some(0)), MIB - 1, false), None);
    assert_eq!(
        due(so_far(Some(0), Some(0)), MIB, false),
        Some(CensusReason::Changed)
    );
    assert_eq!(
        due(so_far(Some(2 * MIB), Some(3 * MIB)), MIB, false),
        Some(CensusReason::Changed),
        "a shrinking copy (the parent exited, pages freed) counts too"
    );
    // Large copies: an eighth.
    let at = 800 * MIB;
    assert_eq!(due(so_far(Some(at), Some(0)), at + 99 * MIB, false), None);
    assert_eq!(
        due(so_far(Some(at), Some(0)), at + 100 * MIB, false),
        Some(CensusReason::Changed)
    );
}

#[test]
fn a_settled_level_other_than_the_census_calls_for_one() {
    let at = 800 * MIB;
    // Still copying: not settled.
    assert_eq!(
        due(so_far(Some(at), Some(at + MIB)), at + 2 * MIB, false),
        None
    );
    // Unchanged since the pass before, 2 MiB away from the census: settled.
    assert_eq!(
        due(so_far(Some(at), Some(at + 2 * MIB)), at + 2 * MIB, false),
        Some(CensusReason::Settled)
    );
    // Settled where the census was taken (or within 64 KiB of it): nothing new to see.
    assert_eq!(due(so_far(Some(at), Some(at)), at, false), None);
    let near = at + (64 << 10) - 4096;
    assert_eq!(due(so_far(Some(at), Some(near)), near, false), None);
}

#[test]
fn a_checkpoint_takes_every_child() {
    assert_eq!(
        due(so_far(Some(MIB), Some(MIB)), MIB, true),
        Some(CensusReason::Checkpoint)
    );
}

#[test]
fn the_budget_allows_a_first_allowance_then_its_share_of_the_time() {
    let start = Instant::now();
    let mut budget = Budget::default();
    assert!(budget.allows(start));
    // Spending the allowance and one more second: paid back at 5% in 20 s.
    budget.spend(start, CENSUS_ALLOWANCE + Duration::from_secs(1));
    assert!(!budget.allows(start + Duration::from_secs(19)));
    assert!(budget.allows(start + Duration::from_secs(21)));
    // The credit never grows past the allowance, however long the wait.
    let later = start + Duration::from_secs(3600);
    budget.spend(later, CENSUS_ALLOWANCE);
    assert!(!budget.allows(later));
    assert!(budget.allows(later + Duration::from_millis(100)));
}

#[test]
fn small_censuses_fit_the_allowance_together() {
    let start = Instant::now();
    let mut budget = Budget::default();
    for i in 0..4 {
        let at = start + Duration::from_millis(200 * i);
        assert!(budget.allows(at), "census {i}");
        budget.spend(at, Duration::from_millis(100));
    }
}

fn census(time_s: f64, reason: CensusReason) -> RunCensus {
    RunCensus {
        time_s,
        phase: None,
        reason,
        quiet: true,
        copied_bytes: 0,
        child_only_bytes: 0,
        took_ms: 1.0,
        census: ChildCensus::default(),
    }
}

#[test]
fn a_child_keeps_its_latest_censuses_and_every_checkpoint() {
    let mut child = Child::default();
    child.keep(0, census(0.0, CensusReason::Checkpoint));
    for pass in 1..=MAX_CENSUSES_PER_CHILD as u64 + 3 {
        child.keep(pass, census(pass as f64, CensusReason::Changed));
    }
    assert_eq!(child.taken.len(), MAX_CENSUSES_PER_CHILD);
    assert_eq!(child.taken[0].0, 0, "the checkpoint's census is kept");
    assert_eq!(child.taken[1].0, 5, "the oldest others were dropped");
    assert_eq!(
        child.taken.last().map(|(pass, _)| *pass),
        Some(MAX_CENSUSES_PER_CHILD as u64 + 3)
    );
}

fn record(pid: i32, kind: ProcessKind, first_seen_s: f64, gone_s: Option<f64>) -> RunProcess {
    RunProcess {
        parent_pid: Some(1),
        command: "python worker".into(),
        child_index: Some(1),
        first_seen_s,
        last_seen_s: gone_s.unwrap_or(9.0),
        gone_s,
        ..RunProcess::seen_once(pid, kind)
    }
}

#[test]
fn censuses_go_to_the_record_alive_then_named_by_their_pass() {
    let mut censuses = Censuses::new(true, Some(TruthMethod::Pfn));
    let child = censuses.children.entry(7).or_default();
    child.keep(3, census(0.6, CensusReason::First));
    child.keep(9, census(1.8, CensusReason::Changed));
    // The pid was reused: a second record from 5 s on.
    child.keep(20, census(5.2, CensusReason::First));
    let mut processes = vec![
        record(7, ProcessKind::Forked, 0.5, Some(2.0)),
        record(7, ProcessKind::Forked, 5.0, None),
        record(7, ProcessKind::Exec, 5.0, None),
    ];
    let names: HashMap<u64, String> = [(3, "seen-7".to_string())].into();
    censuses.attach(&mut processes, &names);
    let first: Vec<(f64, Option<&str>)> = processes[0]
        .censuses
        .iter()
        .map(|c| (c.time_s, c.phase.as_deref()))
        .collect();
    assert_eq!(first, vec![(0.6, Some("seen-7")), (1.8, None)]);
    assert_eq!(processes[1].censuses.len(), 1);
    assert_eq!(processes[1].censuses[0].time_s, 5.2);
    assert!(
        processes[2].censuses.is_empty(),
        "an exec'd process has none"
    );
}

#[test]
fn the_cost_is_recorded_and_a_disabled_census_says_so() {
    let mut fact = PassesFact {
        cpu_seconds: 1.0,
        ..PassesFact::default()
    };
    let mut censuses = Censuses::new(true, Some(TruthMethod::Pfn));
    censuses.spent = Spent {
        censuses: 8,
        passes: 2,
        total: Duration::from_millis(300),
        max: Duration::from_millis(200),
        cpu_seconds: 0.25,
    };
    censuses.add_cost(&mut fact);
    assert!(fact.census_enabled);
    assert_eq!((fact.censuses, fact.census_passes), (8, 2));
    assert!((fact.mean_census_ms - 150.0).abs() < 1e-9);
    assert!((fact.max_census_ms - 200.0).abs() < 1e-9);
    assert!((fact.census_seconds - 0.3).abs() < 1e-9);
    assert!((fact.cpu_seconds - 1.25).abs() < 1e-9);
    assert_eq!(fact.census_cpu_budget, CENSUS_CPU_BUDGET);

    let mut off = PassesFact::default();
    Censuses::new(false, Some(TruthMethod::Pfn)).add_cost(&mut off);
    assert!(!off.census_enabled);
    assert_eq!(off.censuses, 0);
}

#[test]
fn a_due_census_waits_for_a_quiet_moment_but_not_forever() {
    assert!(take_now(CensusReason::Changed, true, 0.0));
    assert!(!take_now(CensusReason::Changed, false, 0.0));
    assert!(!take_now(
        CensusReason::First,
        false,
        MAX_WAIT_FOR_QUIET_S - 0.1
    ));
    assert!(take_now(CensusReason::First, false, MAX_WAIT_FOR_QUIET_S));
    assert!(
        take_now(CensusReason::Checkpoint, false, 0.0),
        "a checkpoint is quiet by design"
    );
}
