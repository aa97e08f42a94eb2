//! `report.md`: the report's tables in GitHub-flavoured Markdown, for a CI job summary
//! (`$GITHUB_STEP_SUMMARY`): broken claims first, then the verdicts, each scenario's claims,
//! the documents' numbers beside memlab's, the scans and the version matrix. No charts.

use std::fmt::Write;

use super::charts::objsize_scan::object_size_point;
use super::documents::{comparison, document_subject};
use super::input::ReportInput;
use super::{
    Report, ReportExporter, broken_claims, by_document, headline_claim, machine_rows, machines,
    python_versions, scenario_heading,
};
use crate::render::text::{claim_counts, figures_word, format_measured, params_line};
use crate::result::{RunStatus, ScenarioResult};
use crate::units::format_bytes;

pub struct MarkdownExporter;

/// A table cell: one line, pipes escaped, nothing that could open an HTML tag (`<=` stays).
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\r' => out.push(' '),
            '|' => out.push_str("\\|"),
            '<' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                out.push_str("&lt;")
            }
            c => out.push(c),
        }
    }
    out
}

/// The claims of a scan point or matrix cell in one cell: verdicts, broken ones named.
fn claims_cell(result: &ScenarioResult) -> String {
    let parts: Vec<String> = result
        .claims
        .iter()
        .map(|c| match c.verdict.holds() {
            Some(false) => format!(
                "❌ {}: {}",
                c.id.rsplit('/').next().unwrap_or(&c.id),
                format_measured(c)
            ),
            Some(true) => "✅".to_string(),
            None => "➖".to_string(),
        })
        .collect();
    parts.join(" ")
}

fn verdict(holds: Option<bool>) -> &'static str {
    match holds {
        Some(true) => "✅ holds",
        Some(false) => "❌ **BROKEN**",
        None => "➖ not judged",
    }
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) -> std::fmt::Result {
    writeln!(out, "| {} |", header.join(" | "))?;
    writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    )?;
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    writeln!(out)
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| path.display().to_string())
}

