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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::figures::FigureSource;
    use crate::result::load::parse_result;

    const PAGE_BYTES: f64 = 4096.0;

    fn array_write() -> ScenarioResult {
        parse_result(include_str!(
            "../../tests/fixtures/compare/baseline/array-write.json"
        ))
        .unwrap()
    }

    fn spec(
        baseline: Option<Vec<f64>>,
        current: Option<Vec<f64>>,
        page_truth: bool,
        bytes_per_unit: f64,
        noisy_unit: NoisyUnit,
    ) -> MetricSpec {
        MetricSpec {
            metric: "figure",
            label: "a figure",
            unit: "bytes",
            baseline,
            current,
            page_truth,
            bytes_per_unit,
            noisy_unit,
        }
    }

    fn pages(count: f64) -> Vec<f64> {
        vec![count * PAGE_BYTES]
    }

    fn page_truth(baseline: Vec<f64>, current: Vec<f64>) -> MetricComparison {
        compare_metric(
            spec(Some(baseline), Some(current), true, 1.0, NoisyUnit::Bytes),
            PAGE_BYTES,
            &Thresholds::default(),
        )
    }

    #[test]
    fn a_page_truth_rise_is_judged_in_pages() {
        let row = page_truth(pages(1000.0), pages(1100.0));
        assert_eq!(row.kind, "page_truth");
        assert_eq!(row.change, Some(100.0 * PAGE_BYTES));
        assert_eq!(row.relative_change, Some(0.1));
        assert_eq!(row.change_pages, Some(100.0));
        assert_eq!(row.verdict, Verdict::Regression);
        assert_eq!(
            row.reason,
            "page truth: +100 pages, +10.0% (fail above 64 pages and 5%)"
        );
        assert_eq!((row.baseline_runs, row.current_runs), (1, 1));
        assert_eq!(row.p_value, None);

        let row = page_truth(pages(1100.0), pages(1000.0));
        assert_eq!(row.change_pages, Some(-100.0));
        assert_eq!(row.verdict, Verdict::Improved);

        let row = page_truth(pages(1000.0), pages(1010.0));
        assert_eq!(row.change_pages, Some(10.0));
        assert_eq!(row.verdict, Verdict::Unchanged);
    }

    #[test]
    fn the_figures_are_medians_of_the_runs() {
        let row = page_truth(
            vec![3.0 * PAGE_BYTES, PAGE_BYTES, 2.0 * PAGE_BYTES],
            vec![2.0 * PAGE_BYTES, 200.0 * PAGE_BYTES, 2.0 * PAGE_BYTES],
        );
        assert_eq!(row.baseline, Some(2.0 * PAGE_BYTES));
        assert_eq!(row.current, Some(2.0 * PAGE_BYTES));
        assert_eq!((row.baseline_runs, row.current_runs), (3, 3));
        assert_eq!(row.change_pages, Some(0.0));
        assert_eq!(row.reason, "page truth: same page count");
    }

    #[test]
    fn a_rise_from_zero_has_no_relative_change() {
        let row = page_truth(pages(0.0), pages(100.0));
        assert_eq!(row.relative_change, None);
        assert_eq!(row.change_pages, Some(100.0));
        assert_eq!(row.verdict, Verdict::Regression);
    }

    #[test]
    fn a_fraction_is_judged_in_pages_of_its_data() {
        // 10 percentage points of 1000 pages of data: 100 pages.
        let data_bytes = 1000.0 * PAGE_BYTES;
        let row = compare_metric(
            spec(
                Some(vec![0.5]),
                Some(vec![0.6]),
                true,
                data_bytes,
                NoisyUnit::Bytes,
            ),
            PAGE_BYTES,
            &Thresholds::default(),
        );
        assert_eq!(row.baseline, Some(0.5));
        assert_eq!(row.change_pages, Some(100.0));
        assert_eq!(row.verdict, Verdict::Regression);
        // As a noisy figure its floor is in bytes: the same rise of 0.1 is 100 pages of data
        // (400 KiB, under the 1 MiB floor) here, and 10 MiB of a larger data set.
        let noisy = |data_bytes: f64| {
            compare_metric(
                spec(
                    Some(vec![0.5]),
                    Some(vec![0.6]),
                    false,
                    data_bytes,
                    NoisyUnit::Bytes,
                ),
                PAGE_BYTES,
                &Thresholds::default(),
            )
        };
        let small = noisy(data_bytes);
        assert_eq!(small.kind, "noisy");
        assert_eq!(small.change_pages, None);
        assert_eq!(small.verdict, Verdict::Unchanged);
        assert!(
            small.reason.contains("within the 1.0 MiB floor"),
            "{}",
            small.reason
        );
        let large = noisy(100.0 * 1024.0 * 1024.0);
        assert_eq!(large.verdict, Verdict::Warning);
    }

    #[test]
    fn a_significant_noisy_rise_is_a_regression_with_its_p_value() {
        let row = compare_metric(
            spec(
                Some(vec![1.0, 1.1, 0.9, 1.05, 0.95]),
                Some(vec![3.0, 3.1, 2.9, 3.05, 2.95]),
                false,
                1.0,
                NoisyUnit::Seconds,
            ),
            PAGE_BYTES,
            &Thresholds::default(),
        );
        assert_eq!(row.kind, "noisy");
        assert_eq!((row.baseline, row.current), (Some(1.0), Some(3.0)));
        assert_eq!(row.verdict, Verdict::Regression);
        let p = row.p_value.expect("the runs were tested");
        assert!(p <= 0.05, "p = {p}");
    }

    #[test]
    fn a_figure_missing_on_a_side_is_not_judged() {
        let missing = |baseline: Option<Vec<f64>>, current: Option<Vec<f64>>| {
            compare_metric(
                spec(baseline, current, true, 1.0, NoisyUnit::Bytes),
                PAGE_BYTES,
                &Thresholds::default(),
            )
        };
        let row = missing(None, Some(pages(100.0)));
        assert_eq!(row.reason, "not measured in the baseline");
        assert_eq!(row.verdict, Verdict::Unchanged);
        assert_eq!(
            (row.baseline, row.current),
            (None, Some(100.0 * PAGE_BYTES))
        );
        assert_eq!((row.baseline_runs, row.current_runs), (0, 1));
        assert_eq!((row.change, row.change_pages), (None, None));
        let row = missing(Some(pages(100.0)), None);
        assert_eq!(row.reason, "not measured in the current result");
        let row = missing(None, None);
        assert_eq!(row.reason, "not measured on either side");
    }

    #[test]
    fn a_result_compared_with_itself_is_unchanged_figure_by_figure() {
        let result = array_write();
        let rows = compare_results(&result, &result, &Thresholds::default());
        let ids: Vec<&str> = rows.iter().map(|r| r.metric.as_str()).collect();
        assert_eq!(
            ids,
            [
                "copied_bytes_per_child",
                "copied_fraction",
                "tree_unique_bytes",
                "uss_bytes_per_child",
                "wall_seconds",
                "claim:array-write/copied-pages-exact",
            ]
        );
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                "page_truth",
                "page_truth",
                "page_truth",
                "noisy",
                "noisy",
                "claim"
            ]
        );
        for row in &rows {
            assert_eq!(
                row.verdict,
                Verdict::Unchanged,
                "{}: {}",
                row.metric,
                row.reason
            );
            assert_eq!(row.baseline, row.current, "{}", row.metric);
            assert!(row.baseline.is_some(), "{} was measured", row.metric);
        }
        // The fixture's summary: each child copied 1038 pages (the 1024 it wrote, and its
        // stack and allocator pages), 24.95% of the data, 30330880 distinct bytes.
        assert_eq!(rows[0].baseline, Some(1038.0 * PAGE_BYTES));
        assert_eq!(rows[1].baseline, Some(0.24951923076923077));
        assert_eq!(rows[2].baseline, Some(30330880.0));
    }

    #[test]
    fn copied_figures_without_page_truth_on_a_side_are_noisy() {
        let baseline = array_write();
        let mut current = array_write();
        current.summary.copied_method = Some(FigureSource::PrivateDirtyGrowth);
        let rows = compare_results(&baseline, &current, &Thresholds::default());
        assert_eq!(rows[0].kind, "noisy");
        assert_eq!(rows[1].kind, "noisy");
        // Distinct frames are page truth whenever they exist.
        assert_eq!(rows[2].kind, "page_truth");
    }

    fn claim_row(baseline: &ScenarioResult, current: &ScenarioResult) -> MetricComparison {
        let rows = compare_claims(baseline, current);
        assert_eq!(rows.len(), 1);
        rows.into_iter().next().unwrap()
    }

    #[test]
    fn a_claim_that_stops_holding_is_a_regression() {
        let baseline = array_write();
        let mut current = array_write();
        current.claims[0].verdict = crate::result::Verdict::Broken;
        let row = claim_row(&baseline, &current);
        assert_eq!(row.metric, "claim:array-write/copied-pages-exact");
        assert_eq!(row.verdict, Verdict::Regression);
        assert_eq!(
            row.reason,
            "the claim no longer holds; measured 1024 → 1024 pages"
        );
        assert_eq!((row.baseline, row.current), (Some(1.0), Some(0.0)));
        assert_eq!(row.baseline_text.as_deref(), Some("holds"));
        assert_eq!(row.current_text.as_deref(), Some("BROKEN"));
        // And the other way round, an improvement.
        let row = claim_row(&current, &baseline);
        assert_eq!(row.verdict, Verdict::Improved);
        assert_eq!(
            row.reason,
            "the claim holds again; measured 1024 → 1024 pages"
        );
    }

    #[test]
    fn a_claim_not_judged_now_or_missing_now_warns_and_a_new_one_does_not() {
        let baseline = array_write();
        let mut not_judged = array_write();
        not_judged.claims[0].verdict = crate::result::Verdict::NotJudged;
        not_judged.claims[0].note = Some("no frame numbers".into());
        let row = claim_row(&baseline, &not_judged);
        assert_eq!(row.verdict, Verdict::Warning);
        assert!(
            row.reason
                .starts_with("could not be judged in the current result (no frame numbers)"),
            "{}",
            row.reason
        );
        assert_eq!(row.current, None);
        assert_eq!(row.current_text.as_deref(), Some("n/a"));

        let mut without = array_write();
        without.claims.clear();
        let row = claim_row(&baseline, &without);
        assert_eq!(row.verdict, Verdict::Warning);
        assert_eq!(row.reason, "the claim is missing from the current result");
        assert_eq!(row.current_text.as_deref(), Some("absent"));
        assert_eq!((row.baseline_runs, row.current_runs), (1, 0));

        let row = claim_row(&without, &baseline);
        assert_eq!(row.verdict, Verdict::Unchanged);
        assert_eq!(row.reason, "a new claim");
        assert_eq!(row.baseline_text.as_deref(), Some("absent"));
    }
}
