//! The body of a `memlab run` result (`"run": {…}`): one record per process of the followed
//! tree, the command and how it ended, what the page-truth passes cost, and the CI checks.
//! The table is rendered from these, so it can be re-rendered from a file. (Schema version 1
//! kept the same records under `facts`; the loader moves them here.)

use serde::{Deserialize, Serialize};

use super::census::ChildCensus;
use super::figures::FigureSource;

/// What `memlab run` followed and found, beside the phases and the summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunBody {
    /// The command memlab started (`memlab run -- COMMAND`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The process followed (`memlab run --pid PID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_pid: Option<i32>,
    /// How the command ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<ExitStatusFact>,
    /// The signal that interrupted memlab (`SIGINT`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted_by: Option<String>,
    pub truth_passes: PassesFact,
    pub processes: Vec<RunProcess>,
    pub checks: Vec<CheckOutcome>,
    /// The moment the summary's figures and the checks are taken at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headline: Option<Headline>,
    /// The phases taken for a marker or after the tree began to end, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phase_notes: Vec<RunPhase>,
    /// The phase with the tree's largest ΣPSS over every pass: the summary's tree totals
    /// (`tree_*`) are this phase's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_phase: Option<String>,
    /// What came through the marker pipe (absent when nothing did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markers: Option<MarkersFact>,
}

/// The moment a run's headline figures (the summary, the table, the checks) are taken at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    /// The phase holding that moment (`summary.phase`).
    pub phase: String,
    pub time_s: f64,
    /// Why that phase.
    pub rule: HeadlineRule,
}

/// How the headline's moment was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "marker")]
pub enum HeadlineRule {
    /// `--at MARK`: the last phase of that marker.
    At(String),
    /// The last pass before the tree began to end: the command's exit or the signal memlab
    /// forwarded (`--pid`: memlab's interruption, a `stop`, or the end of the tree).
    BeforeEnd,
    /// The tree began to end before the first pass: the first pass, a teardown pass.
    FirstPass,
}

/// What `memlab run` received on its marker pipe (docs/protocol.md, "Markers from any
/// program").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MarkersFact {
    /// Markers measured: each is a phase (`run.phase_notes[].marker`).
    pub measured: u64,
    /// Checkpoints answered (`measured` or `error`).
    pub answered: u64,
    /// Markers received but not measured (too many, too fast, or from outside the tree).
    pub dropped: u64,
    /// Lines that were not markers (malformed, a bad name, too long).
    pub rejected_lines: u64,
    /// The warnings memlab printed, one per kind of problem.
    pub warnings: Vec<String>,
}

/// What a kept pass of `memlab run` was taken for, beyond its name: listed for the phases of
/// markers and the teardown passes only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunPhase {
    /// The phase (`phases[].name`).
    pub phase: String,
    /// The marker the pass measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<PhaseMarker>,
    /// Taken after the tree began to end (the command's exit, the signal memlab forwarded):
    /// kept on the timeline, never the headline.
    #[serde(default, skip_serializing_if = "is_false")]
    pub teardown: bool,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

/// A marker from the measured program, as its phase records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseMarker {
    pub kind: MarkerKind,
    /// The name the program gave (the phase is `NAME`, `NAME-begin`, `NAME-end`, made unique
    /// with `-2`, `-3`… when repeated).
    pub name: String,
    /// The process that sent it.
    pub pid: i32,
}

/// The kinds of marker a program sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkerKind {
    /// `memlab.mark(NAME)`: measured soon after; the program did not wait.
    Mark,
    /// Entering `with memlab.phase(NAME):`.
    Begin,
    /// Leaving it.
    End,
    /// `memlab.checkpoint(NAME)`: the program waited until this pass was taken.
    Checkpoint,
}

