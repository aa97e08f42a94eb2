//! `memlab compare BASELINE CURRENT` and `memlab baseline save`: regression checks between two
//! sets of result files, for CI.
//!
//! - [`rule`]: when a change is noise, a warning, a regression or an improvement.
//! - this module: reading result sets, pairing baseline and current results, and comparing
//!   each pair figure by figure (flagging other machines, parameters and schema versions).
//! - [`report`]: the terminal table, the Markdown summary and the JSON.
//! - [`baseline`]: `memlab baseline save`.

pub mod baseline;
pub mod report;
pub mod rule;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::MemlabError;
use crate::result::load::load_result;
use crate::result::{Role, RunStatus, ScenarioResult, Summary, median};
pub use rule::{Judgement, NoisyUnit, Thresholds, Verdict};

/// Version of the comparison JSON (`memlab compare --json`).
pub const COMPARE_SCHEMA_VERSION: u32 = 1;

/// Which side of the comparison a file is on, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Baseline,
    Current,
    /// Results being saved as a baseline.
    Results,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Current => "current",
            Side::Results => "result",
        }
    }
}

/// A result read from a file, with the name it is matched by.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// File name, e.g. `refcount-list--op-read.json`.
    pub file: String,
    pub path: PathBuf,
    pub result: ScenarioResult,
    /// The file's text, as read (saved verbatim by `baseline save`).
    pub text: String,
}

fn bad(side: Side, path: &Path, detail: impl std::fmt::Display) -> MemlabError {
    MemlabError::BadResult(format!("{} {}: {detail}", side.name(), path.display()))
}

/// Reads one result file: not JSON, not a memlab result, another schema version, or a result
/// that does not parse are each one clear line.
pub fn load_file(path: &Path, side: Side) -> Result<Loaded, MemlabError> {
    let stored = load_result(path).map_err(|e| bad(side, path, e))?;
    Ok(Loaded {
        file: stored.file_name(),
        path: stored.path,
        result: stored.result,
        text: stored.text,
    })
}

/// Reads a side: one file, or every result file of a directory (an empty one is an error).
pub fn load_side(path: &Path, side: Side) -> Result<Vec<Loaded>, MemlabError> {
    if path.is_dir() {
        let files = crate::result::files::result_files(path).map_err(|e| bad(side, path, e))?;
        if files.is_empty() {
            return Err(bad(
                side,
                path,
                "no result files (*.json) in this directory",
            ));
        }
        files.iter().map(|f| load_file(f, side)).collect()
    } else if path.exists() {
        Ok(vec![load_file(path, side)?])
    } else {
        Err(bad(side, path, "no such file or directory"))
    }
}

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

// ---------------------------------------------------------------------------------------
// Pairing.

/// The parameters that change what the figures mean (not `repeat`, not the interpreter path).
fn param_differences(b: &ScenarioResult, c: &ScenarioResult) -> Vec<Difference> {
    let mut found = Vec::new();
    let mut check = |what: &str, left: String, right: String| {
        if left != right {
            found.push(Difference {
                what: what.to_string(),
                baseline: left,
                current: right,
            });
        }
    };
    check("scenario", b.scenario.clone(), c.scenario.clone());
    for ((what, left), (_, right)) in param_fields(b).into_iter().zip(param_fields(c)) {
        check(what, left, right);
    }
    found
}

/// The machine fingerprint: what makes page counts and verdicts differ between machines.
pub fn machine_differences(b: &ScenarioResult, c: &ScenarioResult) -> Vec<Difference> {
    let mut found = Vec::new();
    let (mb, mc) = (&b.machine, &c.machine);
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let pairs = [
        ("kernel", mb.kernel.clone(), mc.kernel.clone()),
        (
            "page size",
            mb.page_size_bytes.to_string(),
            mc.page_size_bytes.to_string(),
        ),
        ("THP", opt(&mb.thp_enabled), opt(&mc.thp_enabled)),
        ("Python", opt(&mb.python_version), opt(&mc.python_version)),
        (
            "frame numbers",
            visible(mb.pfn_visible).into(),
            visible(mc.pfn_visible).into(),
        ),
    ];
    for (what, left, right) in pairs {
        if left != right {
            found.push(Difference {
                what: what.to_string(),
                baseline: left,
                current: right,
            });
        }
    }
    found
}

fn visible(pfn: bool) -> &'static str {
    if pfn {
        "visible (exact page truth)"
    } else {
        "hidden (approximate)"
    }
}

fn stem(file: &str) -> String {
    file.strip_suffix(".json").unwrap_or(file).to_string()
}

