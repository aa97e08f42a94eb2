//! `report.html`: one self-contained page (inline CSS, charts as inline SVG, no script, no
//! network): the verdicts, the machine, each document's scenarios with their claim tables, the
//! documents' numbers beside memlab's and the charts, then the scans and the version matrix.

use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

use super::charts::RenderedChart;
use super::charts::matrix::{MatrixValue, matrix_value};
use super::charts::objsize_scan::object_size_point;
use super::documents::{comparison, document_subject};
use super::input::ReportInput;
use super::{
    Report, ReportExporter, broken_claims, by_document, headline_claim, machine_rows, machines,
    python_versions, scenario_heading,
};
use crate::render::text::{claim_counts, figures_word, format_measured, params_line, verdict_word};
use crate::result::Verdict;
use crate::result::{RunStatus, ScenarioResult};
use crate::units::format_bytes;

pub struct HtmlExporter;

const STYLE: &str = r#"
:root { --text: #222; --muted: #5f6368; --line: #d7dbe0; --holds: #2e7d32; --broken: #c62828; --na: #757575; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 "DejaVu Sans", system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--text); background: #fafafa; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 22px; margin: 40px 0 8px; padding-top: 12px; border-top: 2px solid var(--line); }
h3 { font-size: 18px; margin: 28px 0 6px; }
h3 code { font-size: 18px; }
p.lead, p.params, p.subject { color: var(--muted); margin: 4px 0 12px; }
nav ul { columns: 3; padding-left: 18px; margin: 8px 0; }
table { border-collapse: collapse; margin: 10px 0 18px; width: 100%; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.note { color: var(--muted); font-size: 13px; }
.nowrap { white-space: nowrap; }
code { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 13px; }
.badge { display: inline-block; min-width: 78px; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 13px; font-weight: 600; text-align: center; white-space: nowrap; }
.badge.holds { background: var(--holds); }
.badge.broken { background: var(--broken); }
.badge.na { background: var(--na); }
.badge.skipped { background: #9e9e9e; }
.skip { padding: 8px 12px; background: #f5f5f5; border-left: 4px solid #9e9e9e; }
figure.chart { margin: 14px 0 22px; padding: 8px; border: 1px solid var(--line); border-radius: 4px; }
figure.chart .svg svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figure.chart figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
details { margin: 6px 0 14px; }
details summary { cursor: pointer; color: var(--muted); }
details table { font-size: 13px; }
.value { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 12px; word-break: break-all; }
"#;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn badge(verdict: Verdict) -> String {
    let class = match verdict {
        Verdict::Holds => "holds",
        Verdict::Broken => "broken",
        Verdict::NotJudged => "na",
    };
    format!(
        r#"<span class="badge {class}">{}</span>"#,
        verdict_word(verdict)
    )
}

fn anchor(prefix: &str, name: &str) -> String {
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

fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    normal
}

/// `to` relative to the directory `from` (for links from the report to the plot files).
fn relative_path(from: &Path, to: &Path) -> String {
    let (from, to) = (normalize(from), normalize(to));
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().to_string()),
    );
    parts.join("/")
}

struct Page<'a> {
    out: String,
    /// The directory the page is written to, for links to the plot files.
    directory: Option<&'a Path>,
}

impl Page<'_> {
    fn chart(&mut self, chart: &RenderedChart) -> std::fmt::Result {
        let svg = match chart.svg.find("<svg") {
            Some(start) => &chart.svg[start..],
            None => chart.svg.as_str(),
        };
        let svg = svg.replacen(
            "<svg ",
            &format!(
                r#"<svg role="img" aria-label="{}" data-chart="{}" "#,
                escape(&chart.title),
                escape(&chart.stem)
            ),
            1,
        );
        writeln!(
            self.out,
            r#"<figure class="chart" id="{}"><div class="svg">{svg}</div>"#,
            anchor("chart", &chart.stem)
        )?;
        write!(self.out, "<figcaption>{}", escape(&chart.title))?;
        if let Some(directory) = self.directory {
            write!(
                self.out,
                r#" · <a href="{}">PNG</a> · <a href="{}">SVG</a>"#,
                escape(&relative_path(directory, &chart.png_path)),
                escape(&relative_path(directory, &chart.svg_path))
            )?;
        }
        writeln!(self.out, "</figcaption></figure>")
    }

    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> std::fmt::Result {
        // Cells are HTML already (escaped by the caller).
        write!(self.out, "<table><thead><tr>")?;
        for h in header {
            write!(self.out, "<th>{}</th>", escape(h))?;
        }
        writeln!(self.out, "</tr></thead><tbody>")?;
        for row in rows {
            write!(self.out, "<tr>")?;
            for cell in row {
                if let Some(rest) = cell.strip_prefix("\u{1}num:") {
                    write!(self.out, r#"<td class="num">{rest}</td>"#)?;
                } else {
                    write!(self.out, "<td>{cell}</td>")?;
                }
            }
            writeln!(self.out, "</tr>")?;
        }
        writeln!(self.out, "</tbody></table>")
    }
}

