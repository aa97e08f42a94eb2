use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Equal within a microsecond: costs go through floating-point averages and budgets.
fn assert_close(measured: Duration, expected: Duration) {
    let error = measured.abs_diff(expected);
    assert!(
        error < Duration::from_micros(1),
        "{measured:?} is not {expected:?}"
    );
}

/// A schedule with `--interval 100ms`, started at `t0`.
fn schedule(footprints: bool) -> (Schedule, Instant) {
    let t0 = Instant::now();
    (Schedule::new(ms(100), t0, footprints), t0)
}

#[test]
fn polls_stretch_to_stay_within_their_cpu_budget() {
    let (mut schedule, _) = schedule(false);
    assert_eq!(schedule.poll_interval(), POLL_MIN);
    // 2 ms of CPU per poll at 5% of a core: one poll every 40 ms.
    schedule.polled(ms(9), ms(2));
    assert_close(schedule.poll_interval(), ms(40));
    // A cheap poll brings it back, never under the minimum.
    let (mut cheap, _) = self::schedule(false);
    cheap.polled(ms(1), Duration::from_micros(100));
    assert_eq!(cheap.poll_interval(), POLL_MIN);
    // A huge tree: never over the maximum, so signals are still answered.
    let (mut huge, _) = self::schedule(false);
    huge.polled(ms(300), ms(300));
    assert_eq!(huge.poll_interval(), POLL_MAX);
}

#[test]
fn the_poll_cost_is_a_moving_average_of_cpu_not_wall_time() {
    let (mut schedule, _) = schedule(false);
    schedule.polled(ms(50), ms(2));
    schedule.polled(ms(50), ms(4));
    // 0.7 × 2 + 0.3 × 4 = 2.6 ms of CPU: 52 ms.
    assert_close(schedule.poll_interval(), ms(52));
}

#[test]
fn the_first_pass_is_due_at_once_and_the_next_one_an_interval_after_it_began() {
    let (mut schedule, t0) = schedule(false);
    assert!(schedule.pass_due(t0));
    schedule.passed(t0, ms(5), ms(5));
    assert!(!schedule.pass_due(t0 + ms(99)));
    assert!(schedule.pass_due(t0 + ms(100)));
    assert_eq!(schedule.effective_interval(), ms(100));
}

#[test]
fn costly_passes_stretch_the_interval_to_their_budget() {
    let (mut schedule, t0) = schedule(false);
    // 30 ms per pass at 10% of a core: 300 ms apart, though --interval says 100 ms.
    schedule.passed(t0, ms(30), ms(30));
    assert_close(schedule.min_pass_gap(), ms(300));
    assert_close(schedule.effective_interval(), ms(300));
    assert!(!schedule.pass_due(t0 + ms(299)));
    assert!(schedule.pass_due(t0 + ms(301)));
}

#[test]
fn a_sighting_pass_comes_before_the_interval_but_not_before_the_budget_allows() {
    let (mut schedule, t0) = schedule(false);
    schedule.passed(t0, ms(2), ms(2)); // gap 20 ms, next timed pass at 100 ms
    schedule.saw_new_process();
    assert!(schedule.sighting());
    assert!(!schedule.pass_due(t0 + ms(19)));
    assert!(schedule.pass_due(t0 + ms(21)));
    schedule.passed(t0 + ms(20), ms(2), ms(2));
    assert!(!schedule.sighting(), "the pass took the sighting");
    assert!(!schedule.pass_due(t0 + ms(60)));
    assert!(schedule.pass_due(t0 + ms(120)));
}

#[test]
fn a_sighting_before_any_pass_is_due_at_once() {
    let (mut schedule, t0) = schedule(false);
    schedule.saw_new_process();
    assert!(schedule.pass_due(t0));
}

#[test]
fn footprints_need_frame_numbers() {
    let (schedule, t0) = schedule(false);
    assert!(!schedule.footprint_due(false, t0));
}

#[test]
fn the_first_footprint_is_always_taken_then_as_its_budget_allows_never_on_a_sighting() {
    let (mut schedule, t0) = schedule(true);
    assert!(
        schedule.footprint_due(true, t0),
        "the first one, even on a sighting"
    );
    // 40 ms per footprint at 5% of a core: 800 ms apart.
    schedule.footprint_taken(t0, ms(40), ms(40));
    assert!(!schedule.footprint_due(false, t0 + ms(799)));
    assert!(schedule.footprint_due(false, t0 + ms(801)));
    assert!(!schedule.footprint_due(true, t0 + ms(5000)));
}

#[test]
fn memlab_sleeps_until_the_next_poll_or_pass_and_at_least_a_millisecond() {
    let (mut schedule, t0) = schedule(false);
    schedule.passed(t0, ms(1), ms(1)); // next pass at 100 ms
    assert_eq!(schedule.sleep(t0), POLL_MIN);
    assert_eq!(schedule.sleep(t0 + ms(90)), ms(10));
    assert_eq!(schedule.sleep(t0 + ms(100)), ms(1));
    assert_eq!(schedule.sleep(t0 + ms(500)), ms(1));
}

#[test]
fn the_fact_reports_counts_means_and_cpu() {
    let (mut schedule, t0) = schedule(true);
    schedule.polled(Duration::from_micros(300), Duration::from_micros(200));
    schedule.polled(Duration::from_micros(100), Duration::from_micros(100));
    schedule.passed(t0, ms(10), ms(8));
    schedule.passed(t0 + ms(100), ms(30), ms(20));
    schedule.footprint_taken(t0, ms(50), ms(40));
    let fact = schedule.fact(Some(TruthMethod::Pfn), 2, 1);
    assert_eq!((fact.polls, fact.passes, fact.footprints), (2, 2, 1));
    assert!(
        (fact.mean_poll_us - 200.0).abs() < 1e-9,
        "{}",
        fact.mean_poll_us
    );
    assert!((fact.mean_pass_ms - 20.0).abs() < 1e-9);
    assert!((fact.max_pass_ms - 30.0).abs() < 1e-9);
    assert!((fact.mean_footprint_ms - 50.0).abs() < 1e-9);
    assert!(
        (fact.cpu_seconds - 0.0683).abs() < 1e-9,
        "{}",
        fact.cpu_seconds
    );
    assert_eq!(fact.interval_ms, 100.0);
    // Pass cost 0.7 × 10 + 0.3 × 30 = 16 ms: 160 ms apart.
    assert!((fact.effective_interval_ms - 160.0).abs() < 1e-3);
    assert_eq!((fact.phases_kept, fact.phases_dropped), (2, 1));
    assert_eq!(fact.method, "pfn");
    assert_eq!(schedule.fact(None, 0, 0).method, "none");
    assert_eq!(
        schedule.fact(Some(TruthMethod::ExclusiveBit), 0, 0).method,
        "exclusive-bit"
    );
}

#[test]
fn a_run_without_passes_reports_zero_means() {
    let (schedule, _) = schedule(false);
    let fact = schedule.fact(None, 0, 0);
    assert_eq!((fact.mean_pass_ms, fact.mean_poll_us), (0.0, 0.0));
    assert_eq!(fact.effective_interval_ms, 100.0);
}
