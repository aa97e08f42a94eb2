//! Each parent's frames as they were when its children were first seen (`memlab run`), so
//! that a page the parent rewrote after a child's sighting is not charged to the child as a
//! copy ([`pagemap::AtSighting`]). One [`ParentFrames`] per parent: a full capture at its
//! first child's sighting, then only the pages that changed at each later sighting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::kernel::pagemap::{self, CaptureId, ParentFrames};

#[derive(Debug, Default)]
pub struct Sightings {
    parents: HashMap<i32, ParentFrames>,
    /// Each child's capture of its parent, taken when the child was first seen.
    children: HashMap<i32, CaptureId>,
    cost: SightingCost,
}

/// What the captures cost, for the run's facts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SightingCost {
    pub captures: u64,
    pub total: Duration,
    pub max: Duration,
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
    /// Captures `parent`'s frames now, as the frames `children` (just seen) are judged by.
    /// When the frames cannot be read (no frame numbers, the parent vanished) the children are
    /// compared as without a capture: every page that differs counts as copied.
    pub fn capture(&mut self, parent: i32, children: &[i32]) {
        let began = Instant::now();
        let frames = self
            .parents
            .entry(parent)
            .or_insert_with(|| ParentFrames::new(parent));
        let Ok(capture) = frames.capture() else {
            return;
        };
        for child in children {
            self.children.insert(*child, capture);
        }
        let took = began.elapsed();
        self.cost.captures += 1;
        self.cost.total += took;
        self.cost.max = self.cost.max.max(took);
        self.cost.peak_heap_bytes = self.cost.peak_heap_bytes.max(self.heap_bytes());
    }

    /// `pid` is gone: as a child it needs no capture any more, as a parent its captures go.
    pub fn forget(&mut self, pid: i32) {
        self.children.remove(&pid);
        self.parents.remove(&pid);
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
