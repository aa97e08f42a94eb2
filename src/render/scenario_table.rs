//! The human table `memlab scenario` prints: per phase and per process, then the claims.

use std::fmt::Write;

use super::Exporter;
use super::census::census_view;
use super::text::{
    bytes_or_dash as bytes_cell, figures_explanation, format_measured, params_line, verdict_tag,
};
use crate::result::figures::{child_columns, summary_child};
use crate::result::{Role, RunStatus, ScenarioResult};
use crate::units::format_bytes;

pub struct TableExporter;

/// The first measured child's copies by region: declared regions with their size, then the
/// mapping kinds where it copied anything.
fn regions_line(result: &ScenarioResult) -> Option<String> {
    let child = summary_child(result)?;
    let truth = child.page_truth.as_ref()?;
    let page = truth.page_size_bytes;
    let parts: Vec<String> = truth
        .regions
        .iter()
        .filter(|r| r.declared || r.counts.copied_pages > 0)
        .map(|r| {
            let copied = format_bytes(r.counts.copied_pages * page);
            if r.declared {
                let in_parent = r.counts.parent_present_pages();
                format!(
                    "{} {copied} of {}",
                    r.region,
                    format_bytes(in_parent * page)
                )
            } else {
                format!("{} {copied}", r.region)
            }
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let label = child
        .child_index
        .map(|i| format!("child {i}"))
        .unwrap_or_else(|| "child".into());
    Some(format!("copied by region ({label}): {}", parts.join(" · ")))
}

/// What lies on the first measured child's copied pages (and its own pages), by Python type,
/// and the hints those types give. Empty when no census was taken.
fn census_section(result: &ScenarioResult) -> String {
    let Some(view) = census_view(result) else {
        return String::new();
    };
    let mut out = view.terminal_text();
    if view.note_line().is_some() {
        return out;
    }
    for hint in &view.hints {
        let _ = writeln!(out, "hint: {hint}");
    }
    out
}

/// Document 001 measured with MemFree + Buffers + Cached: its figure, beside memlab's truth.
fn doc001_line(result: &ScenarioResult) -> Option<String> {
    let initial = result.fact_f64("doc001_free_bytes_initial")?;
    let allocated = result.fact_f64("doc001_free_bytes_after_allocating")?;
    let in_children: Vec<f64> = result
        .facts
        .get("doc001_free_bytes_in_children")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    let lowest = in_children.iter().copied().fold(f64::INFINITY, f64::min);
    if !lowest.is_finite() {
        return None;
    }
    let drop = |from: f64, to: f64| crate::units::format_signed_bytes((from - to) as i64);
    let copied: u64 = result.summary.copied_bytes_per_child.iter().sum();
    Some(format!(
        "document 001's figure (MemFree+Buffers+Cached): fell {} allocating, then {} more by the \
         time the last child logged it; memlab's truth: the children copied {} in all (the figure \
         is machine-wide and moves with everything else running)",
        drop(initial, allocated),
        drop(allocated, lowest),
        format_bytes(copied)
    ))
}

impl Exporter for TableExporter {
    fn render(&self, result: &ScenarioResult) -> anyhow::Result<String> {
        let mut out = String::new();
        writeln!(
            out,
            "memlab scenario {} (document {})",
            result.scenario, result.source_document
        )?;
        writeln!(out, "  {}", params_line(result))?;
        if result.status == RunStatus::Skipped {
            let skip = result.skip.as_ref();
            writeln!(
                out,
                "  SKIPPED: {}",
                skip.map(|s| s.reason.as_str()).unwrap_or("no reason given")
            )?;
            if let Some(install) = skip.and_then(|s| s.install.as_deref()) {
                writeln!(out, "  install with: {install}")?;
            }
            return Ok(out);
        }
        writeln!(
            out,
            "  data: {} (the parent's anonymous growth from allocating it)",
            format_bytes(result.data_bytes)
        )?;
        writeln!(
            out,
            "  figures: {}",
            figures_explanation(result.summary.copied_method)
                .unwrap_or("none (no child was measured before and after its operation)")
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<10} {:>7}  {:<9} {:>8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
            "phase",
            "t (s)",
            "process",
            "pid",
            "RSS",
            "PSS",
            "USS",
            "shared",
            "copied",
            "child-only"
        )?;
        for phase in &result.phases {
            for (row, process) in phase.processes.iter().enumerate() {
                let label = match (process.role, process.child_index) {
                    (Role::Parent, _) => "parent".to_string(),
                    (Role::Child, Some(index)) => format!("child {index}"),
                    (Role::Child, None) => "child".to_string(),
                    (Role::Descendant, _) => "other".to_string(),
                };
                let (phase_cell, time_cell) = if row == 0 {
                    (phase.name.clone(), format!("{:.2}", phase.time_s))
                } else {
                    (String::new(), String::new())
                };
                let Some(rollup) = &process.rollup else {
                    writeln!(
                        out,
                        "{phase_cell:<10} {time_cell:>7}  {label:<9} {:>8}  (exited: sample missing)",
                        process.pid
                    )?;
                    continue;
                };
                let (shared, copied, child_only) = child_columns(process);
                writeln!(
                    out,
                    "{phase_cell:<10} {time_cell:>7}  {label:<9} {:>8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
                    process.pid,
                    format_bytes(rollup.rss_bytes),
                    format_bytes(rollup.pss_bytes),
                    format_bytes(rollup.uss_bytes),
                    bytes_cell(shared),
                    bytes_cell(copied),
                    bytes_cell(child_only),
                )?;
            }
        }
        let summary = &result.summary;
        writeln!(out)?;
        let mut tree = format!(
            "tree at '{}': ΣRSS {} · ΣPSS {} · ΣUSS {}",
            summary.phase,
            format_bytes(summary.tree_rss_bytes),
            format_bytes(summary.tree_pss_bytes),
            format_bytes(summary.tree_uss_bytes)
        );
        if let (Some(unique), Some(factor)) = (summary.tree_unique_bytes, summary.overcount_factor)
        {
            write!(
                tree,
                " · unique {} · over-count ×{factor:.2} (ΣRSS / unique)",
                format_bytes(unique)
            )?;
        }
        writeln!(out, "{tree}")?;
        let copied: Vec<String> = summary
            .copied_bytes_per_child
            .iter()
            .map(|b| format_bytes(*b))
            .collect();
        writeln!(
            out,
            "copied per child: [{}] · median {:.2}% of data",
            copied.join(", "),
            summary.copied_fraction * 100.0
        )?;
        if let Some(line) = regions_line(result) {
            writeln!(out, "{line}")?;
        }
        if let Some(line) = doc001_line(result) {
            writeln!(out, "{line}")?;
        }
        out.push_str(&census_section(result));
        writeln!(out)?;
        writeln!(out, "claims")?;
        if result.claims.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for claim in &result.claims {
            writeln!(out, "  {}  {}", verdict_tag(claim.verdict), claim.id)?;
            writeln!(out, "          {}", claim.statement)?;
            writeln!(out, "          rule: {}", claim.rule)?;
            writeln!(out, "          measured: {}", format_measured(claim))?;
            if let Some(note) = &claim.note {
                writeln!(out, "          note: {note}")?;
            }
        }
        Ok(out)
    }
}