/// A right-aligned numeric cell.
fn num(text: impl AsRef<str>) -> String {
    format!("\u{1}num:{}", escape(text.as_ref()))
}

fn verdicts_table(page: &mut Page, input: &ReportInput) -> std::fmt::Result {
    let rows: Vec<Vec<String>> = input
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let result = &file.result;
            let heading = scenario_heading(input, i);
            let name = format!(
                r##"<a class="nowrap" href="#{}"><code>{}</code></a>"##,
                anchor("scenario", &heading),
                escape(&heading)
            );
            if result.status == RunStatus::Skipped {
                let reason = result
                    .skip
                    .as_ref()
                    .map(|s| s.reason.as_str())
                    .unwrap_or("no reason given");
                return vec![
                    name,
                    escape(&result.source_document),
                    format!(
                        r#"<span class="badge skipped">skipped</span> {}"#,
                        escape(reason)
                    ),
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
                verdicts.push(format!("{} ×{broken}", badge(Verdict::Broken)));
            }
            if held > 0 {
                verdicts.push(format!("{} ×{held}", badge(Verdict::Holds)));
            }
            if unjudged > 0 {
                verdicts.push(format!("{} ×{unjudged}", badge(Verdict::NotJudged)));
            }
            let summary = &result.summary;
            vec![
                name,
                escape(&result.source_document),
                verdicts.join(" "),
                escape(
                    &headline_claim(result)
                        .map(format_measured)
                        .unwrap_or_default(),
                ),
                num(format_bytes(summary.tree_rss_bytes)),
                num(summary
                    .tree_unique_bytes
                    .map(format_bytes)
                    .unwrap_or_else(|| "n/a".into())),
                num(summary
                    .overcount_factor
                    .map(|f| format!("×{f:.2}"))
                    .unwrap_or_else(|| "n/a".into())),
                escape(figures_word(result.summary.copied_method)),
            ]
        })
        .collect();
    page.table(
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
    )
}

