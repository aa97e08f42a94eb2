//! The tree's bookkeeping: one record per process that ever belonged to the followed tree.
//!
//! Each poll observes the live processes of the tree ([`Observations`]); what that changes is
//! decided by [`Tree::decide`], a pure function of the records and the observations (unit
//! tests feed it synthetic ones), then applied by [`Tree::apply`].
//!
//! A process is a copy-on-write child of its parent while its memory [`Layout`] is its
//! parent's: the layout is copied at fork and replaced by exec.

use std::collections::HashMap;

use crate::measure::snapshot::Member;
use crate::result::Role;
use crate::result::run::{ProcessEnd, ProcessKind};

use crate::follow::measured::Measured;

/// The `stat` fields that a forked child shares with its parent and an exec replaces: code,
/// data, heap start, stack, arguments and environment addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout(pub [u64; 10]);

/// A live process as one poll saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub ppid: i32,
    /// Clock ticks after boot: a pid reused by another process has another starttime.
    pub starttime: u64,
    pub layout: Layout,
    /// In state R: on a core, or waiting for one.
    pub running: bool,
}

/// What one poll saw: the live processes of the tree (zombies and exiting processes are not
/// observed), by pid, in the order the poll found them (parents before their children).
#[derive(Debug, Default)]
pub struct Observations {
    order: Vec<i32>,
    by_pid: HashMap<i32, Observed>,
}

impl Observations {
    pub fn insert(&mut self, pid: i32, observed: Observed) {
        if self.by_pid.insert(pid, observed).is_none() {
            self.order.push(pid);
        }
    }

    pub fn get(&self, pid: i32) -> Option<&Observed> {
        self.by_pid.get(&pid)
    }

    /// In the order found.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &Observed)> {
        self.order.iter().map(|pid| (*pid, &self.by_pid[pid]))
    }
}

/// A process as followed, from its first sighting to its end.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub pid: i32,
    pub starttime: u64,
    pub root: bool,
    /// Its parent when first seen, if that parent was in the tree.
    pub original_parent: Option<i32>,
    pub layout: Layout,
    /// First seen with its parent's layout: forked without exec (so far).
    pub forked_at_sighting: bool,
    /// Its layout changed since first seen: it exec'd.
    pub exec_after_sighting: bool,
    /// A copy-on-write child of a live parent at the last poll: page truth applies.
    pub comparable: bool,
    pub alive: bool,
    pub command: String,
    pub depth: usize,
    pub first_seen_s: f64,
    /// When its parent's frames were captured (see [`crate::measure::sightings`]).
    pub parent_frames_s: Option<f64>,
    pub last_seen_s: f64,
    pub gone_s: Option<f64>,
    pub end: Option<ProcessEnd>,
    pub measured: Measured,
}

impl Tracked {
    pub fn kind(&self, root_kind: ProcessKind) -> ProcessKind {
        if self.root {
            root_kind
        } else if self.exec_after_sighting {
            ProcessKind::Exec
        } else if self.forked_at_sighting {
            ProcessKind::Forked
        } else if self.original_parent.is_some() {
            ProcessKind::Exec
        } else {
            ProcessKind::Orphan
        }
    }
}

/// The role a process of a given kind plays in the phases and the timeline.
pub fn role_of(kind: ProcessKind) -> Role {
    match kind {
        ProcessKind::Command | ProcessKind::Attached => Role::Parent,
        ProcessKind::Forked => Role::Child,
        ProcessKind::Exec | ProcessKind::Orphan => Role::Descendant,
    }
}

/// What a poll changes, decided before anything is changed.
#[derive(Debug, Default, PartialEq)]
pub struct PollDecision {
    /// Live records whose process is gone: not observed (exited, a zombie, exiting, or out of
    /// the tree), or its pid now another process's.
    pub gone: Vec<usize>,
    /// Live records observed again, in the order found.
    pub seen_again: Vec<SeenAgain>,
    /// Processes observed for the first time, in the order found.
    pub new: Vec<Sighting>,
}

/// A live record observed again.
#[derive(Debug, PartialEq)]
pub struct SeenAgain {
    pub index: usize,
    /// Its layout changed since the last poll: it exec'd.
    pub exec: bool,
    pub layout: Layout,
    /// Still a copy-on-write child of its original parent, which is alive.
    pub comparable: bool,
}

