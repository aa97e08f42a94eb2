//! The process tree below a pid, through procfs `task/*/children`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI32, Ordering};

/// The process memlab starts for its own bookkeeping (the guard of its cgroup), 0 if none.
/// It is never part of a tree memlab lists, follows, measures or kills as such.
static MEMLAB_OWN_PROCESS: AtomicI32 = AtomicI32::new(0);

/// Leaves `pid` out of every tree listed from now on.
pub fn set_memlab_own_process(pid: i32) {
    MEMLAB_OWN_PROCESS.store(pid, Ordering::SeqCst);
}

/// All descendants of `root` (not `root` itself), parents before their children.
/// Processes that exit during the walk are simply not listed.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(pid) = frontier.pop() {
        for child in direct_children(pid) {
            if seen.insert(child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// Children of every thread of `pid` (a child belongs to the thread that forked it), memlab's
/// own guard left out.
pub fn direct_children(pid: i32) -> Vec<i32> {
    let Ok(process) = procfs::process::Process::new(pid) else {
        return Vec::new();
    };
    let Ok(tasks) = process.tasks() else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for task in tasks.flatten() {
        if let Ok(pids) = task.children() {
            children.extend(pids.into_iter().map(|p| p as i32));
        }
    }
    let own = MEMLAB_OWN_PROCESS.load(Ordering::SeqCst);
    children.retain(|child| *child != own);
    children
}

/// The parent pid of `pid`, if it still exists.
pub fn parent_of(pid: i32) -> Option<i32> {
    procfs::process::Process::new(pid)
        .ok()?
        .stat()
        .ok()
        .map(|stat| stat.ppid)
}

/// True when `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    procfs::process::Process::new(pid)
        .and_then(|p| p.stat())
        .map(|stat| stat.state != 'Z' && stat.state != 'X')
        .unwrap_or(false)
}

/// How many of `pids` are in state R (on a core or waiting for one); those that exited are not.
pub fn running_count(pids: impl IntoIterator<Item = i32>) -> usize {
    pids.into_iter()
        .filter(|pid| {
            procfs::process::Process::new(*pid)
                .and_then(|p| p.stat())
                .is_ok_and(|stat| stat.state == 'R')
        })
        .count()
}