/// The parameters that make two results comparable, as text (`-` where a result has none:
/// a `memlab run` result, or an option the scenario does not take).
fn param_fields(result: &ScenarioResult) -> [(&'static str, String); 6] {
    let params = result.params.as_ref().map(|p| &p.workload);
    let text = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    [
        ("size", text(params.map(|p| p.size_bytes.to_string()))),
        ("children", text(params.map(|p| p.children.to_string()))),
        ("op", text(params.and_then(|p| p.op.clone()))),
        (
            "fraction",
            text(params.and_then(|p| p.fraction.map(|f| f.to_string()))),
        ),
        (
            "object size",
            text(params.and_then(|p| p.object_size_bytes.map(|s| s.to_string()))),
        ),
        ("scale", text(params.and_then(|p| p.scale.clone()))),
    ]
}

/// The scenario and parameters that identify a result when file names do not match.
fn identity(result: &ScenarioResult) -> String {
    let mut identity = result.scenario.clone();
    for (_, value) in param_fields(result) {
        identity.push('|');
        identity.push_str(&value);
    }
    identity
}

/// Whether each side was given as one file (rather than a directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Given {
    pub baseline_file: bool,
    pub current_file: bool,
}

impl Given {
    /// Both sides are directories.
    pub const DIRECTORIES: Given = Given {
        baseline_file: false,
        current_file: false,
    };
}

/// Pairs baseline and current results: two files are paired whatever their names; otherwise by
/// file name, then the rest by scenario and parameters when that is unambiguous. When one side
/// is a single file, the other side's results that do not pair with it are left out.
pub fn pair<'a>(
    baseline: &'a [Loaded],
    current: &'a [Loaded],
    given: Given,
) -> Vec<(Option<&'a Loaded>, Option<&'a Loaded>)> {
    if given.baseline_file && given.current_file && baseline.len() == 1 && current.len() == 1 {
        return vec![(Some(&baseline[0]), Some(&current[0]))];
    }
    let mut pairs: Vec<(Option<&Loaded>, Option<&Loaded>)> = Vec::new();
    let mut used_current = vec![false; current.len()];
    let mut unpaired_baseline = Vec::new();
    for b in baseline {
        match current.iter().position(|c| c.file == b.file) {
            Some(i) if !used_current[i] => {
                used_current[i] = true;
                pairs.push((Some(b), Some(&current[i])));
            }
            _ => unpaired_baseline.push(b),
        }
    }
    for b in unpaired_baseline {
        let key = identity(&b.result);
        let candidates: Vec<usize> = (0..current.len())
            .filter(|i| !used_current[*i] && identity(&current[*i].result) == key)
            .collect();
        let same_key_in_baseline = baseline
            .iter()
            .filter(|other| identity(&other.result) == key)
            .count();
        if candidates.len() == 1 && same_key_in_baseline == 1 {
            used_current[candidates[0]] = true;
            pairs.push((Some(b), Some(&current[candidates[0]])));
        } else {
            pairs.push((Some(b), None));
        }
    }
    for (i, c) in current.iter().enumerate() {
        if !used_current[i] {
            pairs.push((None, Some(c)));
        }
    }
    pairs.retain(|pair| match pair {
        (Some(_), None) => !given.current_file,
        (None, Some(_)) => !given.baseline_file,
        _ => true,
    });
    pairs
}

// ---------------------------------------------------------------------------------------
// Figures.

/// Runs per result (`--repeat`); one for a `memlab run` result.
fn repeat(result: &ScenarioResult) -> usize {
    result.params.as_ref().map_or(1, |p| p.repeat)
}

fn runs(result: &ScenarioResult) -> Vec<&Summary> {
    if result.runs.is_empty() {
        vec![&result.summary]
    } else {
        result.runs.iter().collect()
    }
}

fn median_u64(values: &[u64]) -> f64 {
    median(&values.iter().map(|v| *v as f64).collect::<Vec<_>>())
}

fn is_page_truth(result: &ScenarioResult) -> bool {
    result
        .summary
        .copied_method
        .is_some_and(|method| method.is_page_truth())
}

/// Median USS of the children at the summary phase (first run only: runs keep no per-child USS).
fn uss_per_child(result: &ScenarioResult) -> Option<f64> {
    let phase = result.phase(&result.summary.phase)?;
    let uss: Vec<f64> = phase
        .processes
        .iter()
        .filter(|p| p.role == Role::Child && !p.missing)
        .filter_map(|p| p.rollup.as_ref().map(|r| r.uss_bytes as f64))
        .collect();
    (!uss.is_empty()).then(|| median(&uss))
}

fn page_size(result: &ScenarioResult) -> f64 {
    result.machine.page_size_bytes.max(1) as f64
}

