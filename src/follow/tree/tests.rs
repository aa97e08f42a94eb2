use super::*;

const ROOT: i32 = 100;
/// memlab, the root's parent: never observed.
const MEMLAB: i32 = 1;

fn layout(program: u64) -> Layout {
    Layout([program; 10])
}

/// A poll's observations: (pid, ppid, starttime, program), in the order found.
fn seen(processes: &[(i32, i32, u64, u64)]) -> Observations {
    let mut observations = Observations::default();
    for &(pid, ppid, starttime, program) in processes {
        observations.insert(
            pid,
            Observed {
                ppid,
                starttime,
                layout: layout(program),
                running: false,
            },
        );
    }
    observations
}

/// Decides and applies one poll at `now_s`; command lines read `cmd-PID`.
fn poll(tree: &mut Tree, now_s: f64, processes: &[(i32, i32, u64, u64)]) -> Change {
    let decision = tree.decide(&seen(processes));
    tree.apply(decision, now_s, |pid| format!("cmd-{pid}"))
}

fn record(tree: &Tree, pid: i32) -> &Tracked {
    tree.records()
        .iter()
        .rev()
        .find(|t| t.pid == pid)
        .expect("a record")
}

fn kind(tree: &Tree, pid: i32) -> ProcessKind {
    record(tree, pid).kind(tree.root_kind())
}

/// A command (pid 100, program 1) that forked child 101.
fn command_with_child() -> Tree {
    let mut tree = Tree::new(ROOT, ProcessKind::Command);
    poll(&mut tree, 0.0, &[(ROOT, MEMLAB, 50, 1)]);
    poll(&mut tree, 0.1, &[(ROOT, MEMLAB, 50, 1), (101, ROOT, 60, 1)]);
    tree
}

#[test]
fn the_root_is_found_at_depth_zero_and_compared_with_nothing() {
    let mut tree = Tree::new(ROOT, ProcessKind::Command);
    let change = poll(&mut tree, 0.0, &[(ROOT, MEMLAB, 50, 1)]);
    assert_eq!(change.new, [ROOT]);
    let root = record(&tree, ROOT);
    assert!(root.root && root.alive && !root.comparable);
    assert_eq!((root.depth, root.original_parent), (0, None));
    assert_eq!(root.command, "cmd-100");
    assert_eq!(kind(&tree, ROOT), ProcessKind::Command);
    let attached = Tree::new(ROOT, ProcessKind::Attached);
    assert_eq!(attached.root_kind(), ProcessKind::Attached);
}

#[test]
fn a_fork_has_its_parents_layout_and_is_compared_with_it() {
    let tree = command_with_child();
    let child = record(&tree, 101);
    assert!(child.forked_at_sighting && child.comparable);
    assert_eq!((child.original_parent, child.depth), (Some(ROOT), 1));
    assert_eq!((child.first_seen_s, child.last_seen_s), (0.1, 0.1));
    assert_eq!(kind(&tree, 101), ProcessKind::Forked);
    let members = tree.members();
    assert_eq!(members.len(), 2);
    assert_eq!(
        (members[0].role, members[0].compare_with),
        (Role::Parent, None)
    );
    assert_eq!(
        (members[1].pid, members[1].role, members[1].compare_with),
        (101, Role::Child, Some(ROOT))
    );
    assert_eq!(members[1].child_index, Some(1), "its sighting order");
}

#[test]
fn an_exec_changes_the_layout_and_ends_the_comparison() {
    let mut tree = command_with_child();
    let change = poll(&mut tree, 0.2, &[(ROOT, MEMLAB, 50, 1), (101, ROOT, 60, 2)]);
    assert_eq!(change, Change::default(), "an exec is neither new nor gone");
    let child = record(&tree, 101);
    assert!(child.exec_after_sighting && !child.comparable && child.alive);
    assert_eq!(child.layout, layout(2));
    assert_eq!(kind(&tree, 101), ProcessKind::Exec);
    assert_eq!(tree.members()[1].compare_with, None);
    assert_eq!(tree.members()[1].role, Role::Descendant);
    // Once exec'd, it stays so even if a later layout matched its parent's again.
    poll(&mut tree, 0.3, &[(ROOT, MEMLAB, 50, 1), (101, ROOT, 60, 1)]);
    assert!(!record(&tree, 101).comparable);
}

