//! What the passes measured of one process: its peaks, how many passes measured it, the last
//! one, and, for a forked child, its figures where it had copied the most.

use crate::result::ProcessSnapshot;
use crate::result::Role;
use crate::result::figures::{FigureSource, child_bytes};
use crate::result::run::Figures;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measured {
    pub peak_rss_bytes: u64,
    pub peak_pss_bytes: Option<u64>,
    pub peak_uss_bytes: Option<u64>,
    pub peak_anonymous_bytes: Option<u64>,
    pub passes: u32,
    /// The id of the last pass that measured it.
    pub last_pass: Option<u64>,
    /// Its figures where it had copied the most, and the id of that pass.
    pub best: Option<(Figures, u64)>,
}

impl Measured {
    /// Takes in this process's snapshot from pass `pass_id`, taken `time_s` into the run.
    /// Returns true when this is the first pass that could read it.
    pub fn absorb(&mut self, process: &ProcessSnapshot, pass_id: u64, time_s: f64) -> bool {
        let Some(rollup) = &process.rollup else {
            return false;
        };
        let first = self.passes == 0;
        self.passes += 1;
        self.last_pass = Some(pass_id);
        self.peak_rss_bytes = self.peak_rss_bytes.max(rollup.rss_bytes);
        self.peak_pss_bytes = Some(self.peak_pss_bytes.unwrap_or(0).max(rollup.pss_bytes));
        self.peak_uss_bytes = Some(self.peak_uss_bytes.unwrap_or(0).max(rollup.uss_bytes));
        self.peak_anonymous_bytes = Some(
            self.peak_anonymous_bytes
                .unwrap_or(0)
                .max(rollup.anonymous_bytes),
        );
        if let Some(figures) = child_figures(process, time_s)
            && self
                .best
                .as_ref()
                .is_none_or(|(best, _)| better(&figures, best))
        {
            self.best = Some((figures, pass_id));
        }
        first
    }
}

/// A copy-on-write child's figures since fork in this snapshot, if it has any.
pub fn child_figures(process: &ProcessSnapshot, time_s: f64) -> Option<Figures> {
    if process.role != Role::Child {
        return None;
    }
    let bytes = child_bytes(process)?;
    let page_truth = process.page_truth.as_ref();
    Some(Figures {
        time_s,
        phase: None,
        moment: None,
        copied_bytes: bytes.copied_bytes,
        private_bytes: bytes.private_bytes,
        shared_bytes: page_truth.map(|t| t.total.shared_bytes(t.page_size_bytes)),
        child_only_bytes: page_truth.map(|t| t.total.child_only_bytes(t.page_size_bytes)),
        rewritten_by_parent_bytes: page_truth
            .filter(|t| t.against_sighting)
            .map(|t| t.total.rewritten_by_parent_bytes(t.page_size_bytes)),
        method: bytes.source,
        exact: bytes.source.exact(),
    })
}

/// A stronger source wins; from the same source, the most copied (the latest when equal).
fn better(candidate: &Figures, best: &Figures) -> bool {
    let (candidate_rank, best_rank) = (rank(candidate.method), rank(best.method));
    candidate_rank > best_rank
        || (candidate_rank == best_rank && candidate.copied_bytes >= best.copied_bytes)
}

