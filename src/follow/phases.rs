//! Which passes are kept as phases, and their names: a marker's own name (`NAME`,
//! `NAME-begin`, `NAME-end`), else `start`, `seen-PID` (first sighting), `last-PID` (the last
//! pass that saw PID alive), `peak`, `end`, else `t-MSms`; joined with `-`, at most
//! [`MAX_PHASE_NAME`] characters, made unique with `-2`, `-3`… Beyond [`MAX_PHASES`], every
//! other unnamed pass is dropped; markers' passes and the last pass before the tree began to
//! end are always kept.

use std::collections::{HashMap, HashSet};

use crate::result::Phase;
use crate::result::run::{PhaseMarker, RunPhase};

/// Most passes kept as phases.
pub const MAX_PHASES: usize = 240;
/// Longest phase name (the protocol's rule, kept for run's phases).
const MAX_PHASE_NAME: usize = 40;

/// A pass, with the reasons it may be kept as a phase.
#[derive(Debug, Clone)]
pub struct Pass {
    pub id: u64,
    /// Unnamed until the run ends.
    pub phase: Phase,
    pub start: bool,
    pub end: bool,
    /// Processes measured for the first time in this pass.
    pub seen: Vec<i32>,
    /// Processes for which this was the last pass before they exited.
    pub last_of: Vec<i32>,
    /// The marker this pass measured.
    pub marker: Option<PhaseMarker>,
    /// Taken after the tree began to end (the command's exit, or the signal memlab forwarded).
    pub teardown: bool,
}

impl Pass {
    /// A pass taken now, for no reason yet but being due.
    pub fn new(id: u64, phase: Phase) -> Pass {
        Pass {
            id,
            phase,
            start: id == 0,
            end: false,
            seen: Vec::new(),
            last_of: Vec::new(),
            marker: None,
            teardown: false,
        }
    }

    fn named(&self) -> bool {
        !self.seen.is_empty() || !self.last_of.is_empty()
    }
}

/// The kept passes as named phases.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPhases {
    pub phases: Vec<Phase>,
    /// The name of the peak pass, when it was kept.
    pub peak: Option<String>,
    /// Pass id → phase name.
    pub names: HashMap<u64, String>,
    /// Markers' and teardown passes' notes, in order.
    pub notes: Vec<RunPhase>,
}

/// The passes kept so far, oldest first.
#[derive(Debug, Default)]
pub struct PassLog {
    passes: Vec<Pass>,
    next_id: u64,
    dropped: usize,
    /// The last pass before the tree began to end, once it did.
    before_end: Option<u64>,
    /// Passes are teardown passes from now on.
    ending: bool,
}

impl PassLog {
    /// The id the next pass gets: 0 for the first.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    /// Keeps `pass`, a teardown pass when the tree began to end before it.
    pub fn push(&mut self, mut pass: Pass) {
        self.next_id = self.next_id.max(pass.id + 1);
        pass.teardown = self.ending;
        self.passes.push(pass);
    }

    /// The tree begins to end now: the latest pass is the last before its end (always kept),
    /// later ones are teardown passes. Only the first call counts.
    pub fn begin_ending(&mut self) {
        if !self.ending {
            self.ending = true;
            self.before_end = self.passes.last().map(|p| p.id);
        }
    }

    /// The last pass before the tree began to end: the latest pass while it has not.
    pub fn before_end(&self) -> Option<u64> {
        if self.ending {
            self.before_end
        } else {
            self.passes.last().map(|p| p.id)
        }
    }

    /// Passes dropped to keep at most [`MAX_PHASES`].
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// `pid` was found gone: pass `pass_id` was the last to see it alive.
    pub fn mark_last_of(&mut self, pass_id: u64, pid: i32) {
        if let Some(pass) = self.passes.iter_mut().find(|p| p.id == pass_id) {
            pass.last_of.push(pid);
        }
    }

    /// The run ended: the latest pass is its `end`.
    pub fn mark_end(&mut self) {
        if let Some(last) = self.passes.last_mut() {
            last.end = true;
        }
    }

