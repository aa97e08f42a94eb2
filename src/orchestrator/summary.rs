//! From measured phases to the result's summary figures.

use crate::result::{Phase, ProcessSnapshot, Role, Summary, median};

/// The phase the summary reports: `operated` when the workload has one, else the last phase
/// in which children were measured.
pub fn summary_phase(phases: &[Phase]) -> Option<&Phase> {
    phases.iter().find(|p| p.name == "operated").or_else(|| {
        phases.iter().rev().find(|p| {
            p.processes
                .iter()
                .any(|proc| proc.role == Role::Child && !proc.missing)
        })
    })
}

/// data_bytes: the parent's anonymous plus shared-memory growth from `baseline` to `allocated`.
pub fn data_bytes(phases: &[Phase]) -> u64 {
    let parent_footprint = |name: &str| {
        phases
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.processes.iter().find(|proc| proc.role == Role::Parent))
            .and_then(|proc| proc.rollup.as_ref())
            .map(|r| r.anonymous_bytes + r.rss_shmem_bytes)
    };
    match (parent_footprint("baseline"), parent_footprint("allocated")) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => 0,
    }
}

/// A child's (copied, private) bytes since fork.
fn child_bytes(child: &ProcessSnapshot) -> Option<(u64, u64)> {
    child
        .private_dirty_growth_bytes
        .map(|estimate| (estimate, estimate))
}

/// The children of a phase that have figures since fork, in child order.
pub fn measured_children(phase: &Phase) -> Vec<&ProcessSnapshot> {
    let mut children: Vec<&ProcessSnapshot> = phase
        .processes
        .iter()
        .filter(|p| p.role == Role::Child && child_bytes(p).is_some())
        .collect();
    children.sort_by_key(|p| p.child_index);
    children
}

/// Per declared region: (copied bytes, bytes of the region present in the parent).
pub fn region_figures(_child: &ProcessSnapshot) -> Vec<(String, u64, u64)> {
    Vec::new()
}

pub fn summarize(phases: &[Phase], data_bytes: u64, wall_seconds: f64) -> Summary {
    let Some(phase) = summary_phase(phases) else {
        return Summary {
            wall_seconds,
            copied_method: "none".into(),
            ..Summary::default()
        };
    };
    let (copied, private): (Vec<u64>, Vec<u64>) = measured_children(phase)
        .iter()
        .filter_map(|c| child_bytes(c))
        .unzip();
    let fraction = |values: &[u64]| {
        if data_bytes == 0 {
            0.0
        } else {
            median(&values.iter().map(|v| *v as f64).collect::<Vec<_>>()) / data_bytes as f64
        }
    };
    Summary {
        phase: phase.name.clone(),
        copied_fraction: fraction(&copied),
        private_fraction: fraction(&private),
        copied_bytes_per_child: copied,
        private_bytes_per_child: private,
        copied_exact: false,
        copied_method: "private-dirty-growth".into(),
        tree_rss_bytes: phase.tree.rss_bytes,
        tree_pss_bytes: phase.tree.pss_bytes,
        tree_uss_bytes: phase.tree.uss_bytes,
        tree_unique_bytes: phase.tree.unique_bytes,
        overcount_factor: phase.tree.overcount_factor,
        wall_seconds,
    }
}

/// A process's (shared, copied, child-only) bytes for the table; None where not measured.
pub fn child_columns(process: &ProcessSnapshot) -> (Option<u64>, Option<u64>, Option<u64>) {
    match process.role {
        Role::Child => (None, process.private_dirty_growth_bytes, None),
        _ => (None, None, None),
    }
}
