//! The report's tables, built once from the stored results and rendered by both the HTML page
//! and the Markdown summary (`crate::render::table`).

use super::charts::matrix::{MatrixValue, matrix_value};
use super::charts::objsize_scan::object_size_point;
use super::documents::Comparison;
use super::input::{ReportInput, ScanPoint};
use super::{
    broken_claims, headline_claim, machine_rows, machines, scan_value_label, scenario_heading,
};
use crate::render::table::{Cell, ClaimMark, Table};
use crate::render::text::{claim_counts, figures_word, format_measured};
use crate::result::{RunStatus, ScenarioResult};
use crate::units::format_bytes;

/// The anchor of a scenario's section on the page.
pub fn scenario_anchor(heading: &str) -> String {
    anchor("scenario", heading)
}

/// `PREFIX-NAME` with anything but letters, digits, `-` and `.` turned into `-`.
pub fn anchor(prefix: &str, name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{slug}")
}

fn bytes_or_na(value: Option<u64>) -> String {
    value.map(format_bytes).unwrap_or_else(|| "n/a".into())
}

/// Every broken claim of the report, where it comes from when not its scenario's own result.
pub fn broken_claims_table(input: &ReportInput) -> Table {
    let mut table = Table::new(&["claim", "the document's statement", "rule", "measured"]);
    for (place, claim) in broken_claims(input) {
        let id = if place.is_empty() {
            Cell::code(&claim.id)
        } else {
            Cell::CodeWithPlace {
                code: claim.id.clone(),
                place,
            }
        };
        table.push(vec![
            id,
            Cell::text(&claim.statement),
            Cell::text(&claim.rule),
            Cell::text(format_measured(claim)),
        ]);
    }
    table
}

/// One row per scenario result: its verdicts, headline measure and tree totals.
pub fn verdicts_table(input: &ReportInput) -> Table {
    let mut table = Table::new(&[
        "scenario",
        "document",
        "claims",
        "headline measure",
        "ΣRSS",
        "tree-unique",
        "over-count",
        "figures",
    ]);
    for (index, file) in input.scenarios.iter().enumerate() {
        let result = &file.result;
        let heading = scenario_heading(input, index);
        let name = Cell::Link {
            anchor: scenario_anchor(&heading),
            text: heading,
        };
        let document = Cell::text(&result.source_document);
        if result.status == RunStatus::Skipped {
            let reason = result
                .skip
                .as_ref()
                .map(|s| s.reason.as_str())
                .unwrap_or("no reason given");
            let mut row = vec![name, document, Cell::Skipped(reason.into())];
            row.extend(std::iter::repeat_n(Cell::Empty, 5));
            table.push(row);
            continue;
        }
        let (holds, broken, not_judged) = claim_counts(result);
        let summary = &result.summary;
        table.push(vec![
            name,
            document,
            Cell::VerdictCounts {
                holds,
                broken,
                not_judged,
            },
            Cell::text(
                headline_claim(result)
                    .map(format_measured)
                    .unwrap_or_default(),
            ),
            Cell::number(format_bytes(summary.tree_rss_bytes)),
            Cell::number(bytes_or_na(summary.tree_unique_bytes)),
            Cell::number(
                summary
                    .overcount_factor
                    .map(|f| format!("×{f:.2}"))
                    .unwrap_or_else(|| "n/a".into()),
            ),
            Cell::text(figures_word(summary.copied_method)),
        ]);
    }
    table
}

/// The machines the results come from, one column each.
pub fn machine_table(input: &ReportInput) -> Option<Table> {
    let machines = machines(input);
    if machines.is_empty() {
        return None;
    }
    let mut header = vec![String::new()];
    header.extend((1..=machines.len()).map(|i| {
        if machines.len() == 1 {
            "machine".to_string()
        } else {
            format!("machine {i}")
        }
    }));
    let columns: Vec<Vec<(&str, String)>> = machines
        .iter()
        .map(|(machine, count)| machine_rows(machine, *count))
        .collect();
    let mut table = Table::with_header(header);
    for row in 0..columns[0].len() {
        let mut cells = vec![Cell::text(columns[0][row].0)];
        cells.extend(columns.iter().map(|c| Cell::text(&c[row].1)));
        table.push(cells);
    }
    Some(table)
}