impl MarkerKind {
    /// As the protocol spells it (`"type"`) and the timeline's events name it.
    pub fn name(self) -> &'static str {
        match self {
            MarkerKind::Mark => "mark",
            MarkerKind::Begin => "begin",
            MarkerKind::End => "end",
            MarkerKind::Checkpoint => "checkpoint",
        }
    }

    /// The phase a marker of this kind called `name` becomes.
    pub fn phase_name(self, name: &str) -> String {
        match self {
            MarkerKind::Begin => format!("{name}-begin"),
            MarkerKind::End => format!("{name}-end"),
            MarkerKind::Mark | MarkerKind::Checkpoint => name.to_string(),
        }
    }
}

/// The `facts` keys under which schema version 1 stored these records.
pub const VERSION_1_FACTS: [&str; 7] = [
    "command",
    "attached_pid",
    "exit_status",
    "interrupted_by",
    "truth_passes",
    "processes",
    "checks",
];

/// How a process came into the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessKind {
    /// The command memlab started (the tree's root).
    Command,
    /// The process `--pid` attached to (the tree's root).
    Attached,
    /// Forked without exec: a copy-on-write child, compared page by page with its parent.
    Forked,
    /// Forked, then exec'd another program: nothing left to share with its parent.
    Exec,
    /// First seen after its parent had gone (re-parented to memlab): no parent to compare with.
    Orphan,
}

/// How a process's life in the record ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessEnd {
    /// It exited (or was reaped) while memlab followed the tree.
    Exited,
    /// It was still running when the command ended or memlab was interrupted: memlab killed it.
    Killed,
    /// `--pid`: still running when memlab stopped following it (memlab never kills it).
    Running,
}

/// A forked child's page truth against its parent (or, without page truth, its Private_Dirty
/// growth) at one measurement; `moment` says which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Seconds since the start of the run.
    pub time_s: f64,
    /// The result's phase holding that measurement, when it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Which measurement these figures are (absent in files written before runs had a
    /// headline moment: the measurement where the child had copied the most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moment: Option<FigureMoment>,
    pub copied_bytes: u64,
    /// Copied plus child-only.
    pub private_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_only_bytes: Option<u64>,
    /// Pages the parent rewrote after the child's first sighting while the child kept the
    /// frame they had then: they differ from the parent's now, but the child copied nothing
    /// (they are not in `copied_bytes`). Known with frame numbers only, when the parent's
    /// frames were captured at the sighting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten_by_parent_bytes: Option<u64>,
    /// `page-truth-pfn`, `page-truth-exclusive-bit` or `private-dirty-growth`.
    pub method: FigureSource,
    pub exact: bool,
}

/// Which of a child's measurements a [`Figures`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FigureMoment {
    /// At the run's headline moment (`run.headline`).
    Headline,
    /// The child had exited (or its parent had, ending the comparison) before the headline
    /// moment: its last pass compared with its parent.
    LastPass,
    /// The measurement where it had copied the most over the whole run, teardown included.
    MostCopied,
}

impl FigureMoment {
    /// How the table and the report label it.
    pub fn label(self) -> &'static str {
        match self {
            FigureMoment::Headline => "at the headline moment",
            FigureMoment::LastPass => {
                "at its last pass compared with its parent (it exited, or lost its parent, before)"
            }
            FigureMoment::MostCopied => "the most it copied over the run",
        }
    }
}