#[test]
fn the_roots_own_exec_keeps_it_the_root() {
    let mut tree = command_with_child();
    poll(&mut tree, 0.2, &[(ROOT, MEMLAB, 50, 7), (101, ROOT, 60, 1)]);
    let root = record(&tree, ROOT);
    assert!(!root.exec_after_sighting);
    assert_eq!(kind(&tree, ROOT), ProcessKind::Command);
    // Its child no longer has its parent's layout: nothing left to compare.
    assert!(!record(&tree, 101).comparable);
    assert_eq!(
        kind(&tree, 101),
        ProcessKind::Forked,
        "it did not exec itself"
    );
}

#[test]
fn a_child_seen_after_its_exec_is_an_exec_not_a_fork() {
    let mut tree = Tree::new(ROOT, ProcessKind::Command);
    poll(&mut tree, 0.0, &[(ROOT, MEMLAB, 50, 1), (101, ROOT, 60, 3)]);
    let child = record(&tree, 101);
    assert!(!child.forked_at_sighting && !child.comparable);
    assert_eq!(child.original_parent, Some(ROOT));
    assert_eq!(kind(&tree, 101), ProcessKind::Exec);
}

#[test]
fn an_exit_or_a_zombie_is_gone_with_its_last_pass() {
    let mut tree = command_with_child();
    tree.latest_mut(101).expect("child").measured.last_pass = Some(4);
    // A zombie is not observed: the poll sees only the root.
    let change = poll(&mut tree, 0.5, &[(ROOT, MEMLAB, 50, 1)]);
    assert_eq!(
        change.gone,
        [GoneProcess {
            pid: 101,
            last_pass: Some(4)
        }]
    );
    let child = record(&tree, 101);
    assert!(!child.alive && !child.comparable);
    assert_eq!(
        (child.gone_s, child.end),
        (Some(0.5), Some(ProcessEnd::Exited))
    );
    assert_eq!(child.last_seen_s, 0.1);
    assert_eq!(tree.members().len(), 1);
    // Gone is reported once.
    assert_eq!(
        poll(&mut tree, 0.6, &[(ROOT, MEMLAB, 50, 1)]),
        Change::default()
    );
}

#[test]
fn a_reused_pid_is_a_new_process_and_the_old_one_is_gone() {
    let mut tree = command_with_child();
    // 101 exited and its pid went to another fork of the root, started later.
    let change = poll(&mut tree, 0.4, &[(ROOT, MEMLAB, 50, 1), (101, ROOT, 90, 1)]);
    assert_eq!(change.new, [101]);
    assert_eq!(change.gone.iter().map(|g| g.pid).collect::<Vec<_>>(), [101]);
    let records: Vec<&Tracked> = tree.records().iter().filter(|t| t.pid == 101).collect();
    assert_eq!(records.len(), 2);
    assert!(!records[0].alive && records[1].alive);
    assert_eq!(records[1].starttime, 90);
    assert_eq!(tree.latest_mut(101).map(|t| t.starttime), Some(90));
    assert_eq!(tree.members()[1].child_index, Some(2), "sighting order");
}

#[test]
fn an_orphan_re_parented_away_from_its_parent_is_no_longer_compared() {
    let mut tree = command_with_child();
    poll(
        &mut tree,
        0.2,
        &[(ROOT, MEMLAB, 50, 1), (101, ROOT, 60, 1), (102, 101, 70, 1)],
    );
    assert!(record(&tree, 102).comparable);
    assert_eq!(record(&tree, 102).depth, 2);
    // 101 exits; 102 is re-parented to memlab, the subreaper.
    poll(
        &mut tree,
        0.3,
        &[(ROOT, MEMLAB, 50, 1), (102, MEMLAB, 70, 1)],
    );
    let orphan = record(&tree, 102);
    assert!(orphan.alive && !orphan.comparable);
    assert_eq!(orphan.original_parent, Some(101));
    assert_eq!(
        kind(&tree, 102),
        ProcessKind::Forked,
        "it still is a forked child"
    );
}

#[test]
fn a_process_first_seen_without_its_parent_is_an_orphan() {
    let mut tree = command_with_child();
    // 103's parent exited before any poll saw either: it was re-parented to memlab.
    poll(
        &mut tree,
        0.2,
        &[
            (ROOT, MEMLAB, 50, 1),
            (101, ROOT, 60, 1),
            (103, MEMLAB, 80, 1),
        ],
    );
    let orphan = record(&tree, 103);
    assert_eq!((orphan.original_parent, orphan.depth), (None, 1));
    assert!(!orphan.forked_at_sighting && !orphan.comparable);
    assert_eq!(kind(&tree, 103), ProcessKind::Orphan);
}

