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
fn an_idle_section_puts_its_thread_at_sched_idle_and_back() {
    std::thread::spawn(|| {
        assert_eq!(policy_now(), libc::SCHED_OTHER);
        let section = IdleSection::enter(Duration::from_secs(600), || false, || None);
        if idle_supported() {
            assert!(section.yielding());
            assert!(in_idle_section());
            assert_eq!(policy_now(), libc::SCHED_IDLE);
        } else {
            // Without the privilege to come back, memlab stays at normal priority.
            assert!(!section.yielding());
            assert_eq!(policy_now(), libc::SCHED_OTHER);
        }
        assert!(!section.leave(), "nothing asked the watchdog to raise it");
        assert!(!in_idle_section());
        assert_eq!(policy_now(), libc::SCHED_OTHER);
    })
    .join()
    .unwrap();
}

#[test]
fn the_watchdog_raises_a_section_told_to_hurry_and_one_that_waited_too_long() {
    if cannot_leave_idle() {
        return;
    }
    for (max_wait, hurry) in [(Duration::from_secs(600), true), (Duration::ZERO, false)] {
        std::thread::spawn(move || {
            let section = IdleSection::enter(max_wait, move || hurry, || None);
            assert!(section.yielding());
            // The watchdog raises the thread from outside; wait for it to have done so.
            wait_for_policy(libc::SCHED_OTHER);
            assert!(section.leave(), "the watchdog raised the thread");
            assert_eq!(policy_now(), libc::SCHED_OTHER);
        })
        .join()
        .unwrap();
    }
}

#[test]
fn a_section_runs_at_normal_priority_while_the_program_leaves_a_core_unused() {
    if cannot_leave_idle() {
        return;
    }
    std::thread::spawn(|| {
        let busy = Arc::new(AtomicBool::new(false));
        let told = Arc::clone(&busy);
        let section = IdleSection::enter(
            Duration::from_secs(600),
            || false,
            move || Some(told.load(Ordering::SeqCst)),
        );
        assert!(section.yielding());
        // A core is left unused: the watchdog raises the thread, and lowers it again once the
        // program keeps every core busy.
        wait_for_policy(libc::SCHED_OTHER);
        busy.store(true, Ordering::SeqCst);
        wait_for_policy(libc::SCHED_IDLE);
        busy.store(false, Ordering::SeqCst);
        wait_for_policy(libc::SCHED_OTHER);
        assert!(in_idle_section());
        assert!(!section.leave(), "raised by the load, not for good");
        assert_eq!(policy_now(), libc::SCHED_OTHER);
        assert!(!in_idle_section());
    })
    .join()
    .unwrap();
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

/// The rule both passes and the sampler's rollups follow before a page walk.
#[test]
fn a_page_walk_starts_on_a_free_core_or_once_it_waited_its_bound() {
    let ms = Duration::from_millis;
    let bound = Duration::from_secs(1);
    // The program keeps every core busy, or its load is not known yet: the walk waits…
    assert!(!page_walk_starts(Some(true), ms(150), bound));
    assert!(!page_walk_starts(None, ms(150), bound));
    // …until it has waited its bound.
    assert!(page_walk_starts(Some(true), bound, bound));
    assert!(page_walk_starts(None, bound + ms(1), bound));
    // A core the program leaves unused is taken at once.
    assert!(page_walk_starts(Some(false), Duration::ZERO, bound));
}
