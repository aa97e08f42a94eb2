//! `memlab report`: the whole suite as one self-contained HTML page and one GitHub-flavoured
//! Markdown summary, with charts (SVG and PNG), rendered from result files only — never from a
//! run in memory, so any set of stored results can be re-rendered.
//!
//! - [`input`] finds and reads the result files (scenarios, `scans/`, `matrix/`);
//! - [`charts`] draws them, one file per chart kind, each to SVG and PNG;
//! - [`html`] and [`markdown`] are the two [`ReportExporter`]s;
//! - [`documents`] puts the seed documents' own numbers beside memlab's.

pub mod charts;
pub mod documents;
pub mod html;
pub mod input;
pub mod markdown;
pub mod tables;

use std::path::{Path, PathBuf};

use charts::{Chart, RenderedChart};
use input::ReportInput;

use crate::kernel::machine::Machine;
use crate::output::write_atomically;
use crate::result::{Claim, ClaimUnit, RunStatus, ScenarioResult};
use crate::units::format_bytes;

/// A report rendered for a reader: HTML or Markdown.
pub trait ReportExporter {
    fn render(&self, report: &Report) -> anyhow::Result<String>;
}

/// What the exporters render: the results, and the charts drawn from them (when drawn).
pub struct Report<'a> {
    pub input: &'a ReportInput,
    pub charts: &'a ReportCharts,
}

/// The charts of a report, by where they appear.
#[derive(Debug, Clone, Default)]
pub struct ReportCharts {
    /// Per scenario result (same order as `ReportInput::scenarios`): timeline, children.
    pub per_scenario: Vec<Vec<RenderedChart>>,
    /// Claims at a glance, over-count.
    pub suite: Vec<RenderedChart>,
    /// Object-size scan, children scan, other scans.
    pub scans: Vec<RenderedChart>,
    pub matrix: Vec<RenderedChart>,
}

impl ReportCharts {
    pub fn all(&self) -> impl Iterator<Item = &RenderedChart> {
        self.per_scenario
            .iter()
            .flatten()
            .chain(&self.suite)
            .chain(&self.scans)
            .chain(&self.matrix)
    }
}

/// Draws every chart of `input` into `plots` (SVG and PNG each).
pub fn render_charts(input: &ReportInput, plots: &Path) -> anyhow::Result<ReportCharts> {
    use charts::{
        child_pages::ChildPagesChart, claims::ClaimsChart, matrix::MatrixChart,
        objsize_scan::ObjectSizeScanChart, overcount::OvercountChart, python_types,
        python_types::PythonTypesChart, render, timeline::TimelineChart, tree_scan::TreeScanChart,
    };
    let mut rendered = ReportCharts::default();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for file in &input.scenarios {
        let result = &file.result;
        if result.status == RunStatus::Skipped {
            rendered.per_scenario.push(Vec::new());
            continue;
        }
        // A second result of the same scenario gets its own files: `timeline-NAME-2`.
        let occurrence = seen.entry(result.scenario.clone()).or_insert(0);
        *occurrence += 1;
        let suffix = match *occurrence {
            1 => String::new(),
            n => format!("-{n}"),
        };
        let timeline = TimelineChart { result };
        let children = ChildPagesChart { result };
        rendered.per_scenario.push(vec![
            render(
                &charts::Renamed {
                    stem: timeline.file_stem() + &suffix,
                    chart: &timeline,
                },
                plots,
            )?,
            render(
                &charts::Renamed {
                    stem: children.file_stem() + &suffix,
                    chart: &children,
                },
                plots,
            )?,
        ]);
    }
    if !input.scenarios.is_empty() {
        rendered.suite.push(render(
            &ClaimsChart {
                results: &input.scenarios,
            },
            plots,
        )?);
        rendered.suite.push(render(
            &OvercountChart {
                results: &input.scenarios,
            },
            plots,
        )?);
        // What the children copied, by Python type: only when some result holds a census.
        if !python_types::type_bars(&input.scenarios).is_empty() {
            rendered.suite.push(render(
                &PythonTypesChart {
                    results: &input.scenarios,
                },
                plots,
            )?);
        }
    }
    for key in input.scan_keys() {
        let series = input.scan_series(&key);
        if key == "object-size" {
            for (scenario, points) in series {
                rendered
                    .scans
                    .push(render(&ObjectSizeScanChart { scenario, points }, plots)?);
            }
        } else {
            rendered
                .scans
                .push(render(&TreeScanChart { key, series }, plots)?);
        }
    }
    if !input.matrix.is_empty() {
        rendered.matrix.push(render(&MatrixChart { input }, plots)?);
    }
    Ok(rendered)
}