fn overview_row(result: &ScenarioResult, heading: &str) -> Vec<String> {
    if result.status == RunStatus::Skipped {
        let reason = result
            .skip
            .as_ref()
            .map(|s| s.reason.as_str())
            .unwrap_or("no reason given");
        return vec![
            format!("`{heading}`"),
            result.source_document.clone(),
            format!("⏭ skipped: {reason}"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ];
    }
    let (held, broken, unjudged) = claim_counts(result);
    let mut verdicts = Vec::new();
    if broken > 0 {
        verdicts.push(format!("❌ {broken} broken"));
    }
    if held > 0 {
        verdicts.push(format!("✅ {held} hold"));
    }
    if unjudged > 0 {
        verdicts.push(format!("➖ {unjudged} not judged"));
    }
    if verdicts.is_empty() {
        verdicts.push("no claim".into());
    }
    let summary = &result.summary;
    vec![
        format!("`{heading}`"),
        result.source_document.clone(),
        verdicts.join(", "),
        headline_claim(result)
            .map(format_measured)
            .unwrap_or_default(),
        format_bytes(summary.tree_rss_bytes),
        summary
            .tree_unique_bytes
            .map(format_bytes)
            .unwrap_or_else(|| "n/a".into()),
        summary
            .overcount_factor
            .map(|f| format!("×{f:.2}"))
            .unwrap_or_else(|| "n/a".into()),
        figures_word(result.summary.copied_method).to_string(),
    ]
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
        let rows: Vec<Vec<String>> = result
            .claims
            .iter()
            .map(|c| {
                let mut measured = format_measured(c);
                if let Some(note) = &c.note {
                    measured = format!("{measured} — {note}");
                }
                vec![
                    verdict(c.verdict.holds()).to_string(),
                    format!("`{}`", c.id),
                    c.statement.clone(),
                    if c.rule.is_empty() {
                        "—".into()
                    } else {
                        c.rule.clone()
                    },
                    measured,
                ]
            })
            .collect();
        table(
            out,
            &[
                "verdict",
                "claim",
                "the document's statement",
                "rule",
                "measured",
            ],
            &rows,
        )?;
    }
    if let Some(comparison) = comparison(result) {
        writeln!(
            out,
            "The document's numbers beside memlab's: {}\n",
            comparison.caption
        )?;
        let rows: Vec<Vec<String>> = comparison
            .rows
            .iter()
            .map(|r| vec![r.quantity.clone(), r.document.clone(), r.memlab.clone()])
            .collect();
        table(out, &["", "document", "memlab (this machine)"], &rows)?;
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
            if key == "object-size" {
                let rows: Vec<Vec<String>> = points
                    .iter()
                    .map(|p| {
                        if p.file.result.status == RunStatus::Skipped {
                            return vec![
                                format_bytes(p.value as u64),
                                "skipped".into(),
                                String::new(),
                                String::new(),
                                String::new(),
                            ];
                        }
                        let point = object_size_point(&p.file.result, p.value);
                        vec![
                            format_bytes(p.value as u64),
                            format!("{:.2}%", point.measured * 100.0),
                            point
                                .expected
                                .map(|e| format!("{:.2}%", e * 100.0))
                                .unwrap_or_else(|| "—".into()),
                            if point.by_region {
                                "objects region, page truth".into()
                            } else {
                                "data, estimate".into()
                            },
                            claims_cell(&p.file.result),
                        ]
                    })
                    .collect();
                table(
                    out,
                    &[
                        "object size",
                        "copied (median child)",
                        "one page per object",
                        "share of",
                        "claims",
                    ],
                    &rows,
                )?;
            } else {
                let rows: Vec<Vec<String>> = points
                    .iter()
                    .map(|p| {
                        let result = &p.file.result;
                        let value = super::scan_value_label(&key, p.value);
                        if result.status == RunStatus::Skipped {
                            return vec![value, "skipped".into()];
                        }
                        let summary = &result.summary;
                        vec![
                            value,
                            format_bytes(summary.tree_rss_bytes),
                            format_bytes(summary.tree_pss_bytes),
                            summary
                                .tree_unique_bytes
                                .map(format_bytes)
                                .unwrap_or_else(|| "n/a".into()),
                            format!("{:.2}%", summary.copied_fraction * 100.0),
                            claims_cell(result),
                        ]
                    })
                    .collect();
                table(
                    out,
                    &[
                        key.as_str(),
                        "ΣRSS",
                        "ΣPSS",
                        "tree-unique",
                        "copied (median child)",
                        "claims",
                    ],
                    &rows,
                )?;
            }
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
    let pythons = input.matrix_pythons();
    let mut header = vec!["scenario".to_string()];
    header.extend(pythons.iter().map(|p| format!("Python {p}")));
    let rows: Vec<Vec<String>> = input
        .matrix_scenarios()
        .iter()
        .map(|scenario| {
            let mut row = vec![format!("`{scenario}`")];
            for python in &pythons {
                use super::charts::matrix::{MatrixValue, matrix_value};
                row.push(match matrix_value(input, scenario, python) {
                    MatrixValue::Missing => "—".into(),
                    MatrixValue::Skipped => "skipped".into(),
                    MatrixValue::NoClaim => "no claim".into(),
                    MatrixValue::Claim { value, holds } => match holds {
                        Some(true) => format!("{value} ✅"),
                        Some(false) => format!("{value} ❌"),
                        None => format!("{value} ➖"),
                    },
                });
            }
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    table(out, &header, &rows)
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

        let broken: Vec<Vec<String>> = broken_claims(input)
            .into_iter()
            .map(|(place, c)| {
                let id = if place.is_empty() {
                    format!("`{}`", c.id)
                } else {
                    format!("`{}` ({place})", c.id)
                };
                vec![id, c.statement.clone(), c.rule.clone(), format_measured(c)]
            })
            .collect();
        if !broken.is_empty() {
            writeln!(out, "## ❌ Broken claims\n")?;
            table(
                &mut out,
                &["claim", "the document's statement", "rule", "measured"],
                &broken,
            )?;
        }

        if !input.scenarios.is_empty() {
            writeln!(out, "## Verdicts\n")?;
            let rows: Vec<Vec<String>> = (0..input.scenarios.len())
                .map(|i| overview_row(&input.scenarios[i].result, &scenario_heading(input, i)))
                .collect();
            table(
                &mut out,
                &[
                    "scenario",
                    "document",
                    "claims",
                    "headline measure",
                    "ΣRSS",
                    "tree-unique",
                    "over-count",
                    "figures",
                ],
                &rows,
            )?;
        }

        writeln!(out, "## Machine\n")?;
        let machines = machines(input);
        if machines.is_empty() {
            writeln!(out, "No machine recorded.\n")?;
        } else {
            let mut header = vec!["".to_string()];
            header.extend((1..=machines.len()).map(|i| {
                if machines.len() == 1 {
                    "machine".to_string()
                } else {
                    format!("machine {i}")
                }
            }));
            let columns: Vec<Vec<(&str, String)>> = machines
                .iter()
                .map(|(m, count)| machine_rows(m, *count))
                .collect();
            let rows: Vec<Vec<String>> = (0..columns[0].len())
                .map(|r| {
                    let mut row = vec![columns[0][r].0.to_string()];
                    row.extend(columns.iter().map(|c| c[r].1.clone()));
                    row
                })
                .collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            table(&mut out, &header, &rows)?;
            let pythons = python_versions(input);
            if !pythons.is_empty() {
                writeln!(
                    out,
                    "Python scenarios ran under Python {}.\n",
                    pythons.join(", ")
                )?;
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