struct MetricSpec {
    metric: &'static str,
    label: &'static str,
    unit: &'static str,
    /// Per run; None when the figure does not exist on this side.
    baseline: Option<Vec<f64>>,
    current: Option<Vec<f64>>,
    /// Judged as page truth (deterministic) or as a noisy figure.
    page_truth: bool,
    /// Bytes per unit of the figure (1 for bytes, data bytes for a fraction): page counts and
    /// noise floors are in bytes.
    bytes_per_unit: f64,
    noisy_unit: NoisyUnit,
}

fn compare_metric(spec: MetricSpec, page: f64, t: &Thresholds) -> MetricComparison {
    let kind = if spec.page_truth {
        "page_truth"
    } else {
        "noisy"
    };
    let mut row = MetricComparison {
        metric: spec.metric.to_string(),
        label: spec.label.to_string(),
        unit: spec.unit,
        kind,
        baseline: spec.baseline.as_deref().map(median),
        current: spec.current.as_deref().map(median),
        baseline_text: None,
        current_text: None,
        change: None,
        relative_change: None,
        change_pages: None,
        baseline_runs: spec.baseline.as_ref().map_or(0, Vec::len),
        current_runs: spec.current.as_ref().map_or(0, Vec::len),
        p_value: None,
        verdict: Verdict::Unchanged,
        reason: String::new(),
    };
    let (Some(b_runs), Some(c_runs)) = (&spec.baseline, &spec.current) else {
        row.reason = match (&spec.baseline, &spec.current) {
            (None, None) => "not measured on either side".into(),
            (None, _) => "not measured in the baseline".into(),
            _ => "not measured in the current result".into(),
        };
        return row;
    };
    let (b, c) = (median(b_runs), median(c_runs));
    let delta = c - b;
    let relative = rule::relative_change(b, c);
    row.change = Some(delta);
    row.relative_change = relative.is_finite().then_some(relative);
    let judgement = if spec.page_truth {
        let pages = (delta * spec.bytes_per_unit / page).round();
        row.change_pages = Some(pages);
        rule::judge_pages(pages, relative, t)
    } else {
        let scaled =
            |runs: &[f64]| -> Vec<f64> { runs.iter().map(|v| v * spec.bytes_per_unit).collect() };
        rule::judge_noisy(&scaled(b_runs), &scaled(c_runs), spec.noisy_unit, t)
    };
    row.verdict = judgement.verdict;
    row.reason = judgement.reason;
    row.p_value = judgement.p_value;
    row
}

fn compare_claims(b: &ScenarioResult, c: &ScenarioResult) -> Vec<MetricComparison> {
    let mut ids: Vec<&str> = b.claims.iter().map(|x| x.id.as_str()).collect();
    for claim in &c.claims {
        if !ids.contains(&claim.id.as_str()) {
            ids.push(&claim.id);
        }
    }
    ids.into_iter()
        .map(|id| {
            let before = b.claims.iter().find(|x| x.id == id);
            let after = c.claims.iter().find(|x| x.id == id);
            let text = |claim: Option<&crate::result::Claim>| {
                claim
                    .map_or("absent", |x| crate::render::text::verdict_short(x.verdict))
                    .to_string()
            };
            let as_number = |claim: Option<&crate::result::Claim>| {
                claim
                    .and_then(|x| x.verdict.holds())
                    .map(|h| if h { 1.0 } else { 0.0 })
            };
            let measured = match (before, after) {
                (Some(x), Some(y)) => format!(
                    "; measured {} → {} {}",
                    short(x.measured),
                    short(y.measured),
                    y.unit
                ),
                _ => String::new(),
            };
            let (verdict, reason) = match (
                before.map(|x| x.verdict.holds()),
                after.map(|x| x.verdict.holds()),
            ) {
                (Some(Some(true)), Some(Some(false))) => {
                    (Verdict::Regression, "the claim no longer holds".to_string())
                }
                (Some(Some(false)), Some(Some(true))) => {
                    (Verdict::Improved, "the claim holds again".to_string())
                }
                (Some(Some(true)), Some(None)) => (
                    Verdict::Warning,
                    format!(
                        "could not be judged in the current result ({})",
                        after.and_then(|x| x.note.clone()).unwrap_or_default()
                    ),
                ),
                (Some(None), Some(Some(false))) => (
                    Verdict::Warning,
                    "broken now; the baseline could not judge it".to_string(),
                ),
                (Some(_), None) => (
                    Verdict::Warning,
                    "the claim is missing from the current result".to_string(),
                ),
                (None, Some(_)) => (Verdict::Unchanged, "a new claim".to_string()),
                (Some(Some(false)), Some(Some(false))) => {
                    (Verdict::Unchanged, "broken in the baseline too".to_string())
                }
                _ => (Verdict::Unchanged, "same verdict".to_string()),
            };
            MetricComparison {
                metric: format!("claim:{id}"),
                label: format!("claim {id}"),
                unit: "verdict",
                kind: "claim",
                baseline: as_number(before),
                current: as_number(after),
                baseline_text: Some(text(before)),
                current_text: Some(text(after)),
                change: None,
                relative_change: None,
                change_pages: None,
                baseline_runs: before.map_or(0, |x| x.measured_per_run.len().max(1)),
                current_runs: after.map_or(0, |x| x.measured_per_run.len().max(1)),
                p_value: None,
                verdict,
                reason: format!("{reason}{measured}"),
            }
        })
        .collect()
}

