//! One measurement of the workload tree at a quiet moment: every process's smaps_rollup, each
//! child's page truth against its parent (and, when asked, the census of the Python objects on
//! the pages it copied), the tree's unique footprint, and /proc/meminfo.

use std::collections::{BTreeMap, HashMap};

use crate::census::take_census;
use crate::kernel::ReadError;
use crate::kernel::meminfo::{MeminfoSnapshot, read_meminfo};
use crate::kernel::pagemap::{
    self, ChildComparison, CompareOptions, DeclaredRegion, PageLists, PageTruthError, TruthMethod,
};
use crate::kernel::rollup::{Rollup, read_rollup};
use crate::kernel::tree::{descendants, parent_of};
use crate::measure::sightings::{ChildCaptures, Sightings};
use crate::result::census::{ChildCensus, PythonCensus, RegionTypes, merge_types};
use crate::result::{PageTruth, ProcessSnapshot, Region, Role, TreeTotals};

pub struct Snapshot {
    pub processes: Vec<ProcessSnapshot>,
    pub meminfo: MeminfoSnapshot,
    pub tree: TreeTotals,
}

/// A process of a tree followed by its caller ([`TreeMeasurement::measure_members`]), and the
/// process its page truth is taken against: its parent while it is a copy-on-write child of
/// it, else none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub pid: i32,
    pub role: Role,
    pub child_index: Option<usize>,
    pub compare_with: Option<i32>,
}

/// Measures the tree phase after phase, remembering what it needs across phases.
pub struct TreeMeasurement {
    /// Private_Dirty of each child when first seen: the base of its copied-bytes estimate.
    first_private_dirty: HashMap<i32, u64>,
    /// How page truth can be read here (PFNs with CAP_SYS_ADMIN, else the exclusive bit).
    method: Option<TruthMethod>,
    /// Take the census of the Python objects on each child's copied and child-only pages.
    census: bool,
}

impl Default for TreeMeasurement {
    fn default() -> Self {
        TreeMeasurement {
            first_private_dirty: HashMap::new(),
            method: pagemap::best_method().ok(),
            census: false,
        }
    }
}

impl TreeMeasurement {
    /// Measurements that also take each child's CPython census ([`crate::census`]): the
    /// objects on the pages it copied and on those only it has, read from outside.
    pub fn with_census() -> Self {
        TreeMeasurement {
            census: true,
            ..TreeMeasurement::default()
        }
    }

    /// Page truth of `children` against `parent` (against its frames at their first
    /// sightings when `sightings` has them), with the census when asked for.
    fn compare(
        &self,
        parent: i32,
        children: &[i32],
        declared: &[DeclaredRegion],
        method: TruthMethod,
        sightings: Option<&Sightings>,
    ) -> Result<Vec<Result<PageTruth, PageTruthError>>, PageTruthError> {
        let captures = sightings.and_then(|s| s.for_children(parent, children));
        let options = CompareOptions {
            method: Some(method),
            page_lists: self.census,
            at_sighting: captures.as_ref().map(ChildCaptures::at_sighting),
        };
        let compared = pagemap::compare_children_with(parent, children, declared, &options)?;
        Ok(compared
            .into_iter()
            .zip(children)
            .map(|(comparison, pid)| {
                comparison.map(|ChildComparison { truth, page_lists }| {
                    let mut page_truth = PageTruth::from(truth);
                    if let Some(lists) = page_lists {
                        page_truth.census = child_census(*pid, &lists, declared);
                    }
                    page_truth
                })
            })
            .collect())
    }

    pub fn measure(
        &mut self,
        parent: i32,
        announced: &[i32],
        regions: &[Region],
    ) -> anyhow::Result<Snapshot> {
        let mut members: Vec<(i32, Role, Option<usize>)> = vec![(parent, Role::Parent, None)];
        members.extend(
            announced
                .iter()
                .enumerate()
                .map(|(i, pid)| (*pid, Role::Child, Some(i + 1))),
        );
        for pid in descendants(parent) {
            if !announced.contains(&pid) {
                members.push((pid, Role::Descendant, None));
            }
        }

        let mut processes = Vec::with_capacity(members.len());
        for (pid, role, child_index) in members {
            let rollup = match read_rollup(pid) {
                Ok(rollup) => Some(rollup),
                Err(ReadError::Vanished { .. }) => None,
                Err(error) => return Err(error.into()),
            };
            processes.push(self.snapshot(pid, role, child_index, None, rollup));
        }

        self.add_page_truth(parent, regions, &mut processes)?;
        let tree = self.tree_totals(&processes)?;
        Ok(Snapshot {
            processes,
            meminfo: read_meminfo()?,
            tree,
        })
    }

