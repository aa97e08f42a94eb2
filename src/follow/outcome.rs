//! What following a tree leaves: the phases kept, every process's record, the timeline, how
//! the command ended and what following cost.

use std::process::ExitStatus;

use crate::result::run::{ExitStatusFact, MarkersFact, PassesFact, RunPhase, RunProcess};
use crate::result::{Phase, Timeline};

/// The largest footprint of the tree over all passes.
#[derive(Debug, Clone)]
pub struct PeakFootprint {
    pub bytes: u64,
    /// Unique bytes (distinct frames); false: ΣPSS, without frame numbers.
    pub exact: bool,
    pub time_s: f64,
    /// The process with the largest PSS at that moment, and its PSS.
    pub largest: Option<(i32, u64)>,
}

pub struct FollowOutcome {
    pub phases: Vec<Phase>,
    /// The last pass before the tree began to end (its command's exit, the signal memlab
    /// forwarded, `--pid`'s stop): the default headline.
    pub before_end_phase: Option<String>,
    /// The phases of markers and the teardown passes, and why.
    pub phase_notes: Vec<RunPhase>,
    /// The phase with the tree's largest ΣPSS over every pass (each new maximum also took the
    /// unique footprint, when frame numbers are readable).
    pub peak_phase: Option<String>,
    pub peak_footprint: Option<PeakFootprint>,
    pub processes: Vec<RunProcess>,
    pub timeline: Timeline,
    pub exit: Option<ExitStatusFact>,
    pub exit_status: Option<ExitStatus>,
    /// The signal that interrupted memlab.
    pub interrupted_by: Option<i32>,
    pub passes: PassesFact,
    pub wall_seconds: f64,
    /// What came through the marker pipe.
    pub markers: Option<MarkersFact>,
}