/// One process of the followed tree, alive or gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunProcess {
    pub pid: i32,
    /// Its parent when first seen (the process it was forked from); none for the root.
    pub parent_pid: Option<i32>,
    /// Its command line (as last seen; `[comm]` when it has none).
    pub command: String,
    pub kind: ProcessKind,
    /// 1-based, in order of first sighting, for forked children only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_index: Option<usize>,
    /// 0 for the root, 1 for its children, 2 for theirs…
    pub depth: usize,
    pub first_seen_s: f64,
    /// Forked children compared with their parent's frames: when those frames were captured,
    /// the moment a page the parent rewrites stops counting as the child's copy: a window of the
    /// tree's load (30 ms) after the poll that first saw it, or, while the tree keeps every
    /// core busy, up to 100 ms after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_frames_at_s: Option<f64>,
    /// The last time memlab saw it alive.
    pub last_seen_s: f64,
    /// When memlab found it gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone_s: Option<f64>,
    pub end: ProcessEnd,
    /// Largest RSS seen (statm samples and passes).
    pub peak_rss_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_pss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_uss_bytes: Option<u64>,
    /// Largest `Anonymous` (smaps_rollup) seen: what a forked child of it could copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_anonymous_bytes: Option<u64>,
    /// Page-truth passes that measured it.
    pub measured_passes: u32,
    /// Forked children: what it copied from its parent at the headline moment, or at its end
    /// when it exited before (see [`Figures`]); none when it began after that moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
    /// Forked children: the measurement where it had copied the most over the whole run,
    /// teardown included (the latest when equal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub most_copied: Option<Figures>,
    /// Forked CPython children: the censuses of the Python objects on its pages, oldest first,
    /// each at the pass it was taken at (see [`RunProcess::census_for`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub censuses: Vec<RunCensus>,
}

/// A forked child's census, taken right after one page-truth pass while it was alive: the
/// Python objects on the pages it had copied from its parent and on those only it had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCensus {
    /// The pass's time, seconds since the start of the run.
    pub time_s: f64,
    /// The result's phase holding that pass, when it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why that pass took it.
    pub reason: CensusReason,
    /// The child was quiet when it was taken: blocked (sleeping, waiting for a task) or its
    /// copied bytes unchanged since the pass before. False: it had waited 5 s for such a
    /// moment (or it was a checkpoint's census) and may have been mid-work.
    #[serde(default)]
    pub quiet: bool,
    /// The copied pages and the child-only pages the census examined (the page lists of its
    /// own comparison with the parent, a few milliseconds after the pass's).
    pub copied_bytes: u64,
    pub child_only_bytes: u64,
    /// What the census cost (the comparison and the reading of the child's pages).
    pub took_ms: f64,
    /// The types, or why there are none (`python_types_note`).
    #[serde(flatten)]
    pub census: ChildCensus,
}

/// Why a pass took a child's census.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CensusReason {
    /// The child's first census.
    First,
    /// Its copied bytes changed markedly since its last census.
    Changed,
    /// Its copied bytes stopped changing (the same as at the pass before) at another level
    /// than at its last census.
    Settled,
    /// A checkpoint marker: the program waited for this pass.
    Checkpoint,
}

/// Which census of a child goes with a headline moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CensusMoment {
    /// Taken at the headline's own pass.
    AtHeadline,
    /// The latest one taken before it.
    Before,
}

impl RunProcess {
    /// A process seen from 0 s to 1 s in one pass, exited, with no figures: the base the
    /// unit tests' records vary.
    #[cfg(test)]
    pub(crate) fn seen_once(pid: i32, kind: ProcessKind) -> RunProcess {
        RunProcess {
            pid,
            parent_pid: None,
            command: format!("worker {pid}"),
            kind,
            child_index: None,
            depth: 1,
            first_seen_s: 0.0,
            parent_frames_at_s: None,
            last_seen_s: 1.0,
            gone_s: None,
            end: ProcessEnd::Exited,
            peak_rss_bytes: 0,
            peak_pss_bytes: None,
            peak_uss_bytes: None,
            peak_anonymous_bytes: None,
            measured_passes: 1,
            figures: None,
            most_copied: None,
            censuses: Vec::new(),
        }
    }

    /// The census that goes with `headline`: the one taken at its pass, else the latest one
    /// taken before it; none when every census came later (never a later moment).
    pub fn census_for(&self, headline: &Headline) -> Option<(&RunCensus, CensusMoment)> {
        if let Some(at) = self
            .censuses
            .iter()
            .rev()
            .find(|c| c.phase.as_deref() == Some(headline.phase.as_str()))
        {
            return Some((at, CensusMoment::AtHeadline));
        }
        self.censuses
            .iter()
            .rev()
            .find(|c| c.time_s < headline.time_s)
            .map(|c| (c, CensusMoment::Before))
    }
}