    /// Keeps at most [`MAX_PHASES`] passes: drops every other unnamed one (then, if still too
    /// many, every other named one), never the first, the `peak`, the latest, or any from
    /// `oldest_live_last_pass` on (a pass that is still the latest of a live process may
    /// become its `last-PID`).
    pub fn thin(&mut self, peak: Option<u64>, oldest_live_last_pass: Option<u64>) {
        let Some(latest) = self.passes.last().map(|p| p.id) else {
            return;
        };
        let protected_from = oldest_live_last_pass.unwrap_or(u64::MAX).min(latest);
        for named_too in [false, true] {
            if self.passes.len() <= MAX_PHASES {
                break;
            }
            let before = self.passes.len();
            let mut drop_this = true;
            self.passes.retain(|pass| {
                let removable = !pass.start
                    && pass.marker.is_none()
                    && Some(pass.id) != peak
                    && Some(pass.id) != self.before_end
                    && pass.id < protected_from
                    && (named_too || !pass.named());
                if !removable {
                    return true;
                }
                drop_this = !drop_this;
                drop_this
            });
            self.dropped += before - self.passes.len();
        }
    }

    /// The kept passes as phases, named by why they were kept.
    pub fn into_phases(self, peak: Option<u64>) -> NamedPhases {
        let mut used: HashSet<String> = HashSet::new();
        let mut named = NamedPhases {
            phases: Vec::with_capacity(self.passes.len()),
            peak: None,
            names: HashMap::new(),
            notes: Vec::new(),
        };
        for pass in self.passes {
            let is_peak = Some(pass.id) == peak;
            let name = unique_name(phase_name(&pass, is_peak), &mut used);
            if is_peak {
                named.peak = Some(name.clone());
            }
            named.names.insert(pass.id, name.clone());
            let mut phase = pass.phase;
            phase.name = name;
            if pass.marker.is_some() || pass.teardown {
                named.notes.push(RunPhase {
                    phase: phase.name.clone(),
                    marker: pass.marker,
                    teardown: pass.teardown,
                });
            }
            named.phases.push(phase);
        }
        named
    }
}

/// A marker's pass is named after the marker; others by the reasons they were kept, joined
/// while they fit in [`MAX_PHASE_NAME`] characters (the first reason always); `t-MSms` when
/// there is none.
fn phase_name(pass: &Pass, is_peak: bool) -> String {
    if let Some(marker) = &pass.marker {
        return marker.kind.phase_name(&marker.name);
    }
    let mut parts: Vec<String> = Vec::new();
    if pass.start {
        parts.push("start".into());
    }
    if pass.end {
        parts.push("end".into());
    }
    if is_peak {
        parts.push("peak".into());
    }
    if !pass.start {
        parts.extend(pid_part("seen", &pass.seen));
    }
    parts.extend(pid_part("last", &pass.last_of));
    if parts.is_empty() {
        let time_ms = (pass.phase.time_s * 1000.0).round() as u64;
        return format!("t-{time_ms}ms");
    }
    let mut name = String::new();
    for part in parts {
        let joined = if name.is_empty() {
            part
        } else {
            format!("{name}-{part}")
        };
        if joined.len() > MAX_PHASE_NAME && !name.is_empty() {
            break;
        }
        name = joined;
    }
    name
}

/// `seen-PID`, or `seen-PID-and-N` for N more.
fn pid_part(what: &str, pids: &[i32]) -> Option<String> {
    match pids {
        [] => None,
        [one] => Some(format!("{what}-{one}")),
        [first, rest @ ..] => Some(format!("{what}-{first}-and-{}", rest.len())),
    }
}

/// `name`, or `name-2`, `name-3`… when taken.
fn unique_name(name: String, used: &mut HashSet<String>) -> String {
    let mut unique = name.clone();
    let mut suffix = 2;
    while !used.insert(unique.clone()) {
        unique = format!("{name}-{suffix}");
        suffix += 1;
    }
    unique
}

#[cfg(test)]
mod tests;
