//! From measured phases to the result's figures: the summary, what each child gained since
//! fork, and how those figures were obtained. Pure functions of stored phases, so claims,
//! tables, charts and comparisons all derive a figure the same way.

use serde::{Deserialize, Serialize};

use super::{Phase, ProcessSnapshot, Role, Summary, median};
use crate::kernel::pagemap::{ChildTruth, TruthMethod};

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

/// data_bytes: how much memory allocating the data added, from `baseline` to `allocated`.
/// With frame numbers visible it is the growth of the tree's distinct physical memory, which
/// counts data a helper process holds (a Manager) and shared memory once; otherwise it is the
/// anonymous plus shared-memory growth of the processes present at both phases.
pub fn data_bytes(phases: &[Phase]) -> u64 {
    let phase = |name: &str| phases.iter().find(|p| p.name == name);
    let (Some(before), Some(after)) = (phase("baseline"), phase("allocated")) else {
        return 0;
    };
    if let (Some(unique_before), Some(unique_after)) =
        (before.tree.unique_bytes, after.tree.unique_bytes)
    {
        return unique_after.saturating_sub(unique_before);
    }
    let footprint = |process: &ProcessSnapshot| {
        process
            .rollup
            .as_ref()
            .map(|r| r.anonymous_bytes + r.rss_shmem_bytes)
    };
    after
        .processes
        .iter()
        .filter_map(|now| {
            let then = before.processes.iter().find(|p| p.pid == now.pid)?;
            Some(footprint(now)?.saturating_sub(footprint(then)?))
        })
        .sum()
}

/// How a child's figures since fork were obtained. Stored as `page-truth-pfn`,
/// `page-truth-exclusive-bit` or `private-dirty-growth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FigureSource {
    /// Page truth with physical frame numbers: exact.
    PageTruthPfn,
    /// Page truth from the pagemap exclusive bit: approximate.
    PageTruthExclusiveBit,
    /// Private_Dirty growth since the child was first seen: approximate.
    PrivateDirtyGrowth,
}

impl FigureSource {
    pub fn name(self) -> &'static str {
        match self {
            FigureSource::PageTruthPfn => "page-truth-pfn",
            FigureSource::PageTruthExclusiveBit => "page-truth-exclusive-bit",
            FigureSource::PrivateDirtyGrowth => "private-dirty-growth",
        }
    }

    pub fn exact(self) -> bool {
        self == FigureSource::PageTruthPfn
    }

    /// Page truth (exact or not), as opposed to the Private_Dirty estimate.
    pub fn is_page_truth(self) -> bool {
        self != FigureSource::PrivateDirtyGrowth
    }

    /// The weakest source among several names the whole set: one estimated child makes the
    /// set's figures estimates.
    pub fn weakest(sources: impl IntoIterator<Item = FigureSource>) -> Option<FigureSource> {
        sources.into_iter().min_by_key(|source| match source {
            FigureSource::PrivateDirtyGrowth => 0,
            FigureSource::PageTruthExclusiveBit => 1,
            FigureSource::PageTruthPfn => 2,
        })
    }
}

/// `summary.copied_method`: the figures' source, or `"none"` when no child was measured.
pub mod method_or_none {
    use super::FigureSource;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        method: &Option<FigureSource>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match method {
            Some(source) => source.serialize(serializer),
            None => serializer.serialize_str("none"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<FigureSource>, D::Error> {
        let name = String::deserialize(deserializer)?;
        if name == "none" {
            return Ok(None);
        }
        FigureSource::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(&name))
            .map(Some)
    }
}

/// What a child gained since fork: copied and private (copied + child-only) bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildBytes {
    pub copied_bytes: u64,
    pub private_bytes: u64,
    pub source: FigureSource,
}

fn truth_bytes(truth: &ChildTruth) -> ChildBytes {
    let page = truth.page_size_bytes;
    ChildBytes {
        copied_bytes: truth.total.copied_bytes(page),
        private_bytes: truth.total.copied_bytes(page) + truth.total.child_only_bytes(page),
        source: match (truth.method, truth.exact) {
            (TruthMethod::Pfn, true) => FigureSource::PageTruthPfn,
            _ => FigureSource::PageTruthExclusiveBit,
        },
    }
}

/// A child's figures since fork, when known: page truth first, else the estimate.
pub fn child_bytes(child: &ProcessSnapshot) -> Option<ChildBytes> {
    if let Some(truth) = &child.page_truth {
        return Some(truth_bytes(truth));
    }
    child.private_dirty_growth_bytes.map(|estimate| ChildBytes {
        copied_bytes: estimate,
        private_bytes: estimate,
        source: FigureSource::PrivateDirtyGrowth,
    })
}

/// The announced children of a phase that have figures since fork, in child order.
pub fn measured_children(phase: &Phase) -> Vec<&ProcessSnapshot> {
    let mut children: Vec<&ProcessSnapshot> = phase
        .processes
        .iter()
        .filter(|p| p.role == Role::Child && child_bytes(p).is_some())
        .collect();
    children.sort_by_key(|p| p.child_index);
    children
}

/// The child the tables and charts show in detail: the first measured child at the summary
/// phase.
pub fn summary_child(result: &super::ScenarioResult) -> Option<&ProcessSnapshot> {
    let phase = result.phase(&result.summary.phase)?;
    measured_children(phase).into_iter().next()
}

/// Per declared region: (name, copied bytes, bytes of the region present in the parent).
pub fn region_figures(child: &ProcessSnapshot) -> Vec<(String, u64, u64)> {
    let Some(truth) = &child.page_truth else {
        return Vec::new();
    };
    let page = truth.page_size_bytes;
    truth
        .regions
        .iter()
        .filter(|r| r.declared)
        .map(|r| {
            let in_parent = r.counts.parent_present_pages();
            (
                r.region.clone(),
                r.counts.copied_pages * page,
                in_parent * page,
            )
        })
        .collect()
}

/// A process's (shared, copied, child-only) bytes for the table; None where not measured.
pub fn child_columns(process: &ProcessSnapshot) -> (Option<u64>, Option<u64>, Option<u64>) {
    if let Some(truth) = &process.page_truth {
        let page = truth.page_size_bytes;
        return (
            Some(truth.total.shared_bytes(page)),
            Some(truth.total.copied_bytes(page)),
            Some(truth.total.child_only_bytes(page)),
        );
    }
    match process.role {
        Role::Child => (None, process.private_dirty_growth_bytes, None),
        _ => (None, None, None),
    }
}

pub fn summarize(phases: &[Phase], data_bytes: u64, wall_seconds: f64) -> Summary {
    let Some(phase) = summary_phase(phases) else {
        return Summary {
            wall_seconds,
            ..Summary::default()
        };
    };
    let figures: Vec<ChildBytes> = measured_children(phase)
        .iter()
        .filter_map(|c| child_bytes(c))
        .collect();
    let copied: Vec<u64> = figures.iter().map(|f| f.copied_bytes).collect();
    let private: Vec<u64> = figures.iter().map(|f| f.private_bytes).collect();
    let source = FigureSource::weakest(figures.iter().map(|f| f.source));
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
        copied_exact: source.is_some_and(FigureSource::exact),
        copied_method: source,
        tree_rss_bytes: phase.tree.rss_bytes,
        tree_pss_bytes: phase.tree.pss_bytes,
        tree_uss_bytes: phase.tree.uss_bytes,
        tree_unique_bytes: phase.tree.unique_bytes,
        overcount_factor: phase.tree.overcount_factor,
        wall_seconds,
    }
}
