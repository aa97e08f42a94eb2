//! The result JSON: the public, versioned contract (docs/results.md). Reports and comparisons
//! are rendered from files of this shape, never from a run in memory.
//!
//! - this file: the envelope and the measured phases, shared by scenario and `memlab run`
//!   results;
//! - [`params`]: a scenario's parameters; [`run`]: the typed body of a `memlab run` result;
//! - [`census`]: the Python objects on a child's copied and child-only pages;
//! - [`figures`]: the summary and per-child figures derived from the phases;
//! - [`verdict`]: a claim's verdict and unit;
//! - [`load`]: the one loader (schema check, version-1 files, non-regular files refused);
//! - [`files`]: the one place that names result files and reads those names back.

pub mod census;
pub mod figures;
pub mod files;
pub mod incomplete;
pub mod load;
pub mod params;
pub mod run;
pub mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kernel::machine::Machine;
use crate::kernel::meminfo::MeminfoSnapshot;
use crate::kernel::pagemap::ChildTruth;
use crate::kernel::rollup::Rollup;
pub use params::Params;
pub use verdict::{ClaimUnit, Verdict};

/// Bumped on any incompatible change of this file's shape. Version 2: `memlab run` results
/// hold their records in a typed `run` body (version 1 kept them in `facts`) and no `params`.
/// Version 1 files still load ([`load`]).
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest version [`load`] still reads.
pub const OLDEST_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub schema_version: u32,
    pub memlab_version: String,
    pub git_commit: Option<String>,
    /// RFC 3339, UTC.
    pub timestamp: String,
    pub machine: Machine,
    /// The scenario's name, or `run` for a `memlab run` result.
    pub scenario: String,
    /// The seed document the scenario reproduces (`000`…`003`), `beyond`, or `run`.
    pub source_document: String,
    /// A scenario's parameters (absent from `memlab run` results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Params>,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<Skip>,
    /// The parent's anonymous (plus shared-memory) growth from allocating the data, measured
    /// between the `baseline` and `allocated` phases.
    pub data_bytes: u64,
    pub regions: Vec<Region>,
    /// Phases of the first run (the one the tables and charts show).
    pub phases: Vec<Phase>,
    /// Values the workload measured itself (ground truth, timings, checks).
    pub facts: BTreeMap<String, serde_json::Value>,
    pub summary: Summary,
    /// One summary per run when `--repeat` > 1 (the first run included).
    pub runs: Vec<Summary>,
    pub claims: Vec<Claim>,
    /// Memory of every process over time, with the protocol's events as markers.
    #[serde(default, deserialize_with = "timeline_or_empty_list")]
    pub timeline: Timeline,
    /// `memlab run` only: the followed processes, the command's end, the checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<run::RunBody>,
}

/// Results written before the sampler existed hold `"timeline": []`: read that as no timeline.
fn timeline_or_empty_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Timeline, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Timeline(Box<Timeline>),
        Empty(Vec<serde_json::Value>),
    }
    match Stored::deserialize(deserializer)? {
        Stored::Timeline(timeline) => Ok(*timeline),
        Stored::Empty(list) if list.is_empty() => Ok(Timeline::default()),
        Stored::Empty(_) => Err(serde::de::Error::custom(
            "a timeline is an object, not a list of samples",
        )),
    }
}

/// Samples taken by the orchestrator while the workload runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Target interval between two cheap samples (`statm`: RSS only).
    pub statm_interval_ms: f64,
    /// Target interval between two full samples (`smaps_rollup`: RSS, PSS, USS), adapted to
    /// what a rollup costs so the sampler stays within its budget.
    pub rollup_interval_ms: f64,
    pub samples: Vec<Sample>,
    /// Protocol events: phases announced, children started, operations begun and ended.
    pub events: Vec<TimelineEvent>,
    pub cost: SamplerCost,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the workload started.
    pub time_s: f64,
    /// `statm` (RSS only) or `rollup` (RSS, PSS, USS).
    pub kind: SampleKind,
    pub processes: Vec<ProcessSample>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    #[default]
    Statm,
    Rollup,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSample {
    pub pid: i32,
    pub role: Option<Role>,
    pub rss_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uss_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub time_s: f64,
    /// `phase`, `children`, `operation-start`, `operation-end`, `done`.
    pub kind: String,
    pub name: String,
}