fn facts_details(page: &mut Page, result: &ScenarioResult) -> std::fmt::Result {
    if result.facts.is_empty() {
        return Ok(());
    }
    writeln!(
        page.out,
        "<details><summary>What the workload measured itself ({} facts)</summary>",
        result.facts.len()
    )?;
    let rows: Vec<Vec<String>> = result
        .facts
        .iter()
        .map(|(name, value)| {
            let mut text = value.to_string();
            if text.chars().count() > 300 {
                text = text.chars().take(299).collect::<String>() + "…";
            }
            vec![
                format!("<code>{}</code>", escape(name)),
                format!(r#"<span class="value">{}</span>"#, escape(&text)),
            ]
        })
        .collect();
    page.table(&["fact", "value"], &rows)?;
    writeln!(page.out, "</details>")
}

fn scenario_article(
    page: &mut Page,
    input: &ReportInput,
    index: usize,
    charts: &[RenderedChart],
) -> std::fmt::Result {
    let result = &input.scenarios[index].result;
    let heading = scenario_heading(input, index);
    writeln!(
        page.out,
        r#"<article class="scenario" id="{}">"#,
        anchor("scenario", &heading)
    )?;
    writeln!(page.out, "<h3><code>{}</code></h3>", escape(&heading))?;
    writeln!(
        page.out,
        r#"<p class="params">{}</p>"#,
        escape(&params_line(result))
    )?;
    if result.status == RunStatus::Skipped {
        let skip = result.skip.as_ref();
        write!(
            page.out,
            r#"<p class="skip"><span class="badge skipped">skipped</span> {}"#,
            escape(skip.map(|s| s.reason.as_str()).unwrap_or("no reason given"))
        )?;
        if let Some(install) = skip.and_then(|s| s.install.as_deref()) {
            write!(
                page.out,
                "<br>install with <code>{}</code>",
                escape(install)
            )?;
        }
        writeln!(page.out, "</p></article>")?;
        return Ok(());
    }
    let summary = &result.summary;
    writeln!(
        page.out,
        "<p>data {} · median child copied {:.2}% of it · ΣRSS {} · ΣPSS {}{} · figures {} · {:.1} s</p>",
        escape(&format_bytes(result.data_bytes)),
        summary.copied_fraction * 100.0,
        escape(&format_bytes(summary.tree_rss_bytes)),
        escape(&format_bytes(summary.tree_pss_bytes)),
        summary
            .tree_unique_bytes
            .map(|u| format!(" · tree-unique {}", escape(&format_bytes(u))))
            .unwrap_or_default(),
        escape(figures_word(result.summary.copied_method)),
        summary.wall_seconds
    )?;
    if result.claims.is_empty() {
        writeln!(page.out, "<p>No claim.</p>")?;
    } else {
        let rows: Vec<Vec<String>> = result
            .claims
            .iter()
            .map(|c| {
                let mut measured = escape(&format_measured(c));
                if let Some(note) = &c.note {
                    write!(
                        measured,
                        r#"<br><span class="note">{}</span>"#,
                        escape(note)
                    )
                    .ok();
                }
                vec![
                    badge(c.verdict),
                    format!("<code>{}</code>", escape(&c.id)),
                    escape(&c.statement),
                    if c.rule.is_empty() {
                        "—".into()
                    } else {
                        escape(&c.rule)
                    },
                    measured,
                ]
            })
            .collect();
        page.table(
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
            page.out,
            "<p>The document's numbers beside memlab's: {}</p>",
            escape(&comparison.caption)
        )?;
        let rows: Vec<Vec<String>> = comparison
            .rows
            .iter()
            .map(|r| vec![escape(&r.quantity), escape(&r.document), escape(&r.memlab)])
            .collect();
        page.table(&["", "document", "memlab (this machine)"], &rows)?;
    }
    for chart in charts {
        page.chart(chart)?;
    }
    facts_details(page, result)?;
    writeln!(page.out, "</article>")
}

fn scans_section(
    page: &mut Page,
    input: &ReportInput,
    charts: &[RenderedChart],
) -> std::fmt::Result {
    if input.scans.is_empty() {
        return Ok(());
    }
    writeln!(page.out, r#"<section id="scans"><h2>Scans</h2>"#)?;
    writeln!(
        page.out,
        r#"<p class="lead">One run per value of a parameter (<code>scans/NAME--KEY-VALUE.json</code>).</p>"#
    )?;
    for chart in charts {
        page.chart(chart)?;
    }
    for key in input.scan_keys() {
        for (scenario, points) in input.scan_series(&key) {
            writeln!(
                page.out,
                "<h3><code>{}</code> over {}</h3>",
                escape(&scenario),
                escape(&key)
            )?;
            let rows: Vec<Vec<String>> = points
                .iter()
                .map(|p| {
                    let result = &p.file.result;
                    let value = super::scan_value_label(&key, p.value);
                    if result.status == RunStatus::Skipped {
                        return vec![num(value), "skipped".into()];
                    }
                    let summary = &result.summary;
                    let mut row = vec![num(value)];
                    if key == "object-size" {
                        let point = object_size_point(result, p.value);
                        row.push(num(format!("{:.2}%", point.measured * 100.0)));
                        row.push(num(point
                            .expected
                            .map(|e| format!("{:.2}%", e * 100.0))
                            .unwrap_or_else(|| "—".into())));
                    } else {
                        row.push(num(format!("{:.2}%", summary.copied_fraction * 100.0)));
                    }
                    row.push(num(format_bytes(summary.tree_rss_bytes)));
                    row.push(num(format_bytes(summary.tree_pss_bytes)));
                    row.push(num(summary
                        .tree_unique_bytes
                        .map(format_bytes)
                        .unwrap_or_else(|| "n/a".into())));
                    let verdicts: Vec<String> = result
                        .claims
                        .iter()
                        .map(|c| {
                            let mut text = badge(c.verdict);
                            if c.verdict.is_broken() {
                                write!(
                                    text,
                                    " <code>{}</code> {}",
                                    escape(c.id.rsplit('/').next().unwrap_or(&c.id)),
                                    escape(&format_measured(c))
                                )
                                .ok();
                            }
                            text
                        })
                        .collect();
                    row.push(verdicts.join(" "));
                    row
                })
                .collect();
            if key == "object-size" {
                page.table(
                    &[
                        "object size",
                        "copied (median child, % of objects)",
                        "one page per object",
                        "ΣRSS",
                        "ΣPSS",
                        "tree-unique",
                        "claims",
                    ],
                    &rows,
                )?;
            } else {
                page.table(
                    &[
                        key.as_str(),
                        "copied (median child)",
                        "ΣRSS",
                        "ΣPSS",
                        "tree-unique",
                        "claims",
                    ],
                    &rows,
                )?;
            }
        }
    }
    writeln!(page.out, "</section>")
}

fn matrix_section(
    page: &mut Page,
    input: &ReportInput,
    charts: &[RenderedChart],
) -> std::fmt::Result {
    if input.matrix.is_empty() {
        return Ok(());
    }
    writeln!(
        page.out,
        r#"<section id="matrix"><h2>Python version matrix</h2>"#
    )?;
    writeln!(
        page.out,
        r#"<p class="lead">The scenarios whose outcome depends on the interpreter (refcounts, GC headers, interning), under every CPython found (<code>memlab matrix</code>).</p>"#
    )?;
    for chart in charts {
        page.chart(chart)?;
    }
    let pythons = input.matrix_pythons();
    let mut header = vec!["scenario".to_string()];
    header.extend(pythons.iter().map(|p| format!("Python {p}")));
    let rows: Vec<Vec<String>> = input
        .matrix_scenarios()
        .iter()
        .map(|scenario| {
            let mut row = vec![format!("<code>{}</code>", escape(scenario))];
            for python in &pythons {
                row.push(match matrix_value(input, scenario, python) {
                    MatrixValue::Missing => "—".into(),
                    MatrixValue::Skipped => r#"<span class="badge skipped">skipped</span>"#.into(),
                    MatrixValue::NoClaim => "no claim".into(),
                    MatrixValue::Claim { value, holds } => {
                        format!("{} {}", escape(&value), badge(Verdict::from_holds(holds)))
                    }
                });
            }
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    page.table(&header, &rows)?;
    writeln!(page.out, "</section>")
}

impl HtmlExporter {
    /// Renders the page; `directory` is where it will be written (for links to the plots).
    pub fn render_in(&self, report: &Report, directory: Option<&Path>) -> anyhow::Result<String> {
        let input = report.input;
        let charts = report.charts;
        let mut page = Page {
            out: String::new(),
            directory,
        };
        writeln!(
            page.out,
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>memlab report</title>
<style>{STYLE}</style></head>
<body><main>
<header><h1>memlab report</h1>"#
        )?;
        let mut versions: Vec<&str> = input
            .scenarios
            .iter()
            .map(|f| f.result.memlab_version.as_str())
            .collect();
        versions.sort_unstable();
        versions.dedup();
        writeln!(
            page.out,
            r#"<p class="lead">Copy-on-write memory sharing between processes and the children they fork: {} scenario results, {} scan points, {} version-matrix results, rendered from result files (memlab {}). Sizes in binary units (1 MiB = 2<sup>20</sup> bytes).</p></header>"#,
            input.scenarios.len(),
            input.scans.len(),
            input.matrix.len(),
            escape(&versions.join(", "))
        )?;

        let groups = by_document(input);
        write!(page.out, "<nav><ul>")?;
        write!(page.out, r##"<li><a href="#verdicts">Verdicts</a></li>"##)?;
        write!(page.out, r##"<li><a href="#machine">Machine</a></li>"##)?;
        for (document, _) in &groups {
            let label = if document == "beyond" {
                "Beyond the documents".to_string()
            } else {
                format!("Document {document}")
            };
            write!(
                page.out,
                r##"<li><a href="#{}">{}</a></li>"##,
                anchor("document", document),
                escape(&label)
            )?;
        }
        if !input.scans.is_empty() {
            write!(page.out, r##"<li><a href="#scans">Scans</a></li>"##)?;
        }
        if !input.matrix.is_empty() {
            write!(
                page.out,
                r##"<li><a href="#matrix">Python version matrix</a></li>"##
            )?;
        }
        writeln!(page.out, "</ul></nav>")?;

        writeln!(page.out, r#"<section id="verdicts"><h2>Verdicts</h2>"#)?;
        let broken: Vec<Vec<String>> = broken_claims(input)
            .into_iter()
            .map(|(place, c)| {
                let mut id = format!("<code>{}</code>", escape(&c.id));
                if !place.is_empty() {
                    write!(id, " ({})", escape(&place)).ok();
                }
                vec![
                    id,
                    escape(&c.statement),
                    escape(&c.rule),
                    escape(&format_measured(c)),
                ]
            })
            .collect();
        if !broken.is_empty() {
            writeln!(page.out, "<h3>Broken claims</h3>")?;
            page.table(
                &["claim", "the document's statement", "rule", "measured"],
                &broken,
            )?;
        }
        if input.scenarios.is_empty() {
            writeln!(page.out, "<p>No scenario result.</p>")?;
        } else {
            verdicts_table(&mut page, input)?;
        }
        for chart in &charts.suite {
            page.chart(chart)?;
        }
        writeln!(page.out, "</section>")?;

        writeln!(page.out, r#"<section id="machine"><h2>Machine</h2>"#)?;
        let machines = machines(input);
        if machines.is_empty() {
            writeln!(page.out, "<p>No machine recorded.</p>")?;
        } else {
            let columns: Vec<Vec<(&str, String)>> = machines
                .iter()
                .map(|(m, count)| machine_rows(m, *count))
                .collect();
            let rows: Vec<Vec<String>> = (0..columns[0].len())
                .map(|r| {
                    let mut row = vec![escape(columns[0][r].0)];
                    row.extend(columns.iter().map(|c| escape(&c[r].1)));
                    row
                })
                .collect();
            let mut header = vec![String::new()];
            header.extend((1..=machines.len()).map(|i| {
                if machines.len() == 1 {
                    "machine".to_string()
                } else {
                    format!("machine {i}")
                }
            }));
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            page.table(&header, &rows)?;
            let pythons = python_versions(input);
            if !pythons.is_empty() {
                writeln!(
                    page.out,
                    "<p>Python scenarios ran under Python {}.</p>",
                    escape(&pythons.join(", "))
                )?;
            }
        }
        writeln!(page.out, "</section>")?;

        for (document, members) in &groups {
            writeln!(
                page.out,
                r#"<section class="document" id="{}">"#,
                anchor("document", document)
            )?;
            if document == "beyond" {
                writeln!(page.out, "<h2>Beyond the documents</h2>")?;
            } else {
                writeln!(page.out, "<h2>Document {}</h2>", escape(document))?;
            }
            if let Some(subject) = document_subject(document) {
                writeln!(page.out, r#"<p class="subject">{}</p>"#, escape(subject))?;
            }
            for index in members {
                let scenario_charts = charts
                    .per_scenario
                    .get(*index)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                scenario_article(&mut page, input, *index, scenario_charts)?;
            }
            writeln!(page.out, "</section>")?;
        }
        scans_section(&mut page, input, &charts.scans)?;
        matrix_section(&mut page, input, &charts.matrix)?;
        if !input.unread.is_empty() {
            writeln!(
                page.out,
                r#"<section id="unread"><h2>Files not read</h2><ul>"#
            )?;
            for (path, reason) in &input.unread {
                writeln!(
                    page.out,
                    "<li><code>{}</code>: {}</li>",
                    escape(&path.display().to_string()),
                    escape(reason)
                )?;
            }
            writeln!(page.out, "</ul></section>")?;
        }
        writeln!(page.out, "</main></body></html>")?;
        Ok(page.out)
    }
}

impl ReportExporter for HtmlExporter {
    fn render(&self, report: &Report) -> anyhow::Result<String> {
        self.render_in(report, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn links_are_relative_to_the_page() {
        assert_eq!(
            relative_path(Path::new("/w/results"), Path::new("/w/plots/a.png")),
            "../plots/a.png"
        );
        assert_eq!(
            relative_path(Path::new("/w/out"), Path::new("/w/out/plots/a.svg")),
            "plots/a.svg"
        );
    }
}
