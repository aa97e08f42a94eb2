//! `report.html`: one self-contained page (inline CSS, charts as inline SVG, no script, no
//! network): the verdicts, the machine, each document's scenarios with their claim tables, the
//! documents' numbers beside memlab's and the charts, then the scans and the version matrix.

use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

use super::charts::RenderedChart;
use super::documents::{comparison, document_subject};
use super::input::ReportInput;
use super::tables::{
    anchor, broken_claims_table, claims_table, comparison_table, facts_table, machine_table,
    matrix_table, scan_table, scenario_anchor, verdicts_table,
};
use super::{Report, ReportExporter, by_document, python_versions, scenario_heading};
use crate::render::census::census_view;
pub use crate::render::table::escape;
use crate::render::table::{Table, html as html_table};
use crate::render::text::{figures_word, params_line};
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

    fn table(&mut self, table: &Table) -> std::fmt::Result {
        self.out.push_str(&html_table(table));
        Ok(())
    }
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
    page.table(&facts_table(result))?;
    writeln!(page.out, "</details>")
}

/// What the shown child copied, by Python type, with the hints (when a census was taken).
fn census_section(page: &mut Page, result: &ScenarioResult) -> std::fmt::Result {
    let Some(view) = census_view(result) else {
        return Ok(());
    };
    if let Some(line) = view.note_line() {
        return writeln!(page.out, r#"<p class="census">{}</p>"#, escape(&line));
    }
    if let Some(copied) = &view.copied {
        writeln!(
            page.out,
            r#"<p class="census">{}</p>"#,
            escape(&view.copied_heading())
        )?;
        page.table(copied)?;
    }
    if let Some(child_only) = &view.child_only {
        writeln!(
            page.out,
            r#"<p class="census">{}</p>"#,
            escape(&view.child_only_heading())
        )?;
        page.table(child_only)?;
    }
    if !view.hints.is_empty() {
        writeln!(page.out, r#"<ul class="hints">"#)?;
        for hint in &view.hints {
            writeln!(page.out, "<li>hint: {}</li>", escape(hint))?;
        }
        writeln!(page.out, "</ul>")?;
    }
    Ok(())
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
        scenario_anchor(&heading)
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
        page.table(&claims_table(result))?;
    }
    census_section(page, result)?;
    if let Some(comparison) = comparison(result) {
        writeln!(
            page.out,
            "<p>The document's numbers beside memlab's: {}</p>",
            escape(&comparison.caption)
        )?;
        page.table(&comparison_table(&comparison))?;
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
            page.table(&scan_table(&key, &points))?;
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
    page.table(&matrix_table(input))?;
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
        let broken = broken_claims_table(input);
        if !broken.is_empty() {
            writeln!(page.out, "<h3>Broken claims</h3>")?;
            page.table(&broken)?;
        }
        if input.scenarios.is_empty() {
            writeln!(page.out, "<p>No scenario result.</p>")?;
        } else {
            page.table(&verdicts_table(input))?;
        }
        for chart in &charts.suite {
            page.chart(chart)?;
        }
        writeln!(page.out, "</section>")?;

        writeln!(page.out, r#"<section id="machine"><h2>Machine</h2>"#)?;
        match machine_table(input) {
            None => writeln!(page.out, "<p>No machine recorded.</p>")?,
            Some(machines) => {
                page.table(&machines)?;
                let pythons = python_versions(input);
                if !pythons.is_empty() {
                    writeln!(
                        page.out,
                        "<p>Python scenarios ran under Python {}.</p>",
                        escape(&pythons.join(", "))
                    )?;
                }
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
