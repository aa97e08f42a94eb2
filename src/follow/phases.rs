//! Which passes are kept as phases, and their names: `start`, `seen-PID` (first sighting),
//! `last-PID` (the last pass that saw PID alive), `peak`, `end`, else `t-MSms`; joined with
//! `-`, at most [`MAX_PHASE_NAME`] characters, made unique with `-2`, `-3`… Beyond
//! [`MAX_PHASES`], every other unnamed pass is dropped.

use std::collections::{HashMap, HashSet};

use crate::result::Phase;

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
}

impl Pass {
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
}

/// The passes kept so far, oldest first.
#[derive(Debug, Default)]
pub struct PassLog {
    passes: Vec<Pass>,
    next_id: u64,
    dropped: usize,
}

impl PassLog {
    /// The id the next pass gets: 0 for the first.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }

    pub fn push(&mut self, pass: Pass) {
        self.next_id = self.next_id.max(pass.id + 1);
        self.passes.push(pass);
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
                    && Some(pass.id) != peak
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
            named.phases.push(phase);
        }
        named
    }
}

/// The reasons a pass was kept, joined while they fit in [`MAX_PHASE_NAME`] characters (the
/// first reason always); `t-MSms` when there is none.
fn phase_name(pass: &Pass, is_peak: bool) -> String {
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
