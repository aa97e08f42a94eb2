//! Renderings of a comparison: the terminal table, GitHub-flavoured Markdown (regressions
//! first, for `$GITHUB_STEP_SUMMARY`), and JSON.

use std::fmt::Write;

use super::model::{Comparison, EntryComparison, EntryStatus, MetricComparison};
use super::rule::Verdict;
use crate::units::{format_bytes, format_signed_bytes};

pub fn json(comparison: &Comparison) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(comparison)?;
    text.push('\n');
    Ok(text)
}

fn value(metric: &MetricComparison, value: Option<f64>, text: &Option<String>) -> String {
    if let Some(text) = text {
        return text.clone();
    }
    let Some(v) = value else {
        return "-".to_string();
    };
    match metric.unit {
        "bytes" => format_bytes(v.round().max(0.0) as u64),
        "fraction" => format!("{:.2}%", v * 100.0),
        "seconds" => format!("{v:.2} s"),
        _ => format!("{v}"),
    }
}

fn change(metric: &MetricComparison) -> String {
    let Some(delta) = metric.change else {
        return match (&metric.baseline_text, &metric.current_text) {
            (Some(b), Some(c)) if b != c => format!("{b} → {c}"),
            _ => String::new(),
        };
    };
    let absolute = match metric.unit {
        "bytes" if delta > 0.0 => format!("+{}", format_signed_bytes(delta.round() as i64)),
        "bytes" => format_signed_bytes(delta.round() as i64),
        "fraction" => format!("{:+.2} pp", delta * 100.0),
        "seconds" => format!("{delta:+.2} s"),
        _ => format!("{delta:+}"),
    };
    let relative = match metric.relative_change {
        Some(r) => format!("{:+.1}%", r * 100.0),
        None if delta == 0.0 => "0%".to_string(),
        None => "from zero".to_string(),
    };
    format!("{absolute} ({relative})")
}

