//! `report.md`: the report's tables in GitHub-flavoured Markdown, for a CI job summary
//! (`$GITHUB_STEP_SUMMARY`): broken claims first, then the verdicts, each scenario's claims,
//! the documents' numbers beside memlab's, the scans and the version matrix. No charts. The
//! tables are the HTML page's ([`super::tables`]).

use std::fmt::Write;

use super::documents::{comparison, document_subject};
use super::input::ReportInput;
use super::tables::{
    broken_claims_table, claims_table, comparison_table, machine_table, matrix_table, scan_table,
    verdicts_table,
};
use super::{Report, ReportExporter, by_document, python_versions, scenario_heading};
use crate::render::census::census_view;
use crate::render::table::{markdown as table, markdown_text as cell};
use crate::render::text::{figures_word, params_line};
use crate::result::{RunStatus, ScenarioResult};
use crate::units::format_bytes;

pub struct MarkdownExporter;

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| path.display().to_string())
}

fn scenario_section(out: &mut String, result: &ScenarioResult, heading: &str) -> std::fmt::Result {
    writeln!(out, "### `{heading}`\n")?;
    writeln!(out, "{}\n", params_line(result))?;
    if result.status == RunStatus::Skipped {
        let skip = result.skip.as_ref();
        writeln!(
            out,
            "**Skipped:** {}",
            cell(skip.map(|s| s.reason.as_str()).unwrap_or("no reason given"))
        )?;
        if let Some(install) = skip.and_then(|s| s.install.as_deref()) {
            writeln!(out, "\nInstall with `{install}`.")?;
        }
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "data {} · median child copied {:.2}% · ΣRSS {} · ΣPSS {}{} · figures {}\n",
        format_bytes(result.data_bytes),
        result.summary.copied_fraction * 100.0,
        format_bytes(result.summary.tree_rss_bytes),
        format_bytes(result.summary.tree_pss_bytes),
        result
            .summary
            .tree_unique_bytes
            .map(|u| format!(" · tree-unique {}", format_bytes(u)))
            .unwrap_or_default(),
        figures_word(result.summary.copied_method)
    )?;
    if result.claims.is_empty() {
        writeln!(out, "No claim.\n")?;
    } else {
        out.push_str(&table(&claims_table(result)));
    }
    census_section(out, result)?;
    if let Some(comparison) = comparison(result) {
        writeln!(
            out,
            "The document's numbers beside memlab's: {}\n",
            comparison.caption
        )?;
        out.push_str(&table(&comparison_table(&comparison)));
    }
    Ok(())
}

/// What the shown child copied, by Python type, with the hints (when a census was taken).
fn census_section(out: &mut String, result: &ScenarioResult) -> std::fmt::Result {
    let Some(view) = census_view(result) else {
        return Ok(());
    };
    if let Some(line) = view.note_line() {
        return writeln!(out, "{}\n", cell(&line));
    }
    if let Some(copied) = &view.copied {
        writeln!(out, "{}:\n", cell(&view.copied_heading()))?;
        out.push_str(&table(copied));
    }
    if let Some(child_only) = &view.child_only {
        writeln!(out, "{}:\n", cell(&view.child_only_heading()))?;
        out.push_str(&table(child_only));
    }
    for hint in &view.hints {
        writeln!(out, "- hint: {}", cell(hint))?;
    }
    if !view.hints.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}

fn scans_section(out: &mut String, input: &ReportInput) -> std::fmt::Result {
    if input.scans.is_empty() {
        return Ok(());
    }
    writeln!(out, "## Scans\n")?;
    for key in input.scan_keys() {
        for (scenario, points) in input.scan_series(&key) {
            writeln!(out, "### `{scenario}` over {key}\n")?;
            out.push_str(&table(&scan_table(&key, &points)));
        }
    }
    Ok(())
}

fn matrix_section(out: &mut String, input: &ReportInput) -> std::fmt::Result {
    if input.matrix.is_empty() {
        return Ok(());
    }
    writeln!(out, "## Python version matrix\n")?;
    writeln!(
        out,
        "Each cell: the scenario's first claim, measured value and verdict, under that interpreter.\n"
    )?;
    out.push_str(&table(&matrix_table(input)));
    Ok(())
}

impl ReportExporter for MarkdownExporter {
    fn render(&self, report: &Report) -> anyhow::Result<String> {
        let input = report.input;
        let mut out = String::new();
        writeln!(out, "# memlab report\n")?;
        let mut timestamps: Vec<&str> = input
            .scenarios
            .iter()
            .chain(input.scans.iter().map(|p| &p.file))
            .chain(input.matrix.iter().map(|c| &c.file))
            .map(|f| f.result.timestamp.as_str())
            .collect();
        timestamps.sort_unstable();
        let mut versions: Vec<&str> = input
            .scenarios
            .iter()
            .map(|f| f.result.memlab_version.as_str())
            .collect();
        versions.sort_unstable();
        versions.dedup();
        writeln!(
            out,
            "{} scenario results, {} scan points, {} version-matrix results; measured {} … {} by memlab {}.\n",
            input.scenarios.len(),
            input.scans.len(),
            input.matrix.len(),
            timestamps.first().unwrap_or(&"?"),
            timestamps.last().unwrap_or(&"?"),
            if versions.is_empty() {
                "?".to_string()
            } else {
                versions.join(", ")
            }
        )?;

        let broken = broken_claims_table(input);
        if !broken.is_empty() {
            writeln!(out, "## ❌ Broken claims\n")?;
            out.push_str(&table(&broken));
        }

        if !input.scenarios.is_empty() {
            writeln!(out, "## Verdicts\n")?;
            out.push_str(&table(&verdicts_table(input)));
        }

        writeln!(out, "## Machine\n")?;
        match machine_table(input) {
            None => writeln!(out, "No machine recorded.\n")?,
            Some(machines) => {
                out.push_str(&table(&machines));
                let pythons = python_versions(input);
                if !pythons.is_empty() {
                    writeln!(
                        out,
                        "Python scenarios ran under Python {}.\n",
                        pythons.join(", ")
                    )?;
                }
            }
        }

        for (document, members) in by_document(input) {
            match document_subject(&document) {
                Some(subject) if document == "beyond" => {
                    writeln!(out, "## Beyond the documents\n\n{subject}\n")?
                }
                Some(subject) => writeln!(out, "## Document {document}\n\n{subject}\n")?,
                None => writeln!(out, "## Document {document}\n")?,
            }
            for index in members {
                scenario_section(
                    &mut out,
                    &input.scenarios[index].result,
                    &scenario_heading(input, index),
                )?;
            }
        }
        scans_section(&mut out, input)?;
        matrix_section(&mut out, input)?;
        if !input.unread.is_empty() {
            writeln!(out, "## Files not read\n")?;
            for (path, reason) in &input.unread {
                writeln!(out, "- `{}`: {}", file_name(path), cell(reason))?;
            }
            writeln!(out)?;
        }
        Ok(out)
    }
}