fn rank(source: FigureSource) -> u8 {
    match source {
        FigureSource::PageTruthPfn => 2,
        FigureSource::PageTruthExclusiveBit => 1,
        FigureSource::PrivateDirtyGrowth => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::pagemap::{ChildTruth, PageCounts, TruthMethod};
    use crate::kernel::rollup::Rollup;

    const PAGE: u64 = 4096;

    fn rollup(rss_bytes: u64, pss_bytes: u64, anonymous_bytes: u64) -> Rollup {
        Rollup {
            rss_bytes,
            pss_bytes,
            uss_bytes: pss_bytes / 2,
            anonymous_bytes,
            ..Rollup::default()
        }
    }

    fn snapshot(role: Role, rollup: Option<Rollup>) -> ProcessSnapshot {
        ProcessSnapshot {
            pid: 7,
            role,
            child_index: None,
            missing: rollup.is_none(),
            rollup,
            private_dirty_growth_bytes: None,
            parent_pid: None,
            page_truth: None,
        }
    }

    fn truth(method: TruthMethod, copied_pages: u64) -> ChildTruth {
        ChildTruth {
            exact: method == TruthMethod::Pfn,
            method,
            thp_caveat: false,
            page_size_bytes: PAGE,
            total: PageCounts {
                shared_pages: 100,
                copied_pages,
                child_only_pages: 3,
                ..PageCounts::default()
            },
            regions: Vec::new(),
            against_sighting: false,
        }
    }

    fn child_with_truth(method: TruthMethod, copied_pages: u64) -> ProcessSnapshot {
        let mut child = snapshot(Role::Child, Some(rollup(1, 1, 1)));
        child.page_truth = Some(truth(method, copied_pages).into());
        child
    }

    fn child_with_growth(bytes: u64) -> ProcessSnapshot {
        let mut child = snapshot(Role::Child, Some(rollup(1, 1, 1)));
        child.private_dirty_growth_bytes = Some(bytes);
        child
    }

    #[test]
    fn peaks_are_the_largest_of_every_pass_and_the_first_pass_is_told() {
        let mut measured = Measured::default();
        assert!(measured.absorb(&snapshot(Role::Parent, Some(rollup(500, 300, 200))), 0, 0.1));
        assert!(!measured.absorb(&snapshot(Role::Parent, Some(rollup(400, 350, 100))), 1, 0.2));
        assert_eq!(measured.peak_rss_bytes, 500);
        assert_eq!(measured.peak_pss_bytes, Some(350));
        assert_eq!(measured.peak_uss_bytes, Some(175));
        assert_eq!(measured.peak_anonymous_bytes, Some(200));
        assert_eq!((measured.passes, measured.last_pass), (2, Some(1)));
        assert_eq!(measured.best, None, "a parent has no figures since fork");
    }

    #[test]
    fn a_process_that_could_not_be_read_is_not_counted() {
        let mut measured = Measured::default();
        assert!(!measured.absorb(&snapshot(Role::Child, None), 0, 0.1));
        assert_eq!(measured, Measured::default());
        // Its first readable pass is still its first sighting.
        assert!(measured.absorb(&child_with_growth(10), 1, 0.2));
    }

    #[test]
    fn the_best_figures_are_where_the_child_copied_the_most() {
        let mut measured = Measured::default();
        measured.absorb(&child_with_truth(TruthMethod::Pfn, 10), 0, 0.1);
        measured.absorb(&child_with_truth(TruthMethod::Pfn, 30), 1, 0.2);
        measured.absorb(&child_with_truth(TruthMethod::Pfn, 20), 2, 0.3);
        let (figures, pass) = measured.best.clone().expect("figures");
        assert_eq!(pass, 1);
        assert_eq!(figures.copied_bytes, 30 * PAGE);
        assert_eq!(figures.private_bytes, 33 * PAGE);
        assert_eq!(figures.shared_bytes, Some(100 * PAGE));
        assert_eq!(figures.child_only_bytes, Some(3 * PAGE));
        assert_eq!(figures.time_s, 0.2);
        assert!(figures.exact);
        // Equal figures: the latest pass.
        measured.absorb(&child_with_truth(TruthMethod::Pfn, 30), 3, 0.4);
        assert_eq!(measured.best.map(|(_, pass)| pass), Some(3));
    }

    #[test]
    fn a_stronger_source_wins_over_more_bytes_from_a_weaker_one() {
        let mut measured = Measured::default();
        measured.absorb(&child_with_growth(1 << 30), 0, 0.1);
        measured.absorb(&child_with_truth(TruthMethod::ExclusiveBit, 5), 1, 0.2);
        measured.absorb(&child_with_growth(1 << 31), 2, 0.3);
        let (figures, pass) = measured.best.clone().expect("figures");
        assert_eq!(
            (pass, figures.method),
            (1, FigureSource::PageTruthExclusiveBit)
        );
        assert!(!figures.exact);
        measured.absorb(&child_with_truth(TruthMethod::Pfn, 1), 3, 0.4);
        let (figures, pass) = measured.best.expect("figures");
        assert_eq!((pass, figures.copied_bytes), (3, PAGE));
    }
}
