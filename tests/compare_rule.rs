//! The comparison rule on stored fixtures: real memlab results, and copies of them edited in
//! one place (tests/fixtures/compare/make_fixtures.py says how each was made).

use std::path::PathBuf;

use memlab::compare::report::{json, markdown};
use memlab::compare::{
    Comparison, EntryStatus, Given, Side, Thresholds, Verdict, compare, load_file, load_side,
};
use memlab::error::MemlabError;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/compare/{name}"))
}

/// Compares the baseline fixtures with the fixture directory `current`.
fn against(current: &str) -> Comparison {
    against_with(current, &Thresholds::default())
}

fn against_with(current: &str, thresholds: &Thresholds) -> Comparison {
    let baseline = load_side(&dir("baseline"), Side::Baseline).unwrap();
    let current_results = load_side(&dir(current), Side::Current).unwrap();
    compare(
        &baseline,
        &current_results,
        Given::DIRECTORIES,
        ("baseline", current),
        thresholds,
    )
}

fn verdict_of(comparison: &Comparison, result: &str, metric: &str) -> (Verdict, String) {
    let entry = comparison
        .entries
        .iter()
        .find(|e| e.name == result)
        .unwrap_or_else(|| panic!("no entry {result}"));
    let metric = entry
        .metrics
        .iter()
        .find(|m| m.metric == metric)
        .unwrap_or_else(|| panic!("no metric {metric} in {result}"));
    (metric.verdict, metric.reason.clone())
}

#[test]
fn two_real_runs_differ_only_by_noise() {
    let comparison = against("rerun");
    assert_eq!(comparison.counts.compared, 4, "{:#?}", comparison.entries);
    assert_eq!(comparison.regressions(), 0, "{}", markdown(&comparison));
    assert!(comparison.machine_differences.is_empty());
    // The page-truth figures of the two runs really are close, not identical by accident.
    let (verdict, reason) = verdict_of(&comparison, "array-write", "copied_bytes_per_child");
    assert_eq!(verdict, Verdict::Unchanged, "{reason}");
    assert!(reason.starts_with("page truth"), "{reason}");
}

#[test]
fn page_counts_within_the_warn_floor_are_unchanged() {
    let comparison = against("pages-within");
    let (verdict, reason) = verdict_of(&comparison, "array-write", "copied_bytes_per_child");
    assert_eq!(verdict, Verdict::Unchanged, "{reason}");
    assert!(reason.contains("+32 pages"), "{reason}");
}

#[test]
fn page_counts_at_the_fail_floor_warn_and_one_page_over_fail() {
    let at = against("pages-at-floor");
    let (verdict, reason) = verdict_of(&at, "array-write", "copied_bytes_per_child");
    assert_eq!(verdict, Verdict::Warning, "{reason}");
    assert!(reason.contains("+64 pages"), "{reason}");
    assert_eq!(at.regressions(), 0);

    let over = against("pages-over");
    let (verdict, reason) = verdict_of(&over, "array-write", "copied_bytes_per_child");
    assert_eq!(verdict, Verdict::Regression, "{reason}");
    assert!(reason.contains("+65 pages"), "{reason}");
    // The copied fraction moves with it, by the same pages.
    let (verdict, _) = verdict_of(&over, "array-write", "copied_fraction");
    assert_eq!(verdict, Verdict::Regression);
    // A looser fail floor lets it through as a warning.
    let loose = Thresholds {
        fail_pages: 100,
        ..Thresholds::default()
    };
    let (verdict, _) = verdict_of(
        &against_with("pages-over", &loose),
        "array-write",
        "copied_bytes_per_child",
    );
    assert_eq!(verdict, Verdict::Warning);
}

#[test]
fn copied_bytes_up_ten_percent_is_a_regression() {
    let comparison = against("copied-up-10pct");
    let (verdict, reason) = verdict_of(&comparison, "array-write", "copied_bytes_per_child");
    assert_eq!(verdict, Verdict::Regression, "{reason}");
    assert!(
        reason.contains("+10.0%") || reason.contains("+9.9%"),
        "{reason}"
    );
    assert_eq!(comparison.entries[0].name, "array-write", "worst first");
    let entry = &comparison.entries[0];
    assert_eq!(entry.verdict, Verdict::Regression);
    let metric = &entry.metrics[0];
    assert!(metric.change_pages.unwrap() > 64.0);
    assert!((metric.relative_change.unwrap() - 0.1).abs() < 0.01);
}

#[test]
fn a_claim_that_flipped_is_a_regression() {
    let comparison = against("claim-flipped");
    let entry = &comparison.entries[0];
    assert_eq!(entry.name, "refcount-list");
    assert_eq!(entry.verdict, Verdict::Regression);
    let claim = entry
        .metrics
        .iter()
        .find(|m| m.kind == "claim" && m.verdict == Verdict::Regression)
        .expect("a claim row");
    assert_eq!(claim.baseline_text.as_deref(), Some("holds"));
    assert_eq!(claim.current_text.as_deref(), Some("BROKEN"));
    // Only the claim changed: the figures are the baseline's own.
    assert!(
        entry
            .metrics
            .iter()
            .filter(|m| m.kind != "claim")
            .all(|m| m.verdict == Verdict::Unchanged)
    );
}

