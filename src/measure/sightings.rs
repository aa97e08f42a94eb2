//! Each parent's frames as they were when its children were first seen (`memlab run`), so
//! that a page the parent rewrote after a child's sighting is not charged to the child as a
//! copy ([`pagemap::AtSighting`]). One [`ParentFrames`] per parent: a full capture at its
//! first child's sighting, then only the pages that changed at each later sighting.
//!
//! A sighting is noted first ([`Sightings::sighted`]) and captured when the caller says
//! ([`Sightings::capture_pending`]): once the tree leaves a core free, at most 100 ms later
//! (`follow::yielding`). Each child keeps when its parent's frames were captured.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::kernel::pagemap::{self, CaptureId, ParentFrames};

#[derive(Debug, Default)]
pub struct Sightings {
    parents: HashMap<i32, ParentFrames>,
    /// Each child's capture of its parent, taken when the child was first seen.
    children: HashMap<i32, CaptureId>,
    /// Children seen whose parent's frames are not captured yet, by parent, with when the
    /// first of them was seen.
    pending: BTreeMap<i32, (Instant, Vec<i32>)>,
    cost: SightingCost,
}

/// Children whose parent's frames were just captured, and when.
pub struct Captured {
    pub children: Vec<i32>,
    pub at: Instant,
}

/// What the captures cost, for the run's facts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SightingCost {
    pub captures: u64,
    pub total: Duration,
    pub max: Duration,
    /// The longest from the poll that saw a child to its parent's capture.
    pub max_wait: Duration,
    /// Heap memory the captures held at their largest.
    pub peak_heap_bytes: usize,
}

/// The frames a comparison with `parent` needs: its captures and, per child, the capture it
/// is judged by.
pub struct ChildCaptures<'a> {
    pub parent_frames: &'a ParentFrames,
    pub captures: Vec<Option<CaptureId>>,
}

impl Sightings {
    /// Notes that `children` of `parent` were just seen: their parent's frames are to be
    /// captured ([`Sightings::capture_pending`]).
    pub fn sighted(&mut self, parent: i32, children: &[i32]) {
        let (_, waiting) = self
            .pending
            .entry(parent)
            .or_insert_with(|| (Instant::now(), Vec::new()));
        waiting.extend_from_slice(children);
    }

    /// Whether some seen child's parent is not captured yet.
    pub fn any_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Captures the frames of every parent with children seen since, once per parent: the
    /// frames those children are judged by.
    pub fn capture_pending(&mut self) -> Vec<Captured> {
        let mut captured = Vec::new();
        for (parent, (seen, children)) in std::mem::take(&mut self.pending) {
            let at = Instant::now();
            if self.capture(parent, &children) {
                self.cost.max_wait = self.cost.max_wait.max(at.duration_since(seen));
                captured.push(Captured { children, at });
            }
        }
        captured
    }

    /// Captures `parent`'s frames now, as the frames `children` are judged by. When the frames
    /// cannot be read (no frame numbers, the parent vanished) the children are compared as
    /// without a capture: every page that differs counts as copied (returns false).
    fn capture(&mut self, parent: i32, children: &[i32]) -> bool {
        let began = Instant::now();
        let frames = self
            .parents
            .entry(parent)
            .or_insert_with(|| ParentFrames::new(parent));
        let Ok(capture) = frames.capture() else {
            return false;
        };
        for child in children {
            self.children.insert(*child, capture);
        }
        let took = began.elapsed();
        self.cost.captures += 1;
        self.cost.total += took;
        self.cost.max = self.cost.max.max(took);
        self.cost.peak_heap_bytes = self.cost.peak_heap_bytes.max(self.heap_bytes());
        true
    }

    /// `pid` is gone: as a child it needs no capture any more, as a parent its captures go.
    pub fn forget(&mut self, pid: i32) {
        self.children.remove(&pid);
        self.parents.remove(&pid);
        self.pending.remove(&pid);
        for (_, children) in self.pending.values_mut() {
            children.retain(|child| *child != pid);
        }
        self.pending.retain(|_, (_, children)| !children.is_empty());
    }

    /// The captures to compare `children` with `parent` by, if any child has one.
    pub fn for_children(&self, parent: i32, children: &[i32]) -> Option<ChildCaptures<'_>> {
        let parent_frames = self.parents.get(&parent)?;
        let captures: Vec<Option<CaptureId>> = children
            .iter()
            .map(|child| self.children.get(child).copied())
            .collect();
        captures
            .iter()
            .any(Option::is_some)
            .then_some(ChildCaptures {
                parent_frames,
                captures,
            })
    }

    pub fn cost(&self) -> SightingCost {
        self.cost
    }

    fn heap_bytes(&self) -> usize {
        self.parents.values().map(ParentFrames::heap_bytes).sum()
    }
}

impl<'a> ChildCaptures<'a> {
    pub fn at_sighting(&'a self) -> pagemap::AtSighting<'a> {
        pagemap::AtSighting {
            parent_frames: self.parent_frames,
            captures: &self.captures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Children pids no process has (the sightings only keep them).
    const FIRST: i32 = 1 << 22;
    const SECOND: i32 = FIRST + 1;

    #[test]
    fn a_sighting_waits_until_captured_and_a_gone_child_leaves_it() {
        let parent = std::process::id() as i32;
        let mut sightings = Sightings::default();
        sightings.sighted(parent, &[FIRST]);
        sightings.sighted(parent, &[SECOND]);
        assert!(sightings.any_pending());
        sightings.forget(FIRST);
        assert!(sightings.any_pending(), "the second child still waits");
        sightings.forget(SECOND);
        assert!(!sightings.any_pending(), "no child left to capture for");

        sightings.sighted(parent, &[FIRST, SECOND]);
        let captured = sightings.capture_pending();
        assert!(!sightings.any_pending());
        if captured.is_empty() {
            println!("SKIP: frame numbers are not visible (run as root)");
            return;
        }
        // One capture of the parent for both children, seen together.
        assert_eq!(captured.len(), 1);
        assert_eq!(captured[0].children, vec![FIRST, SECOND]);
        assert_eq!(sightings.cost().captures, 1);
        let judged = sightings
            .for_children(parent, &[FIRST, SECOND])
            .expect("both children have a capture");
        assert!(judged.captures.iter().all(Option::is_some));
        // The parent gone: its captures and its children's waits go with it.
        sightings.sighted(parent, &[FIRST + 2]);
        sightings.forget(parent);
        assert!(!sightings.any_pending());
        assert!(sightings.for_children(parent, &[FIRST]).is_none());
    }
}
