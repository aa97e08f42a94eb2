//! Comparing two sets of results: each pair is compared (or said why not), then the entries
//! are ranked worst first and counted.

use super::differences::{machine_differences, param_differences, repeat};
use super::load::Loaded;
use super::metrics::compare_results;
use super::model::{
    COMPARE_SCHEMA_VERSION, Comparison, Counts, Difference, EntryComparison, EntryStatus, SideInfo,
};
use super::pair::{Given, pair};
use super::rule::{Thresholds, Verdict};
use crate::result::{RunStatus, ScenarioResult};

fn stem(file: &str) -> String {
    file.strip_suffix(".json").unwrap_or(file).to_string()
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