fn short(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

/// Every figure of a pair of completed results with the same scenario and parameters.
pub fn compare_results(
    b: &ScenarioResult,
    c: &ScenarioResult,
    t: &Thresholds,
) -> Vec<MetricComparison> {
    let (rb, rc) = (runs(b), runs(c));
    let page = page_size(c);
    let page_truth = is_page_truth(b) && is_page_truth(c);
    let per_run = |rs: &[&Summary], f: &dyn Fn(&Summary) -> Option<f64>| -> Option<Vec<f64>> {
        rs.iter().map(|s| f(s)).collect()
    };
    let copied = |s: &Summary| Some(median_u64(&s.copied_bytes_per_child));
    let fraction = |s: &Summary| Some(s.copied_fraction);
    let unique = |s: &Summary| s.tree_unique_bytes.map(|u| u as f64);
    let wall = |s: &Summary| Some(s.wall_seconds);
    let data_bytes = c.data_bytes.max(b.data_bytes) as f64;
    let specs = vec![
        MetricSpec {
            metric: "copied_bytes_per_child",
            label: "copied / child (median)",
            unit: "bytes",
            baseline: per_run(&rb, &copied),
            current: per_run(&rc, &copied),
            page_truth,
            bytes_per_unit: 1.0,
            noisy_unit: NoisyUnit::Bytes,
        },
        MetricSpec {
            metric: "copied_fraction",
            label: "copied fraction",
            unit: "fraction",
            baseline: per_run(&rb, &fraction),
            current: per_run(&rc, &fraction),
            page_truth,
            bytes_per_unit: data_bytes,
            noisy_unit: NoisyUnit::Bytes,
        },
        MetricSpec {
            metric: "tree_unique_bytes",
            label: "tree unique",
            unit: "bytes",
            baseline: per_run(&rb, &unique),
            current: per_run(&rc, &unique),
            // Distinct frames exist only with frame numbers: always page truth.
            page_truth: true,
            bytes_per_unit: 1.0,
            noisy_unit: NoisyUnit::Bytes,
        },
        MetricSpec {
            metric: "uss_bytes_per_child",
            label: "USS / child (median)",
            unit: "bytes",
            baseline: uss_per_child(b).map(|v| vec![v]),
            current: uss_per_child(c).map(|v| vec![v]),
            page_truth: false,
            bytes_per_unit: 1.0,
            noisy_unit: NoisyUnit::Bytes,
        },
        MetricSpec {
            metric: "wall_seconds",
            label: "wall time",
            unit: "seconds",
            baseline: per_run(&rb, &wall),
            current: per_run(&rc, &wall),
            page_truth: false,
            bytes_per_unit: 1.0,
            noisy_unit: NoisyUnit::Seconds,
        },
    ];
    let mut rows: Vec<MetricComparison> = specs
        .into_iter()
        .map(|spec| compare_metric(spec, page, t))
        .collect();
    rows.extend(compare_claims(b, c));
    rows
}

fn skip_reason(result: &ScenarioResult) -> String {
    result
        .skip
        .as_ref()
        .map(|s| s.reason.clone())
        .unwrap_or_else(|| "no reason given".into())
}

fn compare_pair(
    baseline: Option<&Loaded>,
    current: Option<&Loaded>,
    t: &Thresholds,
) -> EntryComparison {
    let any = baseline.or(current).expect("a pair has a side");
    let mut entry = EntryComparison {
        name: stem(&current.unwrap_or(any).file),
        scenario: any.result.scenario.clone(),
        baseline_file: baseline.map(|l| l.path.display().to_string()),
        current_file: current.map(|l| l.path.display().to_string()),
        status: EntryStatus::Compared,
        note: None,
        machine_differences: Vec::new(),
        param_differences: Vec::new(),
        metrics: Vec::new(),
        verdict: Verdict::Unchanged,
    };
    let (b, c) = match (baseline, current) {
        (Some(b), Some(c)) => (&b.result, &c.result),
        (Some(_), None) => {
            entry.status = EntryStatus::MissingInCurrent;
            entry.note = Some("in the baseline, not in the current results".into());
            entry.verdict = Verdict::Warning;
            return entry;
        }
        (None, _) => {
            entry.status = EntryStatus::NoBaseline;
            entry.note = Some("no baseline for this result".into());
            return entry;
        }
    };
    entry.machine_differences = machine_differences(b, c);
    let params = param_differences(b, c);
    if !params.is_empty() {
        entry.status = EntryStatus::Incomparable;
        let list: Vec<String> = params
            .iter()
            .map(|d| format!("{} {} → {}", d.what, d.baseline, d.current))
            .collect();
        entry.note = Some(format!(
            "other parameters ({}): not compared",
            list.join(", ")
        ));
        entry.param_differences = params;
        entry.verdict = Verdict::Warning;
        return entry;
    }
    if repeat(b) != repeat(c) {
        entry.param_differences.push(Difference {
            what: "repeat".into(),
            baseline: repeat(b).to_string(),
            current: repeat(c).to_string(),
        });
    }
    match (b.status, c.status) {
        (RunStatus::Completed, RunStatus::Completed) => {}
        (RunStatus::Completed, RunStatus::Skipped) => {
            entry.status = EntryStatus::Skipped;
            entry.note = Some(format!("skipped in the current run: {}", skip_reason(c)));
            entry.verdict = Verdict::Warning;
            return entry;
        }
        (RunStatus::Skipped, RunStatus::Completed) => {
            entry.status = EntryStatus::Skipped;
            entry.note = Some(format!(
                "skipped in the baseline ({}): nothing to compare with",
                skip_reason(b)
            ));
            return entry;
        }
        (RunStatus::Skipped, RunStatus::Skipped) => {
            entry.status = EntryStatus::Skipped;
            entry.note = Some(format!("skipped on both sides: {}", skip_reason(c)));
            return entry;
        }
    }
    entry.metrics = compare_results(b, c, t);
    entry.verdict = entry
        .metrics
        .iter()
        .map(|m| m.verdict)
        .max()
        .unwrap_or(Verdict::Unchanged);
    if !entry.machine_differences.is_empty() {
        entry.note = Some("measured on another machine: differences may come from it".into());
    }
    entry
}

fn rank(entry: &EntryComparison) -> u8 {
    match (entry.verdict, entry.status) {
        (Verdict::Regression, _) => 0,
        (Verdict::Warning, _) => 1,
        (Verdict::Improved, _) => 2,
        (_, EntryStatus::Compared) => 4,
        _ => 3,
    }
}

/// Compares two sets of results.
pub fn compare(
    baseline: &[Loaded],
    current: &[Loaded],
    given: Given,
    labels: (&str, &str),
    t: &Thresholds,
) -> Comparison {
    let mut entries: Vec<EntryComparison> = pair(baseline, current, given)
        .into_iter()
        .map(|(b, c)| compare_pair(b, c, t))
        .collect();
    entries.sort_by(|x, y| rank(x).cmp(&rank(y)).then_with(|| x.name.cmp(&y.name)));
    let mut counts = Counts::default();
    let mut machine: Vec<Difference> = Vec::new();
    for entry in &entries {
        for d in &entry.machine_differences {
            if !machine.contains(d) {
                machine.push(d.clone());
            }
        }
        if entry.status == EntryStatus::Compared {
            counts.compared += 1;
            for metric in &entry.metrics {
                match metric.verdict {
                    Verdict::Regression => counts.regressions += 1,
                    Verdict::Warning => counts.warnings += 1,
                    Verdict::Improved => counts.improved += 1,
                    Verdict::Unchanged => counts.unchanged += 1,
                }
            }
        } else {
            counts.not_compared += 1;
            if entry.verdict == Verdict::Warning {
                counts.warnings += 1;
            }
        }
    }
    let verdict = entries
        .iter()
        .map(|e| e.verdict)
        .max()
        .unwrap_or(Verdict::Unchanged);
    Comparison {
        compare_schema_version: COMPARE_SCHEMA_VERSION,
        baseline: SideInfo {
            path: labels.0.to_string(),
            results: baseline.len(),
        },
        current: SideInfo {
            path: labels.1.to_string(),
            results: current.len(),
        },
        thresholds: t.clone(),
        machine_differences: machine,
        entries,
        counts,
        verdict,
    }
}
