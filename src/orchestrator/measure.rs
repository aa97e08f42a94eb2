//! One measurement of the workload tree at a quiet moment.

use std::collections::HashMap;

use crate::kernel::ReadError;
use crate::kernel::meminfo::{MeminfoSnapshot, read_meminfo};
use crate::kernel::rollup::read_rollup;
use crate::kernel::tree::descendants;
use crate::result::{ProcessSnapshot, Region, Role, TreeTotals};

pub struct Snapshot {
    pub processes: Vec<ProcessSnapshot>,
    pub meminfo: MeminfoSnapshot,
    pub tree: TreeTotals,
}

/// Measures the tree phase after phase, remembering what it needs across phases.
#[derive(Default)]
pub struct TreeMeasurement {
    /// Private_Dirty of each child when first seen: the base of its copied-bytes estimate.
    first_private_dirty: HashMap<i32, u64>,
}

impl TreeMeasurement {
    pub fn measure(
        &mut self,
        parent: i32,
        announced: &[i32],
        _regions: &[Region],
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
            // A child first seen now has no growth to report yet (None, never a made-up 0).
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
            processes.push(ProcessSnapshot {
                pid,
                role,
                child_index,
                missing: rollup.is_none(),
                rollup,
                private_dirty_growth_bytes,
            });
        }

        let mut tree = TreeTotals::default();
        for rollup in processes.iter().filter_map(|p| p.rollup.as_ref()) {
            tree.rss_bytes += rollup.rss_bytes;
            tree.pss_bytes += rollup.pss_bytes;
            tree.uss_bytes += rollup.uss_bytes;
        }
        Ok(Snapshot {
            processes,
            meminfo: read_meminfo()?,
            tree,
        })
    }
}
