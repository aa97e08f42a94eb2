//! The per-process records of a run, from the tree's bookkeeping, and the roles they give the
//! processes of the phases and the timeline.

use std::collections::HashMap;

use crate::result::run::{FigureMoment, ProcessEnd, ProcessKind, RunProcess};
use crate::result::{Phase, Role, Timeline};

use crate::follow::tree::{Tracked, role_of};

/// One record per process, in order of first sighting; forked children numbered 1, 2… in that
/// order, with the figures where they copied the most labelled by the phase holding them
/// (`names`: pass id → phase name; none when that pass was dropped). Their figures at the
/// headline moment are the run's to choose ([`crate::follow::assemble`]).
pub fn records(
    tracked: &[Tracked],
    root_kind: ProcessKind,
    names: &HashMap<u64, String>,
) -> Vec<RunProcess> {
    let mut next_child_index = 0;
    tracked
        .iter()
        .map(|t| {
            let kind = t.kind(root_kind);
            let child_index = (kind == ProcessKind::Forked).then(|| {
                next_child_index += 1;
                next_child_index
            });
            record(t, kind, child_index, names)
        })
        .collect()
}

fn record(
    t: &Tracked,
    kind: ProcessKind,
    child_index: Option<usize>,
    names: &HashMap<u64, String>,
) -> RunProcess {
    let most_copied = match (&t.measured.best, kind) {
        (Some((figures, pass_id)), ProcessKind::Forked) => {
            let mut figures = figures.clone();
            figures.phase = names.get(pass_id).cloned();
            figures.moment = Some(FigureMoment::MostCopied);
            Some(figures)
        }
        _ => None,
    };
    let measured = &t.measured;
    RunProcess {
        pid: t.pid,
        parent_pid: t.original_parent,
        command: t.command.clone(),
        kind,
        child_index,
        depth: t.depth,
        first_seen_s: t.first_seen_s,
        parent_frames_at_s: t.parent_frames_s,
        last_seen_s: t.last_seen_s,
        gone_s: t.gone_s,
        end: t.end.unwrap_or(if t.alive {
            ProcessEnd::Running
        } else {
            ProcessEnd::Exited
        }),
        peak_rss_bytes: measured.peak_rss_bytes,
        peak_pss_bytes: measured.peak_pss_bytes,
        peak_uss_bytes: measured.peak_uss_bytes,
        peak_anonymous_bytes: measured.peak_anonymous_bytes,
        measured_passes: measured.passes,
        figures: None,
        most_copied,
        censuses: Vec::new(),
    }
}

/// Roles as finally known (a child that exec'd later is a descendant everywhere), and children
/// numbered in order of first sighting, in the phases and the timeline alike.
pub fn settle_roles(processes: &[RunProcess], phases: &mut [Phase], timeline: &mut Timeline) {
    let roles: HashMap<i32, (Role, Option<usize>)> = processes
        .iter()
        .map(|p| (p.pid, (role_of(p.kind), p.child_index)))
        .collect();
    for process in phases.iter_mut().flat_map(|p| p.processes.iter_mut()) {
        if let Some((role, index)) = roles.get(&process.pid) {
            process.role = *role;
            process.child_index = *index;
        }
    }
    for process in timeline
        .samples
        .iter_mut()
        .flat_map(|s| s.processes.iter_mut())
    {
        if let Some((role, _)) = roles.get(&process.pid) {
            process.role = Some(*role);
        }
    }
}

/// Peaks seen by the timeline sampler (statm every 10 ms) between the passes, credited to the
/// latest record of each pid.
pub fn add_sampled_peaks(processes: &mut [RunProcess], timeline: &Timeline) {
    for sampled in timeline.samples.iter().flat_map(|s| &s.processes) {
        if let Some(process) = processes.iter_mut().rev().find(|p| p.pid == sampled.pid) {
            process.peak_rss_bytes = process.peak_rss_bytes.max(sampled.rss_bytes);
            if let Some(pss) = sampled.pss_bytes {
                process.peak_pss_bytes = Some(process.peak_pss_bytes.unwrap_or(0).max(pss));
            }
            if let Some(uss) = sampled.uss_bytes {
                process.peak_uss_bytes = Some(process.peak_uss_bytes.unwrap_or(0).max(uss));
            }
        }
    }
}

#[cfg(test)]
mod tests;