/// Where `memlab report` reads and writes.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Result files or directories (default `results/`).
    pub results: Vec<PathBuf>,
    /// Directory for `report.html` and `report.md`.
    pub out: PathBuf,
    /// Directory for the charts' SVG and PNG files.
    pub plots: PathBuf,
}

/// What `memlab report` wrote.
#[derive(Debug, Clone)]
pub struct ReportOutcome {
    pub html: PathBuf,
    pub markdown: PathBuf,
    pub charts: usize,
    pub results: usize,
    pub unread: Vec<(PathBuf, String)>,
}

pub fn write_report(options: &ReportOptions) -> anyhow::Result<ReportOutcome> {
    let input = input::load(&options.results)?;
    if input.is_empty() && !input.unread.is_empty() {
        let unread: Vec<String> = input
            .unread
            .iter()
            .map(|(path, reason)| format!("{}: {reason}", path.display()))
            .collect();
        return Err(crate::error::MemlabError::BadResult(format!(
            "no result memlab can read: {}",
            unread.join("; ")
        ))
        .into());
    }
    if input.is_empty() {
        let places: Vec<String> = options
            .results
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(crate::error::MemlabError::Usage(format!(
            "no memlab result files in {} (run `memlab scenario NAME` or `make run-all` first)",
            places.join(", ")
        ))
        .into());
    }
    let charts = render_charts(&input, &options.plots)?;
    let report = Report {
        input: &input,
        charts: &charts,
    };
    let html_path = options.out.join("report.html");
    let markdown_path = options.out.join("report.md");
    write_atomically(
        &html_path,
        &html::HtmlExporter.render_in(&report, Some(&options.out))?,
    )?;
    write_atomically(&markdown_path, &markdown::MarkdownExporter.render(&report)?)?;
    Ok(ReportOutcome {
        html: html_path,
        markdown: markdown_path,
        charts: charts.all().count(),
        results: input.scenarios.len() + input.scans.len() + input.matrix.len(),
        unread: input.unread.clone(),
    })
}

/// The distinct machines the results were measured on (the Python version aside), each with
/// how many result files come from it.
pub fn machines(input: &ReportInput) -> Vec<(&Machine, usize)> {
    let mut machines: Vec<(&Machine, usize)> = Vec::new();
    let files = input
        .scenarios
        .iter()
        .chain(input.scans.iter().map(|p| &p.file))
        .chain(input.matrix.iter().map(|c| &c.file));
    for file in files {
        let machine = &file.result.machine;
        let same = |(other, _): &&mut (&Machine, usize)| {
            other.hostname == machine.hostname
                && other.kernel == machine.kernel
                && other.cpu == machine.cpu
                && other.cores == machine.cores
                && other.ram_bytes == machine.ram_bytes
                && other.page_size_bytes == machine.page_size_bytes
                && other.thp_enabled == machine.thp_enabled
                && other.ksm_run == machine.ksm_run
                && other.pfn_visible == machine.pfn_visible
        };
        match machines.iter_mut().find(same) {
            Some((_, count)) => *count += 1,
            None => machines.push((machine, 1)),
        }
    }
    machines
}