/// How the command ended (`memlab run -- COMMAND` only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatusFact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// True when memlab killed it (after an interruption's grace period).
    pub killed_by_memlab: bool,
}

/// What following the tree cost memlab (the timeline sampler's own cost is in `timeline.cost`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PassesFact {
    /// `--interval`: the most time between two page-truth passes.
    pub interval_ms: f64,
    /// The interval the CPU budget allowed in the end (at least `interval_ms`).
    pub effective_interval_ms: f64,
    /// Share of one core the passes may take: a pass that costs 20 ms waits at least 20 / budget.
    pub cpu_budget: f64,
    pub passes: u64,
    pub mean_pass_ms: f64,
    pub max_pass_ms: f64,
    /// Passes that also took the tree's unique footprint, and what one cost.
    pub footprints: u64,
    pub mean_footprint_ms: f64,
    /// Share of one core the footprints may take.
    pub footprint_cpu_budget: f64,
    /// CPU time memlab spent in passes, polls and captures (its main thread), in seconds.
    pub cpu_seconds: f64,
    /// Looks at the tree for new and exited processes (every 20 ms or as the budget allows).
    pub polls: u64,
    pub mean_poll_us: f64,
    /// Passes kept as phases, and passes dropped to keep the result bounded.
    pub phases_kept: usize,
    pub phases_dropped: usize,
    /// `pfn` (exact), `exclusive-bit` (approximate) or `none`.
    pub method: String,
    /// Captures of a parent's frames at its children's first sightings (PFN method only: what
    /// tells the child's copies from the parent's rewrites), what one cost at most, and the
    /// most memory they held at once.
    #[serde(default)]
    pub sighting_captures: u64,
    #[serde(default)]
    pub max_sighting_capture_ms: f64,
    /// The longest from a sighting to its capture: a window of the tree's load on a quiet
    /// tree, up to 100 ms while the tree keeps every core busy.
    #[serde(default)]
    pub max_sighting_capture_wait_ms: f64,
    #[serde(default)]
    pub sighting_frames_peak_bytes: u64,
    /// memlab's own peak resident memory (VmHWM) when it stopped following.
    #[serde(default)]
    pub memlab_peak_rss_bytes: Option<u64>,
    /// Whether censuses of the forked CPython children were taken (`--no-census`: false).
    pub census_enabled: bool,
    /// Child censuses taken (`processes[].censuses`), on how many passes, and what the passes
    /// that took any spent on them (wall time; their CPU time is in `cpu_seconds`).
    pub censuses: u64,
    pub census_passes: u64,
    pub mean_census_ms: f64,
    pub max_census_ms: f64,
    pub census_seconds: f64,
    /// Share of one core the censuses may take over the run (after a first allowance).
    pub census_cpu_budget: f64,
}

/// A process that broke a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offender {
    pub pid: i32,
    /// `child 2`, `command`…
    pub label: String,
    pub command: String,
    pub bytes: u64,
}

/// One CI check and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// `max-copied-per-child` or `max-tree-unique`.
    pub check: String,
    pub limit_bytes: u64,
    /// The largest value measured (None when nothing could be measured).
    pub measured_bytes: Option<u64>,
    /// None when it could not be judged (the note says why).
    pub holds: Option<bool>,
    pub exact: bool,
    pub offenders: Vec<Offender>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How the table names a process: `command`, `child 3`, `exec`, `orphan`.
pub fn label(process: &RunProcess) -> String {
    match (process.kind, process.child_index) {
        (ProcessKind::Command, _) => "command".into(),
        (ProcessKind::Attached, _) => "attached".into(),
        (ProcessKind::Forked, Some(index)) => format!("child {index}"),
        (ProcessKind::Forked, None) => "child".into(),
        (ProcessKind::Exec, _) => "exec".into(),
        (ProcessKind::Orphan, _) => "orphan".into(),
    }
}
