//! The comparison as data: what `--json` prints and what the terminal and Markdown reports
//! render. Field names and order are the comparison JSON's contract.

use serde::Serialize;

use super::rule::{Thresholds, Verdict};

/// Version of the comparison JSON (`memlab compare --json`).
pub const COMPARE_SCHEMA_VERSION: u32 = 1;

/// What was compared for one pair, or why it was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// Figure by figure.
    Compared,
    /// Skipped (a missing dependency) on one side or both: no figures to compare.
    Skipped,
    /// Different scenarios or parameters: the figures mean different things.
    Incomparable,
    /// In the baseline, not in the current results.
    MissingInCurrent,
    /// In the current results only.
    NoBaseline,
}

/// One figure: baseline, current, change and verdict.
#[derive(Debug, Clone, Serialize)]
pub struct MetricComparison {
    /// Stable identifier: `copied_bytes_per_child`, `claim:ID`, …
    pub metric: String,
    /// What the report shows.
    pub label: String,
    /// `bytes`, `fraction`, `seconds`, or `verdict` (claims).
    pub unit: &'static str,
    /// `page_truth` (deterministic), `noisy` (judged on runs), or `claim`.
    pub kind: &'static str,
    /// The median over runs (bytes, fraction, seconds); for claims 1 holds, 0 broken.
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// For claims: `holds`, `broken`, `n/a`, `absent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_text: Option<String>,
    pub change: Option<f64>,
    /// (current - baseline) / baseline; null when the baseline is zero.
    pub relative_change: Option<f64>,
    /// Page-truth figures: the change in pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change_pages: Option<f64>,
    pub baseline_runs: usize,
    pub current_runs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    pub verdict: Verdict,
    pub reason: String,
}

/// A difference in what the two results were measured on or with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub what: String,
    pub baseline: String,
    pub current: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryComparison {
    /// The result's name: its file name without `.json`.
    pub name: String,
    pub scenario: String,
    pub baseline_file: Option<String>,
    pub current_file: Option<String>,
    pub status: EntryStatus,
    /// Why it was not compared, or what to know about it.
    pub note: Option<String>,
    /// Machine fingerprint differences (kernel, page size, THP, Python, frame numbers).
    pub machine_differences: Vec<Difference>,
    /// Parameter differences (an incomparable pair), or repeat counts (compared anyway).
    pub param_differences: Vec<Difference>,
    pub metrics: Vec<MetricComparison>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub regressions: usize,
    pub warnings: usize,
    pub improved: usize,
    pub unchanged: usize,
    /// Results whose figures were not compared (skipped, incomparable, missing, new).
    pub not_compared: usize,
    /// Results compared figure by figure.
    pub compared: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SideInfo {
    pub path: String,
    pub results: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub compare_schema_version: u32,
    pub baseline: SideInfo,
    pub current: SideInfo,
    pub thresholds: Thresholds,
    /// Machine differences found in any pair, once each.
    pub machine_differences: Vec<Difference>,
    /// Worst first: regressions, warnings, improvements, then the rest by name.
    pub entries: Vec<EntryComparison>,
    /// Figures (metrics and claims) by verdict, and results not compared.
    pub counts: Counts,
    pub verdict: Verdict,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.counts.regressions
    }

    /// What `--strict` refuses: another machine, other parameters, missing results.
    pub fn mismatches(&self) -> Vec<String> {
        let mut found = Vec::new();
        for d in &self.machine_differences {
            found.push(format!("{}: {} → {}", d.what, d.baseline, d.current));
        }
        for entry in &self.entries {
            match entry.status {
                EntryStatus::Incomparable | EntryStatus::MissingInCurrent => {
                    found.push(format!(
                        "{}: {}",
                        entry.name,
                        entry.note.as_deref().unwrap_or("not compared")
                    ));
                }
                _ => {}
            }
        }
        found
    }
}