/// A process observed for the first time.
#[derive(Debug, PartialEq)]
pub struct Sighting {
    pub pid: i32,
    pub starttime: u64,
    pub layout: Layout,
    pub root: bool,
    /// Its parent, when the parent is in the tree.
    pub parent: Option<i32>,
    /// It has its parent's layout: forked, not exec'd (yet).
    pub forked: bool,
    pub depth: usize,
}

/// A process found gone by a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoneProcess {
    pub pid: i32,
    /// The last pass that measured it: that pass becomes its `last-PID` phase.
    pub last_pass: Option<u64>,
}

/// New and vanished processes found by a poll.
#[derive(Debug, Default, PartialEq)]
pub struct Change {
    pub new: Vec<i32>,
    pub gone: Vec<GoneProcess>,
}

/// Every process that ever belonged to the tree.
#[derive(Debug)]
pub struct Tree {
    root_pid: i32,
    /// What the root is: the command memlab started, or the process it attached to.
    root_kind: ProcessKind,
    /// In order of first sighting; a reused pid gets a new record.
    records: Vec<Tracked>,
    /// pid → index of its latest record.
    latest: HashMap<i32, usize>,
}

impl Tree {
    pub fn new(root_pid: i32, root_kind: ProcessKind) -> Tree {
        Tree {
            root_pid,
            root_kind,
            records: Vec::new(),
            latest: HashMap::new(),
        }
    }

    pub fn root_kind(&self) -> ProcessKind {
        self.root_kind
    }

    /// Every record, in order of first sighting.
    pub fn records(&self) -> &[Tracked] {
        &self.records
    }

    pub fn alive(&self) -> impl Iterator<Item = &Tracked> {
        self.records.iter().filter(|t| t.alive)
    }

    pub fn any_alive(&self) -> bool {
        self.alive().next().is_some()
    }

    /// Whether `pid` has a record: it is, or was, in the tree.
    pub fn knows(&self, pid: i32) -> bool {
        self.latest.contains_key(&pid)
    }

    /// The latest record of `pid`.
    pub fn latest_mut(&mut self, pid: i32) -> Option<&mut Tracked> {
        let index = *self.latest.get(&pid)?;
        Some(&mut self.records[index])
    }

    /// The oldest pass that is still the latest to have measured a live process.
    pub fn oldest_live_last_pass(&self) -> Option<u64> {
        self.alive().filter_map(|t| t.measured.last_pass).min()
    }

    /// The live processes to measure, in order of first sighting, each compared with its
    /// parent while it is a copy-on-write child of it.
    pub fn members(&self) -> Vec<Member> {
        self.records
            .iter()
            .enumerate()
            .filter(|(_, t)| t.alive)
            .map(|(order, t)| {
                let role = role_of(t.kind(self.root_kind));
                Member {
                    pid: t.pid,
                    role,
                    child_index: (role == Role::Child).then_some(order),
                    compare_with: t.original_parent.filter(|_| t.comparable),
                }
            })
            .collect()
    }

    /// What this poll's observations change (see [`PollDecision`]); changes nothing.
    pub fn decide(&self, seen: &Observations) -> PollDecision {
        let mut decision = PollDecision::default();
        for (index, tracked) in self.records.iter().enumerate() {
            let still_there = seen
                .get(tracked.pid)
                .is_some_and(|o| o.starttime == tracked.starttime);
            if tracked.alive && !still_there {
                decision.gone.push(index);
            }
        }
        for (pid, observed) in seen.iter() {
            match self.live_record(pid, observed.starttime) {
                Some(index) => decision
                    .seen_again
                    .push(self.seen_again(index, observed, seen)),
                None => decision.new.push(self.sighting(pid, observed, seen)),
            }
        }
        decision
    }

    fn live_record(&self, pid: i32, starttime: u64) -> Option<usize> {
        self.latest.get(&pid).copied().filter(|index| {
            let tracked = &self.records[*index];
            tracked.alive && tracked.starttime == starttime
        })
    }

    fn seen_again(&self, index: usize, observed: &Observed, seen: &Observations) -> SeenAgain {
        let tracked = &self.records[index];
        let exec = observed.layout != tracked.layout;
        // The root's own exec does not make it a descendant: it stays the root.
        let exec_after_sighting = tracked.exec_after_sighting || (exec && !tracked.root);
        let parent_layout = seen.get(observed.ppid).map(|p| p.layout);
        SeenAgain {
            index,
            exec,
            layout: observed.layout,
            comparable: tracked.forked_at_sighting
                && !exec_after_sighting
                && Some(observed.ppid) == tracked.original_parent
                && parent_layout == Some(observed.layout),
        }
    }