#[test]
fn a_child_seen_before_its_parent_in_the_same_poll_gets_its_depth_and_its_fork() {
    let mut tree = Tree::new(ROOT, ProcessKind::Command);
    poll(&mut tree, 0.0, &[(ROOT, MEMLAB, 50, 1)]);
    // Found in this order: grandchild 102, child 101 (both new), then the root.
    let change = poll(
        &mut tree,
        0.1,
        &[(102, 101, 70, 1), (101, ROOT, 60, 1), (ROOT, MEMLAB, 50, 1)],
    );
    assert_eq!(change.new, [102, 101], "sighting order is the order found");
    let grandchild = record(&tree, 102);
    assert_eq!(
        (grandchild.depth, grandchild.original_parent),
        (2, Some(101))
    );
    assert!(grandchild.forked_at_sighting && grandchild.comparable);
    assert_eq!(record(&tree, 101).depth, 1);
}

#[test]
fn a_root_found_after_its_children_is_still_the_root() {
    let mut tree = Tree::new(ROOT, ProcessKind::Attached);
    poll(&mut tree, 0.0, &[(101, ROOT, 60, 1), (ROOT, 7, 50, 1)]);
    let root = record(&tree, ROOT);
    assert!(root.root);
    assert_eq!(root.depth, 0);
    assert_eq!(record(&tree, 101).depth, 1);
    assert_eq!(kind(&tree, 101), ProcessKind::Forked);
    assert_eq!(kind(&tree, ROOT), ProcessKind::Attached);
}

#[test]
fn deciding_changes_nothing_and_decides_the_same_twice() {
    let tree = command_with_child();
    let observations = seen(&[(ROOT, MEMLAB, 50, 1), (102, ROOT, 70, 4)]);
    let first = tree.decide(&observations);
    assert_eq!(first, tree.decide(&observations));
    assert_eq!(first.gone, [1]);
    assert_eq!(first.seen_again.len(), 1);
    assert_eq!(
        first.new,
        [Sighting {
            pid: 102,
            starttime: 70,
            layout: layout(4),
            root: false,
            parent: Some(ROOT),
            forked: false,
            depth: 1,
        }]
    );
    assert!(record(&tree, 101).alive);
    assert_eq!(tree.records().len(), 2);
}

#[test]
fn a_command_line_read_mid_exec_is_read_again() {
    let mut tree = command_with_child();
    tree.latest_mut(101).expect("child").command = "[python3]".into();
    poll(&mut tree, 0.2, &[(ROOT, MEMLAB, 50, 1), (101, ROOT, 60, 1)]);
    assert_eq!(record(&tree, 101).command, "cmd-101");
    assert_eq!(record(&tree, 101).last_seen_s, 0.2);
}

#[test]
fn the_oldest_live_last_pass_ignores_the_gone() {
    let mut tree = command_with_child();
    assert_eq!(tree.oldest_live_last_pass(), None);
    tree.latest_mut(ROOT).expect("root").measured.last_pass = Some(5);
    tree.latest_mut(101).expect("child").measured.last_pass = Some(3);
    assert_eq!(tree.oldest_live_last_pass(), Some(3));
    poll(&mut tree, 0.3, &[(ROOT, MEMLAB, 50, 1)]);
    assert_eq!(tree.oldest_live_last_pass(), Some(5));
}

#[test]
fn at_the_end_the_living_are_left_running_or_killed() {
    let mut attached = command_with_child();
    attached.leave_running();
    assert!(attached.records().iter().all(|t| t.alive));
    assert!(
        attached
            .records()
            .iter()
            .all(|t| t.end == Some(ProcessEnd::Running))
    );
    let mut spawned = command_with_child();
    poll(&mut spawned, 0.2, &[(ROOT, MEMLAB, 50, 1)]);
    spawned.mark_killed(0.9);
    assert!(!spawned.any_alive());
    assert_eq!(record(&spawned, ROOT).end, Some(ProcessEnd::Killed));
    assert_eq!(record(&spawned, ROOT).gone_s, Some(0.9));
    assert_eq!(record(&spawned, 101).end, Some(ProcessEnd::Exited));
    assert_eq!(record(&spawned, 101).gone_s, Some(0.2));
}
