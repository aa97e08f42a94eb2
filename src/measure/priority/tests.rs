use super::*;

/// The calling thread's policy.
fn policy_now() -> libc::c_int {
    // SAFETY: sched_getscheduler only reads the calling thread's policy.
    unsafe { libc::sched_getscheduler(0) }
}

/// Whether this process may not leave SCHED_IDLE (needs CAP_SYS_NICE): the test is then skipped,
/// saying so.
fn cannot_leave_idle() -> bool {
    if idle_supported() {
        return false;
    }
    eprintln!("skipped: this process may not leave SCHED_IDLE (needs CAP_SYS_NICE)");
    true
}

/// Waits (bounded) until the calling thread's policy is `policy`: the watchdog changes it from
/// outside.
fn wait_for_policy(policy: libc::c_int) {
    let waited = Instant::now();
    while policy_now() != policy {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "policy never became {policy}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_thread_made_idle_for_good_is_raised_by_another() {
    if cannot_leave_idle() {
        return;
    }
    let (ids, id) = std::sync::mpsc::channel();
    let (raised, was_raised) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        assert!(make_current_thread_idle());
        assert_eq!(policy_now(), libc::SCHED_IDLE);
        ids.send(current_thread_id()).unwrap();
        was_raised.recv().unwrap();
        policy_now()
    });
    let thread_id = id.recv().unwrap();
    assert_ne!(thread_id, current_thread_id());
    assert!(raise_to_normal(thread_id));
    raised.send(()).unwrap();
    assert_eq!(thread.join().unwrap(), libc::SCHED_OTHER);
}

#[test]
fn an_idle_worker_late_for_its_work_is_raised_until_the_work_is_done() {
    if cannot_leave_idle() {
        return;
    }
    std::thread::spawn(|| {
        let worker = IdleWorker::start(Duration::from_millis(10)).unwrap();
        assert_eq!(policy_now(), libc::SCHED_IDLE);
        // Nothing due: the watchdog leaves the thread idle.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(policy_now(), libc::SCHED_IDLE);
        assert!(!worker.done());
        // Work due now and not done: raised once it is 20 ms late.
        worker.due(Instant::now(), Duration::from_millis(20));
        wait_for_policy(libc::SCHED_OTHER);
        assert!(worker.done(), "it was raised");
        assert_eq!(policy_now(), libc::SCHED_IDLE);
        // Work that may wait long is not raised before its wait ran out.
        worker.due(Instant::now(), Duration::from_secs(600));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(policy_now(), libc::SCHED_IDLE);
        assert!(!worker.done());
    })
    .join()
    .unwrap();
}

#[test]
fn an_idle_worker_walks_at_normal_priority_and_is_idle_again_after() {
    if cannot_leave_idle() {
        return;
    }
    std::thread::spawn(|| {
        let worker = IdleWorker::start(Duration::from_millis(10)).unwrap();
        assert_eq!(policy_now(), libc::SCHED_IDLE);
        let during = worker.walking(policy_now);
        assert_eq!(
            during,
            libc::SCHED_OTHER,
            "a page walk never runs at idle priority"
        );
        assert_eq!(policy_now(), libc::SCHED_IDLE);
        // A late piece of work raised while walking is raised anew once late again.
        worker.due(Instant::now(), Duration::ZERO);
        wait_for_policy(libc::SCHED_OTHER);
        worker.walking(|| ());
        assert_eq!(policy_now(), libc::SCHED_IDLE);
        wait_for_policy(libc::SCHED_OTHER);
        assert!(worker.done());
        assert_eq!(policy_now(), libc::SCHED_IDLE);
    })
    .join()
    .unwrap();
}

/// The rule both passes and the sampler's rollups follow before a page walk.
#[test]
fn a_page_walk_starts_on_a_free_core_or_once_it_waited_its_bound() {
    let ms = Duration::from_millis;
    let bound = Duration::from_secs(1);
    // The program keeps every core busy, or its load is not known yet: the walk waits…
    assert!(!page_walk_starts(Some(true), false, ms(150), bound));
    assert!(!page_walk_starts(None, false, ms(150), bound));
    // …until it has waited its bound.
    assert!(page_walk_starts(Some(true), false, bound, bound));
    assert!(page_walk_starts(None, false, bound + ms(1), bound));
    // A core the program leaves unused is taken at once.
    assert!(page_walk_starts(Some(false), false, Duration::ZERO, bound));
    // Unless its processes running now take every core, whatever the window says, until the
    // bound.
    assert!(!page_walk_starts(Some(false), true, ms(150), bound));
    assert!(page_walk_starts(Some(false), true, bound, bound));
}