/// What sampling cost the orchestrator (not the measured tree).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplerCost {
    pub statm_samples: u64,
    pub rollup_samples: u64,
    /// Rollups not taken because a measurement (a phase, a pass of `memlab run`) had just
    /// recorded a full sample of the tree.
    #[serde(default)]
    pub rollups_skipped: u64,
    /// Rollups that waited for the tree to leave a core free, taken up to a second late.
    #[serde(default)]
    pub rollups_waited: u64,
    /// Mean wall time of one sample of the whole tree, in microseconds.
    pub statm_mean_us: f64,
    pub rollup_mean_us: f64,
    /// CPU time the sampler thread used, in seconds.
    pub cpu_seconds: f64,
    /// Samples in which a process had vanished (marked missing, not an error).
    pub missing_process_samples: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skip {
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Region {
    pub name: String,
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    /// Seconds since the workload started.
    pub time_s: f64,
    pub processes: Vec<ProcessSnapshot>,
    pub meminfo: MeminfoSnapshot,
    pub tree: TreeTotals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The workload process, which allocated the data and forked.
    Parent,
    /// A child the workload announced.
    Child,
    /// A process found in the tree that the workload did not announce.
    Descendant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessSnapshot {
    pub pid: i32,
    pub role: Role,
    /// 1-based index among the announced children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_index: Option<usize>,
    /// Absent when the process vanished while being measured.
    pub rollup: Option<Rollup>,
    pub missing: bool,
    /// Private_Dirty growth since this child was first seen (the estimate of copied bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_dirty_growth_bytes: Option<u64>,
    /// The process this one was compared with (its parent when measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<i32>,
    /// Page by page against its parent: shared, copied, child-only, per region; and the
    /// Python objects on the copied pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_truth: Option<PageTruth>,
}

/// A child's page truth against its parent, and the census of its pages (stored flat:
/// `page_truth.copied_pages`… beside `page_truth.python_types`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageTruth {
    #[serde(flatten)]
    pub truth: ChildTruth,
    #[serde(flatten)]
    pub census: census::ChildCensus,
}

impl From<ChildTruth> for PageTruth {
    fn from(truth: ChildTruth) -> Self {
        PageTruth {
            truth,
            census: census::ChildCensus::default(),
        }
    }
}

impl std::ops::Deref for PageTruth {
    type Target = ChildTruth;

    fn deref(&self) -> &ChildTruth {
        &self.truth
    }
}

impl std::ops::DerefMut for PageTruth {
    fn deref_mut(&mut self) -> &mut ChildTruth {
        &mut self.truth
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TreeTotals {
    /// ΣRSS: what naive tools report, shared pages counted once per process.
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub uss_bytes: u64,
    /// Distinct physical frames across the tree (needs page truth).
    #[serde(default)]
    pub unique_bytes: Option<u64>,
    /// ΣRSS / unique.
    #[serde(default)]
    pub overcount_factor: Option<f64>,
    /// Of the unique bytes, those whose frames are also mapped outside the tree (libc text…).
    #[serde(default)]
    pub outside_shared_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The phase the figures come from (the last one with the children alive).
    pub phase: String,
    /// Pages each child copied from its parent since fork, in bytes, by child index.
    pub copied_bytes_per_child: Vec<u64>,
    /// Copied plus child-only: everything a child holds privately that it gained since fork.
    pub private_bytes_per_child: Vec<u64>,
    /// Median child copied / data_bytes.
    pub copied_fraction: f64,
    /// Median child private / data_bytes.
    pub private_fraction: f64,
    /// True when the per-child figures are page truth, false when estimated.
    pub copied_exact: bool,
    /// How the per-child figures were obtained (`"none"` when no child was measured).
    #[serde(with = "figures::method_or_none")]
    pub copied_method: Option<figures::FigureSource>,
    pub tree_rss_bytes: u64,
    pub tree_pss_bytes: u64,
    pub tree_uss_bytes: u64,
    pub tree_unique_bytes: Option<u64>,
    pub overcount_factor: Option<f64>,
    /// Wall time of the run, workload start to exit.
    pub wall_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// `scenario/short-name`, stable across versions (baselines compare by it).
    pub id: String,
    pub source_document: String,
    /// The document's statement, in words.
    pub statement: String,
    /// The rule applied to measured numbers.
    pub rule: String,
    pub measured: f64,
    /// The threshold or expected value the rule compares with.
    pub expected: f64,
    pub unit: ClaimUnit,
    /// Stored as `holds`: true, false, or null when the claim could not be judged here (the
    /// note says why).
    #[serde(rename = "holds")]
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The measured value in each run, when repeated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured_per_run: Vec<f64>,
}

impl ScenarioResult {
    /// A result with the envelope filled in (versions, commit, time, machine) and nothing
    /// measured yet: the one place results are stamped.
    pub fn stamped(scenario: &str, source_document: &str, machine: Machine) -> ScenarioResult {
        ScenarioResult {
            schema_version: SCHEMA_VERSION,
            memlab_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("MEMLAB_GIT_COMMIT").map(str::to_string),
            timestamp: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            machine,
            scenario: scenario.to_string(),
            source_document: source_document.to_string(),
            params: None,
            status: RunStatus::Completed,
            skip: None,
            data_bytes: 0,
            regions: Vec::new(),
            phases: Vec::new(),
            facts: BTreeMap::new(),
            summary: Summary::default(),
            runs: Vec::new(),
            claims: Vec::new(),
            timeline: Timeline::default(),
            run: None,
        }
    }

    /// The result as stored: pretty JSON with a final newline.
    pub fn to_json(&self) -> serde_json::Result<String> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }

    /// True when some claim was evaluated and does not hold.
    pub fn any_claim_broken(&self) -> bool {
        self.claims.iter().any(|c| c.verdict.is_broken())
    }

    /// What the scenario's workload was given (none for a `memlab run` result).
    pub fn workload_params(&self) -> Option<&crate::protocol::params::WorkloadParams> {
        self.params.as_ref().map(|p| &p.workload)
    }

    /// A `memlab run` result (as opposed to a scenario's).
    pub fn is_run(&self) -> bool {
        self.run.is_some()
    }

    pub fn fact_f64(&self, name: &str) -> Option<f64> {
        self.facts.get(name).and_then(|v| v.as_f64())
    }

    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// Median of a list (the mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_early_result_with_an_empty_timeline_list_still_loads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/array-write.json"
        );
        let mut stored: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        stored["timeline"] = serde_json::json!([]);
        let result: super::ScenarioResult = serde_json::from_value(stored.clone()).unwrap();
        assert!(result.timeline.samples.is_empty());
        stored["timeline"] = serde_json::json!([1]);
        assert!(serde_json::from_value::<super::ScenarioResult>(stored).is_err());
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(super::median(&[]), 0.0);
    }
}