/// A machine as (field, value) rows, with how many result files it measured.
pub fn machine_rows(machine: &Machine, results: usize) -> Vec<(&'static str, String)> {
    let optional = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
    vec![
        ("result files", results.to_string()),
        ("host", optional(&machine.hostname)),
        ("OS", optional(&machine.os)),
        ("kernel", machine.kernel.clone()),
        ("CPU", format!("{} ({} cores)", machine.cpu, machine.cores)),
        ("RAM", format_bytes(machine.ram_bytes)),
        ("swap", format_bytes(machine.swap_bytes)),
        ("page size", format_bytes(machine.page_size_bytes)),
        (
            "transparent huge pages",
            format!(
                "enabled {}, defrag {}",
                optional(&machine.thp_enabled),
                optional(&machine.thp_defrag)
            ),
        ),
        (
            "KSM",
            match machine.ksm_run {
                Some(0) => "stopped".into(),
                Some(1) => "running".into(),
                Some(2) => "unmerging".into(),
                Some(other) => other.to_string(),
                None => "unknown".into(),
            },
        ),
        (
            "page truth",
            if machine.pfn_visible {
                "exact (physical frame numbers readable)".into()
            } else {
                "approximate (no CAP_SYS_ADMIN: pagemap exclusive bit)".into()
            },
        ),
    ]
}

/// The Python versions the Python scenarios ran under.
pub fn python_versions(input: &ReportInput) -> Vec<String> {
    let mut versions: Vec<String> = input
        .scenarios
        .iter()
        .filter_map(|f| f.result.machine.python_version.clone())
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// The scenario results grouped by source document, in the documents' order.
pub fn by_document(input: &ReportInput) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = documents::DOCUMENTS
        .iter()
        .map(|(number, _)| (number.to_string(), Vec::new()))
        .collect();
    for (index, file) in input.scenarios.iter().enumerate() {
        let document = &file.result.source_document;
        match groups.iter_mut().find(|(number, _)| number == document) {
            Some((_, members)) => members.push(index),
            None => groups.push((document.clone(), vec![index])),
        }
    }
    groups.retain(|(_, members)| !members.is_empty());
    groups
}

/// Each scenario result's heading: its name, and the file when two results share a name.
pub fn scenario_heading(input: &ReportInput, index: usize) -> String {
    let file = &input.scenarios[index];
    let name = &file.result.scenario;
    let duplicates = input
        .scenarios
        .iter()
        .filter(|f| &f.result.scenario == name)
        .count();
    if duplicates > 1 {
        // The file's directory and name tell the results apart.
        let parts: Vec<String> = file
            .path
            .iter()
            .rev()
            .take(2)
            .map(|p| p.to_string_lossy().to_string())
            .collect();
        let shown: Vec<&str> = parts.iter().rev().map(String::as_str).collect();
        format!("{name} ({})", shown.join("/"))
    } else {
        name.clone()
    }
}

/// A scan point's value as its key reads: bytes for sizes, a plain number otherwise.
pub fn scan_value_label(key: &str, value: f64) -> String {
    match key {
        "size" | "object-size" => format_bytes(value.max(0.0) as u64),
        "fraction" => format!("{}%", charts::axis_number(value * 100.0, 2)),
        _ => charts::axis_number(value, 3),
    }
}

/// Every broken claim of the report (scenarios, scan points, matrix cells), with where it
/// comes from when that is not its scenario's own result.
pub fn broken_claims(input: &ReportInput) -> Vec<(String, &Claim)> {
    fn broken(result: &ScenarioResult) -> Vec<&Claim> {
        result
            .claims
            .iter()
            .filter(|c| c.verdict.is_broken())
            .collect()
    }
    let mut all = Vec::new();
    for file in &input.scenarios {
        all.extend(broken(&file.result).into_iter().map(|c| (String::new(), c)));
    }
    for point in &input.scans {
        let place = format!(
            "scan point {} = {}",
            point.key,
            scan_value_label(&point.key, point.value)
        );
        all.extend(
            broken(&point.file.result)
                .into_iter()
                .map(|c| (place.clone(), c)),
        );
    }
    for cell in &input.matrix {
        let place = format!("Python {}", cell.python);
        all.extend(
            broken(&cell.file.result)
                .into_iter()
                .map(|c| (place.clone(), c)),
        );
    }
    all
}

/// The first fraction claim's verdict and value for the overview, or the first claim's.
pub fn headline_claim(result: &ScenarioResult) -> Option<&Claim> {
    result
        .claims
        .iter()
        .find(|c| c.unit == ClaimUnit::Fraction && !c.rule.is_empty())
        .or_else(|| result.claims.first())
}
