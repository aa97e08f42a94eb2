//! Figure by figure: the metrics of a pair of completed results, each judged by the rule
//! ([`super::rule`]) as page truth or as a noisy figure, and the claims verdict by verdict.

use super::model::MetricComparison;
use super::rule::{self, NoisyUnit, Thresholds, Verdict};
use crate::result::{Role, ScenarioResult, Summary, median};

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