    fn sighting(&self, pid: i32, observed: &Observed, seen: &Observations) -> Sighting {
        let root = self.is_new_root(pid);
        let parent = seen.get(observed.ppid).filter(|_| !root);
        Sighting {
            pid,
            starttime: observed.starttime,
            layout: observed.layout,
            root,
            parent: parent.map(|_| observed.ppid),
            forked: parent.is_some_and(|p| p.layout == observed.layout),
            depth: self.new_depth(pid, observed, seen, 0),
        }
    }

    fn is_new_root(&self, pid: i32) -> bool {
        pid == self.root_pid && !self.records.iter().any(|t| t.root)
    }

    /// 0 for the root; 1 + its parent's depth when the parent is in the tree (itself perhaps
    /// new in this poll, found before or after it); else 1.
    fn new_depth(&self, pid: i32, observed: &Observed, seen: &Observations, hops: usize) -> usize {
        if self.is_new_root(pid) {
            return 0;
        }
        let ppid = observed.ppid;
        let Some(parent) = seen.get(ppid) else {
            return 1;
        };
        let parent_depth = match self.live_record(ppid, parent.starttime) {
            Some(index) => self.records[index].depth,
            // Parents are fewer than the observations: more hops than that is a loop.
            None if hops < seen.order.len() => self.new_depth(ppid, parent, seen, hops + 1),
            None => 0,
        };
        parent_depth + 1
    }

    /// Applies a decision taken on this tree: marks the gone, updates the seen again, records
    /// the new. `command_of` reads a process's command line.
    pub fn apply(
        &mut self,
        decision: PollDecision,
        now_s: f64,
        mut command_of: impl FnMut(i32) -> String,
    ) -> Change {
        let mut change = Change::default();
        for index in decision.gone {
            let tracked = &mut self.records[index];
            tracked.alive = false;
            tracked.comparable = false;
            tracked.gone_s = Some(now_s);
            tracked.end = Some(ProcessEnd::Exited);
            change.gone.push(GoneProcess {
                pid: tracked.pid,
                last_pass: tracked.measured.last_pass,
            });
        }
        for again in decision.seen_again {
            let tracked = &mut self.records[again.index];
            tracked.last_seen_s = now_s;
            if again.exec {
                // A new program, nothing left to share with its parent.
                tracked.layout = again.layout;
                tracked.exec_after_sighting |= !tracked.root;
                tracked.command = command_of(tracked.pid);
            } else if tracked.command.is_empty() || tracked.command.starts_with('[') {
                // Seen in the middle of an exec, before its arguments were in place.
                tracked.command = command_of(tracked.pid);
            }
            tracked.comparable = again.comparable;
        }
        for sighting in decision.new {
            self.latest.insert(sighting.pid, self.records.len());
            self.records.push(Tracked {
                pid: sighting.pid,
                starttime: sighting.starttime,
                root: sighting.root,
                original_parent: sighting.parent,
                layout: sighting.layout,
                forked_at_sighting: sighting.forked,
                exec_after_sighting: false,
                comparable: sighting.forked,
                alive: true,
                command: command_of(sighting.pid),
                depth: sighting.depth,
                first_seen_s: now_s,
                parent_frames_s: None,
                last_seen_s: now_s,
                gone_s: None,
                end: None,
                measured: Measured::default(),
            });
            change.new.push(sighting.pid);
        }
        change
    }

    /// `--pid`: memlab stops following; what is still alive is left running.
    pub fn leave_running(&mut self) {
        for tracked in self.records.iter_mut().filter(|t| t.alive) {
            tracked.end = Some(ProcessEnd::Running);
        }
    }

    /// The command exited: memlab killed what was still alive below it.
    pub fn mark_killed(&mut self, now_s: f64) {
        for tracked in self.records.iter_mut().filter(|t| t.alive) {
            tracked.alive = false;
            tracked.gone_s = Some(now_s);
            tracked.end = Some(ProcessEnd::Killed);
        }
    }
}

#[cfg(test)]
mod tests;