fn headline(comparison: &Comparison) -> String {
    let c = &comparison.counts;
    let mut parts = vec![
        plural(c.regressions, "regression", "regressions"),
        plural(c.warnings, "warning", "warnings"),
        format!("{} improved", c.improved),
        format!("{} unchanged", c.unchanged),
    ];
    parts.push(format!(
        "{} compared, {} not compared",
        plural(c.compared, "result", "results"),
        c.not_compared
    ));
    parts.join(", ")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn title(comparison: &Comparison) -> String {
    let c = &comparison.counts;
    let results = comparison
        .entries
        .iter()
        .filter(|e| e.verdict == Verdict::Regression)
        .count();
    match (c.regressions, c.warnings) {
        (0, 0) => "no regression".to_string(),
        (0, w) => format!("no regression, {}", plural(w, "warning", "warnings")),
        (r, _) => format!(
            "{} in {}",
            plural(r, "regression", "regressions"),
            plural(results, "result", "results")
        ),
    }
}

fn rule_text(comparison: &Comparison) -> String {
    let t = &comparison.thresholds;
    format!(
        "page truth: warn above {} pages and {}%, fail above {} pages and {}%; noisy figures: \
         medians of runs, warn above {}%, fail above {}% when a one-sided Mann-Whitney test \
         gives p <= {} (floors {} and {} s)",
        t.warn_pages,
        t.warn_pct,
        t.fail_pages,
        t.fail_pct,
        t.noise_warn_pct,
        t.noise_fail_pct,
        t.alpha,
        format_bytes(t.noise_floor_bytes.0),
        t.noise_floor_seconds
    )
}

fn machine_text(comparison: &Comparison) -> Option<String> {
    if comparison.machine_differences.is_empty() {
        return None;
    }
    let list: Vec<String> = comparison
        .machine_differences
        .iter()
        .map(|d| format!("{} {} → {}", d.what, d.baseline, d.current))
        .collect();
    Some(list.join(", "))
}

/// The terminal report: a headline, then each result with its figures, worst first.
pub fn terminal(comparison: &Comparison) -> String {
    let mut out = String::new();
    let verdict = match comparison.verdict {
        Verdict::Regression => "REGRESSION",
        Verdict::Warning => "WARNING",
        _ => "OK",
    };
    let _ = writeln!(out, "memlab compare: {verdict} ({})", headline(comparison));
    let _ = writeln!(
        out,
        "  baseline  {} ({})",
        comparison.baseline.path,
        plural(comparison.baseline.results, "result", "results")
    );
    let _ = writeln!(
        out,
        "  current   {} ({})",
        comparison.current.path,
        plural(comparison.current.results, "result", "results")
    );
    match machine_text(comparison) {
        Some(text) => {
            let _ = writeln!(
                out,
                "  machine   ANOTHER MACHINE: {text} (compared anyway; differences may come from it)"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  machine   same fingerprint (kernel, page size, THP, Python, frame numbers)"
            );
        }
    }
    let _ = writeln!(out, "  rule      {}", rule_text(comparison));
    for entry in &comparison.entries {
        let _ = writeln!(out);
        if entry.status != EntryStatus::Compared {
            let word = match entry.verdict {
                Verdict::Warning => "WARNING",
                _ => "not compared",
            };
            let _ = writeln!(
                out,
                "{}  {word}: {}",
                entry.name,
                entry.note.as_deref().unwrap_or("")
            );
            continue;
        }
        let _ = write!(out, "{}  {}", entry.name, entry.verdict.word());
        if let Some(note) = &entry.note {
            let _ = write!(out, " ({note})");
        }
        for d in &entry.param_differences {
            let _ = write!(out, " [{} {} → {}]", d.what, d.baseline, d.current);
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  {:<44} {:>12} {:>12} {:>24}  {:<10}  why",
            "figure", "baseline", "current", "change", "verdict"
        );
        for metric in &entry.metrics {
            let _ = writeln!(
                out,
                "  {:<44} {:>12} {:>12} {:>24}  {:<10}  {}",
                metric.label,
                value(metric, metric.baseline, &metric.baseline_text),
                value(metric, metric.current, &metric.current_text),
                change(metric),
                metric.verdict.word(),
                metric.reason
            );
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{verdict}: {}", headline(comparison));
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn figure_rows(
    out: &mut String,
    comparison: &Comparison,
    verdict: Verdict,
    with_reason: bool,
) -> usize {
    let mut rows = 0;
    for entry in &comparison.entries {
        if entry.status != EntryStatus::Compared {
            if with_reason && entry.verdict == verdict {
                let _ = writeln!(
                    out,
                    "| `{}` | - | - | - | - | {} |",
                    entry.name,
                    cell(entry.note.as_deref().unwrap_or("not compared"))
                );
                rows += 1;
            }
            continue;
        }
        for metric in entry.metrics.iter().filter(|m| m.verdict == verdict) {
            let _ = write!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                entry.name,
                cell(&metric.label),
                cell(&value(metric, metric.baseline, &metric.baseline_text)),
                cell(&value(metric, metric.current, &metric.current_text)),
                cell(&change(metric)),
            );
            if with_reason {
                let _ = write!(out, " {} |", cell(&metric.reason));
            }
            let _ = writeln!(out);
            rows += 1;
        }
    }
    rows
}

/// GitHub-flavoured Markdown: regressions first, then warnings, improvements, results not
/// compared, and the unchanged figures folded away.
pub fn markdown(comparison: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## memlab compare: {}\n", title(comparison));
    let _ = writeln!(out, "{}.\n", headline(comparison));
    let _ = writeln!(
        out,
        "Baseline `{}` ({}) · current `{}` ({}).\n",
        comparison.baseline.path,
        plural(comparison.baseline.results, "result", "results"),
        comparison.current.path,
        plural(comparison.current.results, "result", "results"),
    );
    if let Some(text) = machine_text(comparison) {
        let _ = writeln!(
            out,
            "> **Measured on another machine than the baseline**: {}. The figures are compared \
             anyway; differences may come from the machine.\n",
            cell(&text)
        );
    }
    let header =
        "| result | figure | baseline | current | change | why |\n|---|---|---|---|---|---|\n";
    for (verdict, heading) in [
        (Verdict::Regression, "Regressions"),
        (Verdict::Warning, "Warnings"),
        (Verdict::Improved, "Improvements"),
    ] {
        let mut rows = String::new();
        if figure_rows(&mut rows, comparison, verdict, true) > 0 {
            let _ = writeln!(out, "### {heading}\n\n{header}{rows}");
        }
    }
    let quiet: Vec<&EntryComparison> = comparison
        .entries
        .iter()
        .filter(|e| e.status != EntryStatus::Compared && e.verdict != Verdict::Warning)
        .collect();
    if !quiet.is_empty() {
        let _ = writeln!(out, "### Not compared\n\n| result | why |\n|---|---|");
        for entry in quiet {
            let _ = writeln!(
                out,
                "| `{}` | {} |",
                entry.name,
                cell(entry.note.as_deref().unwrap_or(""))
            );
        }
        let _ = writeln!(out);
    }
    let mut rows = String::new();
    let unchanged = figure_rows(&mut rows, comparison, Verdict::Unchanged, false);
    if unchanged > 0 {
        let _ = writeln!(
            out,
            "<details><summary>Unchanged: {} in {}</summary>\n\n\
             | result | figure | baseline | current | change |\n|---|---|---|---|---|\n{rows}\n</details>\n",
            plural(unchanged, "figure", "figures"),
            plural(comparison.counts.compared, "result", "results"),
        );
    }
    let _ = writeln!(out, "<sub>Rule: {}.</sub>", rule_text(comparison));
    out
}