#[test]
fn noisy_figures_are_judged_on_their_runs() {
    let significant = against("slower-significant");
    let (verdict, reason) = verdict_of(&significant, "py-list-sum", "wall_seconds");
    assert_eq!(verdict, Verdict::Regression, "{reason}");
    assert!(
        reason.contains("5 vs 5 runs") && reason.contains("p = 0.004"),
        "{reason}"
    );

    // A median as far off, from runs that overlap the baseline's: noise.
    let noise = against("slower-within-noise");
    let (verdict, reason) = verdict_of(&noise, "py-list-sum", "wall_seconds");
    assert_eq!(verdict, Verdict::Unchanged, "{reason}");
    assert!(reason.contains("within run-to-run noise"), "{reason}");
    let entry = noise
        .entries
        .iter()
        .find(|e| e.name == "py-list-sum")
        .unwrap();
    let wall = entry
        .metrics
        .iter()
        .find(|m| m.metric == "wall_seconds")
        .unwrap();
    assert!(
        wall.relative_change.unwrap() > 0.25,
        "as large a change: {wall:?}"
    );
}

#[test]
fn another_machine_is_flagged_and_other_params_are_not_compared() {
    let comparison = against("other-machine");
    let kernel = comparison
        .machine_differences
        .iter()
        .find(|d| d.what == "kernel")
        .expect("kernel flagged");
    assert_eq!(kernel.current, "5.4.0-generic");
    assert!(
        comparison
            .machine_differences
            .iter()
            .any(|d| d.what == "THP")
    );
    assert!(markdown(&comparison).contains("Measured on another machine"));
    assert!(!comparison.mismatches().is_empty());

    let comparison = against("other-params");
    let entry = comparison
        .entries
        .iter()
        .find(|e| e.name == "array-write")
        .unwrap();
    assert_eq!(entry.status, EntryStatus::Incomparable);
    assert!(entry.metrics.is_empty());
    assert!(
        entry.note.as_deref().unwrap().contains("children 2 → 3"),
        "{:?}",
        entry.note
    );
    assert_eq!(comparison.counts.compared, 0);
}

#[test]
fn baseline_results_missing_or_skipped_in_current_are_warnings() {
    let comparison = against("skipped");
    let skipped = comparison
        .entries
        .iter()
        .find(|e| e.name == "py-numpy-sum")
        .unwrap();
    assert_eq!(skipped.status, EntryStatus::Skipped);
    assert_eq!(skipped.verdict, Verdict::Warning);
    assert!(
        skipped.note.as_deref().unwrap().contains("numpy"),
        "{:?}",
        skipped.note
    );
    let missing: Vec<&str> = comparison
        .entries
        .iter()
        .filter(|e| e.status == EntryStatus::MissingInCurrent)
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(missing, ["array-write", "py-list-sum", "refcount-list"]);
    assert_eq!(comparison.regressions(), 0);
}

fn load_error(name: &str) -> String {
    let path = dir(name).join("array-write.json");
    match load_file(&path, Side::Baseline) {
        Err(MemlabError::BadResult(message)) => message,
        Err(other) => panic!("{name}: {other}"),
        Ok(_) => panic!("{name} was accepted"),
    }
}

#[test]
fn corrupt_and_other_schema_baselines_are_one_line() {
    let corrupt = load_error("corrupt");
    assert!(corrupt.contains("not JSON"), "{corrupt}");
    let schema = load_error("other-schema");
    assert!(schema.contains("schema version 99"), "{schema}");
    assert!(schema.contains("reads versions 1 to 2"), "{schema}");
    for message in [corrupt, schema] {
        assert!(message.starts_with("baseline "), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn the_markdown_summary_puts_regressions_first() {
    let comparison = against("mixed");
    let text = markdown(&comparison);
    let regressions = text.find("### Regressions").expect("a regressions section");
    let warnings = text.find("### Warnings").expect("a warnings section");
    let improvements = text
        .find("### Improvements")
        .expect("an improvements section");
    assert!(regressions < warnings && warnings < improvements, "{text}");
    let first_row = text[regressions..]
        .lines()
        .find(|l| l.starts_with("| `"))
        .unwrap();
    assert!(
        first_row.starts_with("| `array-write` | copied / child"),
        "{first_row}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn the_json_report_is_versioned_and_complete() {
    let comparison = against("mixed");
    let value: serde_json::Value = serde_json::from_str(&json(&comparison).unwrap()).unwrap();
    assert_eq!(value["compare_schema_version"], 1);
    assert_eq!(value["verdict"], "regression");
    assert_eq!(value["thresholds"]["fail_pages"], 64);
    assert_eq!(value["entries"][0]["name"], "array-write");
    let metric = &value["entries"][0]["metrics"][0];
    for field in [
        "baseline",
        "current",
        "change",
        "relative_change",
        "change_pages",
        "verdict",
        "reason",
    ] {
        assert!(!metric[field].is_null(), "{field}: {metric}");
    }
    assert!(value["counts"]["regressions"].as_u64().unwrap() >= 3);
}