/// A result's claims: verdict, id, statement, rule, measured value (with the note).
pub fn claims_table(result: &ScenarioResult) -> Table {
    let mut table = Table::new(&[
        "verdict",
        "claim",
        "the document's statement",
        "rule",
        "measured",
    ]);
    for claim in &result.claims {
        table.push(vec![
            Cell::Verdict(claim.verdict),
            Cell::code(&claim.id),
            Cell::text(&claim.statement),
            Cell::text(if claim.rule.is_empty() {
                "—"
            } else {
                &claim.rule
            }),
            Cell::Annotated {
                text: format_measured(claim),
                note: claim.note.clone(),
            },
        ]);
    }
    table
}

/// The document's numbers beside memlab's.
pub fn comparison_table(comparison: &Comparison) -> Table {
    let mut table = Table::new(&["", "document", "memlab (this machine)"]);
    for row in &comparison.rows {
        table.push(vec![
            Cell::text(&row.quantity),
            Cell::text(&row.document),
            Cell::text(&row.memlab),
        ]);
    }
    table
}

/// What the workload measured itself.
pub fn facts_table(result: &ScenarioResult) -> Table {
    let mut table = Table::new(&["fact", "value"]);
    for (name, value) in &result.facts {
        let mut text = value.to_string();
        if text.chars().count() > 300 {
            text = text.chars().take(299).collect::<String>() + "…";
        }
        table.push(vec![Cell::code(name), Cell::text(text)]);
    }
    table
}

fn claim_marks(result: &ScenarioResult) -> Cell {
    Cell::ClaimMarks(
        result
            .claims
            .iter()
            .map(|claim| ClaimMark {
                verdict: claim.verdict,
                short_id: claim.id.rsplit('/').next().unwrap_or(&claim.id).to_string(),
                measured: format_measured(claim),
            })
            .collect(),
    )
}

fn percent_2(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// One scan series: a row per point.
pub fn scan_table(key: &str, points: &[&ScanPoint]) -> Table {
    if key == "object-size" {
        let mut table = Table::new(&[
            "object size",
            "copied (median child)",
            "one page per object",
            "share of",
            "claims",
        ]);
        for point in points {
            let value = Cell::number(format_bytes(point.value as u64));
            let result = &point.file.result;
            if result.status == RunStatus::Skipped {
                let mut row = vec![value, Cell::text("skipped")];
                row.extend(std::iter::repeat_n(Cell::Empty, 3));
                table.push(row);
                continue;
            }
            let measured = object_size_point(result, point.value);
            table.push(vec![
                value,
                Cell::number(percent_2(measured.measured)),
                Cell::number(
                    measured
                        .expected
                        .map(percent_2)
                        .unwrap_or_else(|| "—".into()),
                ),
                Cell::text(if measured.by_region {
                    "objects region, page truth"
                } else {
                    "data, estimate"
                }),
                claim_marks(result),
            ]);
        }
        return table;
    }
    let mut table = Table::new(&[
        key,
        "ΣRSS",
        "ΣPSS",
        "tree-unique",
        "copied (median child)",
        "claims",
    ]);
    for point in points {
        let result = &point.file.result;
        let value = Cell::number(scan_value_label(key, point.value));
        if result.status == RunStatus::Skipped {
            table.push(vec![value, Cell::text("skipped")]);
            continue;
        }
        let summary = &result.summary;
        table.push(vec![
            value,
            Cell::number(format_bytes(summary.tree_rss_bytes)),
            Cell::number(format_bytes(summary.tree_pss_bytes)),
            Cell::number(bytes_or_na(summary.tree_unique_bytes)),
            Cell::number(percent_2(summary.copied_fraction)),
            claim_marks(result),
        ]);
    }
    table
}

/// The version matrix: a row per scenario, a column per interpreter.
pub fn matrix_table(input: &ReportInput) -> Table {
    let pythons = input.matrix_pythons();
    let mut header = vec!["scenario".to_string()];
    header.extend(pythons.iter().map(|p| format!("Python {p}")));
    let mut table = Table::with_header(header);
    for scenario in input.matrix_scenarios() {
        let mut row = vec![Cell::code(&scenario)];
        for python in &pythons {
            row.push(match matrix_value(input, &scenario, python) {
                MatrixValue::Missing => Cell::text("—"),
                MatrixValue::Skipped => Cell::Skipped(String::new()),
                MatrixValue::NoClaim => Cell::text("no claim"),
                MatrixValue::Claim { value, verdict } => Cell::ValueVerdict { value, verdict },
            });
        }
        table.push(row);
    }
    table
}