    /// Measures a tree whose membership and parentage the caller follows itself (`memlab run`):
    /// every member's rollup, the page truth of each member against its `compare_with` (no
    /// declared regions: pages are labelled by mapping kind), the tree's sums and meminfo. The
    /// unique footprint is left to the caller, which decides how often it can afford it
    /// ([`pagemap::tree_unique_footprint`]). Unlike [`TreeMeasurement::measure`], a process that
    /// cannot be read (it vanished, or memlab may not read it: a setuid program in an arbitrary
    /// command's tree) is marked missing or left without page truth instead of failing the
    /// measurement. With `sightings`, each child is compared with its parent's frames at its
    /// first sighting: pages the parent rewrote since are not counted as the child's copies.
    pub fn measure_members(
        &mut self,
        members: &[Member],
        sightings: Option<&Sightings>,
    ) -> anyhow::Result<Snapshot> {
        let mut processes = Vec::with_capacity(members.len());
        for member in members {
            let rollup = read_rollup(member.pid).ok();
            processes.push(self.snapshot(
                member.pid,
                member.role,
                member.child_index,
                member.compare_with,
                rollup,
            ));
        }
        if let Some(method) = self.method {
            let mut by_parent: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
            for (index, process) in processes.iter().enumerate() {
                if let (Some(parent), false) = (process.parent_pid, process.missing) {
                    by_parent.entry(parent).or_default().push(index);
                }
            }
            for (parent, indexes) in by_parent {
                let pids: Vec<i32> = indexes.iter().map(|i| processes[*i].pid).collect();
                let Ok(truths) = self.compare(parent, &pids, &[], method, sightings) else {
                    continue;
                };
                for (index, truth) in indexes.into_iter().zip(truths) {
                    match truth {
                        Ok(truth) => processes[index].page_truth = Some(truth),
                        Err(PageTruthError::Vanished { .. }) => processes[index].missing = true,
                        Err(_) => {}
                    }
                }
            }
        }
        let tree = sum_rollups(&processes);
        Ok(Snapshot {
            processes,
            meminfo: read_meminfo()?,
            tree,
        })
    }

    /// One process's snapshot. A child first seen now has no Private_Dirty growth to report
    /// yet (None, never a made-up 0); its Private_Dirty is the base of later growth.
    fn snapshot(
        &mut self,
        pid: i32,
        role: Role,
        child_index: Option<usize>,
        parent_pid: Option<i32>,
        rollup: Option<Rollup>,
    ) -> ProcessSnapshot {
        let private_dirty_growth_bytes = match (&rollup, role) {
            (Some(rollup), Role::Child) => match self.first_private_dirty.get(&pid) {
                Some(base) => Some(rollup.private_dirty_bytes.saturating_sub(*base)),
                None => {
                    self.first_private_dirty
                        .insert(pid, rollup.private_dirty_bytes);
                    None
                }
            },
            _ => None,
        };
        ProcessSnapshot {
            pid,
            role,
            child_index,
            missing: rollup.is_none(),
            rollup,
            private_dirty_growth_bytes,
            parent_pid,
            page_truth: None,
        }
    }

    /// Compares every child and descendant with its own parent, page by page. Declared regions
    /// are addresses in the workload, so they apply to the workload's direct children only.
    fn add_page_truth(
        &self,
        workload: i32,
        regions: &[Region],
        processes: &mut [ProcessSnapshot],
    ) -> anyhow::Result<()> {
        let Some(method) = self.method else {
            return Ok(());
        };
        let declared: Vec<DeclaredRegion> = regions
            .iter()
            .map(|r| DeclaredRegion {
                name: r.name.clone(),
                start: r.start,
                end: r.end,
            })
            .collect();
        let mut by_parent: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        for (index, process) in processes.iter_mut().enumerate() {
            if process.role == Role::Parent || process.missing {
                continue;
            }
            if let Some(ppid) = parent_of(process.pid) {
                process.parent_pid = Some(ppid);
                by_parent.entry(ppid).or_default().push(index);
            }
        }
        for (ppid, indexes) in by_parent {
            let pids: Vec<i32> = indexes.iter().map(|i| processes[*i].pid).collect();
            let regions: &[DeclaredRegion] = if ppid == workload { &declared } else { &[] };
            let truths = match self.compare(ppid, &pids, regions, method, None) {
                Ok(truths) => truths,
                // The parent went away mid-read: these children are measured next phase.
                Err(PageTruthError::Vanished { .. }) => continue,
                Err(error) => {
                    return Err(anyhow::Error::new(error)
                        .context(format!("page truth against parent {ppid}")));
                }
            };
            for (index, truth) in indexes.into_iter().zip(truths) {
                match truth {
                    Ok(truth) => processes[index].page_truth = Some(truth),
                    Err(PageTruthError::Vanished { .. }) => processes[index].missing = true,
                    Err(error) => {
                        return Err(anyhow::Error::new(error).context(format!(
                            "page truth of {} against {ppid}",
                            processes[index].pid
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn tree_totals(&self, processes: &[ProcessSnapshot]) -> anyhow::Result<TreeTotals> {
        let mut tree = sum_rollups(processes);
        if self.method == Some(TruthMethod::Pfn) {
            let live: Vec<i32> = processes
                .iter()
                .filter(|p| !p.missing)
                .map(|p| p.pid)
                .collect();
            match pagemap::tree_footprint(&live) {
                Ok(footprint) if footprint.exact => {
                    tree.unique_bytes = footprint.unique_bytes;
                    tree.outside_shared_bytes = footprint.outside_shared_bytes;
                }
                Ok(_) | Err(PageTruthError::Vanished { .. }) => {}
                Err(error) => return Err(anyhow::Error::new(error).context("tree footprint")),
            }
        }
        tree.overcount_factor = tree
            .unique_bytes
            .filter(|unique| *unique > 0)
            .map(|unique| tree.rss_bytes as f64 / unique as f64);
        Ok(tree)
    }
}

/// The census of a child's copied pages (each declared region's apart, then the rest) and of
/// its child-only pages. A child that is not a decodable CPython (or may not be read) gets the
/// reason instead.
fn child_census(pid: i32, lists: &PageLists, declared: &[DeclaredRegion]) -> ChildCensus {
    let copied = lists.by_region(&lists.copied);
    let (own, rest): (Vec<_>, Vec<_>) = copied
        .into_iter()
        .partition(|(region, _)| declared.iter().any(|d| &d.name == region));
    let mut census = ChildCensus::default();
    let mut types = Vec::new();
    let mut take = |pages: &[(String, Vec<std::ops::Range<u64>>)]| {
        take_census(pid, pages).map(|taken: PythonCensus| {
            merge_types(&mut types, &taken.types);
            census
                .python_not_pymalloc_regions
                .extend(taken.not_pymalloc_regions);
            census.python_interpreter = Some(taken.interpreter);
            taken.types
        })
    };
    let outcome = (|| {
        for (region, runs) in own {
            let types = take(&[(region.clone(), runs)])?;
            census
                .python_types_by_region
                .push(RegionTypes { region, types });
        }
        take(&rest)?;
        take_census(pid, &lists.by_region(&lists.child_only))
    })();
    match outcome {
        Ok(child_only) => {
            census.python_types = Some(types);
            census.python_types_child_only = Some(child_only.types);
            census
        }
        Err(skip) => ChildCensus::skipped(skip.reason),
    }
}

/// ΣRSS, ΣPSS and ΣUSS over the processes that could be read.
fn sum_rollups(processes: &[ProcessSnapshot]) -> TreeTotals {
    let mut tree = TreeTotals::default();
    for rollup in processes.iter().filter_map(|p| p.rollup.as_ref()) {
        tree.rss_bytes += rollup.rss_bytes;
        tree.pss_bytes += rollup.pss_bytes;
        tree.uss_bytes += rollup.uss_bytes;
    }
    tree
}
