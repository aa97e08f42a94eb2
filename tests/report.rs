//! `memlab report` and its charts, from stored results (`tests/fixtures/report/results/`: real
//! runs, with their timelines, scans and version-matrix cells, plus a result from before the
//! timeline existed and a JSON file that is not a result). Structure, not pixels: the SVGs
//! carry the expected titles, series and labels; every PNG is a well-formed image of the
//! chart's size; the Markdown report is a snapshot.

mod common;

use std::path::{Path, PathBuf};

use memlab::report::charts::child_pages::ChildPagesChart;
use memlab::report::charts::claims::ClaimsChart;
use memlab::report::charts::matrix::MatrixChart;
use memlab::report::charts::objsize_scan::ObjectSizeScanChart;
use memlab::report::charts::overcount::OvercountChart;
use memlab::report::charts::render_svg;
use memlab::report::charts::timeline::{TimelineChart, TimelineData};
use memlab::report::charts::tree_scan::TreeScanChart;
use memlab::report::input::{ReportInput, load};
use memlab::report::markdown::MarkdownExporter;
use memlab::report::{Report, ReportCharts, ReportExporter, ReportOptions, write_report};
use memlab::result::{RunStatus, ScenarioResult, Timeline};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/results")
}

fn input() -> ReportInput {
    load(&[fixtures()]).expect("the fixtures load")
}

fn scenario<'a>(input: &'a ReportInput, name: &str) -> &'a ScenarioResult {
    &input
        .scenarios
        .iter()
        .find(|f| f.result.scenario == name)
        .unwrap_or_else(|| panic!("no {name} fixture"))
        .result
}

/// The texts of an SVG's `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let start = rest.find('>')? + 1;
            let end = rest.find("</text>")?;
            Some(
                rest[start..end]
                    .trim()
                    .replace("&apos;", "'")
                    .replace("&quot;", "\"")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&amp;", "&"),
            )
        })
        .collect()
}

fn assert_has_texts(svg: &str, expected: &[&str]) {
    let texts = svg_texts(svg);
    for wanted in expected {
        assert!(
            texts.iter().any(|t| t == wanted),
            "no text '{wanted}' in the chart; texts: {texts:?}"
        );
    }
}

fn count(svg: &str, element: &str) -> usize {
    svg.matches(&format!("<{element} ")).count()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in bytes {
        crc ^= *byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Checks a PNG's structure (signature, IHDR first, every chunk's CRC, image data, IEND last)
/// and returns its width and height.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{}: not a PNG",
        path.display()
    );
    let mut at = 8;
    let mut chunks = Vec::new();
    let mut size = (0, 0);
    let mut image_data = 0;
    while at + 12 <= bytes.len() {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + length];
        let crc = u32::from_be_bytes(bytes[at + 8 + length..at + 12 + length].try_into().unwrap());
        assert_eq!(
            crc,
            crc32(&bytes[at + 4..at + 8 + length]),
            "{}: bad CRC in a {} chunk",
            path.display(),
            String::from_utf8_lossy(kind)
        );
        match kind {
            b"IHDR" => {
                size = (
                    u32::from_be_bytes(data[0..4].try_into().unwrap()),
                    u32::from_be_bytes(data[4..8].try_into().unwrap()),
                );
            }
            b"IDAT" => image_data += length,
            _ => {}
        }
        chunks.push(String::from_utf8_lossy(kind).to_string());
        at += 12 + length;
    }
    assert_eq!(at, bytes.len(), "{}: trailing bytes", path.display());
    assert_eq!(chunks.first().map(String::as_str), Some("IHDR"));
    assert_eq!(chunks.last().map(String::as_str), Some("IEND"));
    assert!(image_data > 1000, "{}: no image data", path.display());
    size
}

#[test]
fn the_fixture_directory_loads_as_scenarios_scans_and_matrix() {
    let input = input();
    let names: Vec<&str> = input
        .scenarios
        .iter()
        .map(|f| f.result.scenario.as_str())
        .collect();
    // In `memlab list` order, whatever the file order.
    assert_eq!(
        names,
        [
            "array-read",
            "refcount-list",
            "thp",
            "py-pool-self",
            "py-pool-global",
            "py-numpy-sum",
            "py-list-sum",
            "py-shared-numpy",
            "py-ray-put"
        ]
    );
    assert_eq!(input.scans.len(), 10);
    assert_eq!(input.scan_keys(), ["object-size", "children"]);
    let objsize: Vec<f64> = input.scan_series("object-size")[0]
        .1
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(objsize, [16.0, 4096.0, 65536.0, 1048576.0]);
    let children = input.scan_series("children");
    assert_eq!(children.len(), 2);
    assert_eq!(children[0].0, "array-read");
    assert_eq!(input.matrix_pythons(), ["3.11.7", "3.12.1"]);
    assert_eq!(
        input.matrix_scenarios(),
        ["py-list-sum", "py-interned-strings"]
    );
    assert_eq!(input.unread.len(), 1);
    assert!(input.unread[0].0.ends_with("notes.json"));
    assert!(input.unread[0].1.contains("no schema_version"));
}

#[test]
fn a_file_named_twice_is_read_once_and_two_runs_of_a_scenario_both_show() {
    let input = load(&[fixtures(), fixtures().join("array-read.json")]).unwrap();
    assert_eq!(input.scenarios.len(), 9);

    let other = tempfile::tempdir().unwrap();
    let again = other.path().join("again");
    std::fs::create_dir(&again).unwrap();
    std::fs::copy(
        fixtures().join("array-read.json"),
        again.join("array-read.json"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let outcome = write_report(&ReportOptions {
        results: vec![fixtures(), again.join("array-read.json")],
        out: out.path().to_path_buf(),
        plots: out.path().join("plots"),
    })
    .unwrap();
    assert!(out.path().join("plots/timeline-array-read.svg").is_file());
    assert!(out.path().join("plots/timeline-array-read-2.png").is_file());
    let html = std::fs::read_to_string(&outcome.html).unwrap();
    assert!(html.contains("array-read (results/array-read.json)"));
    assert!(html.contains("array-read (again/array-read.json)"));
}

#[test]
fn the_timeline_chart_shows_each_process_measure_and_event() {
    let input = input();
    let result = scenario(&input, "refcount-list");
    let data = TimelineData::from_result(result);
    assert!(data.sampled);
    let labels: Vec<&str> = data.lines.iter().map(|l| l.label.as_str()).collect();
    assert_eq!(
        labels,
        ["parent", "child 1", "child 2", "child 3", "child 4"]
    );
    assert_eq!(data.operations.len(), 1);
    // The children's USS climbs during the operation: it ends well above where it started.
    for child in &data.lines[1..] {
        let (first, last) = (child.uss.first().unwrap().1, child.uss.last().unwrap().1);
        assert!(
            last > first + 5.0,
            "{}: USS {first} → {last} MiB",
            child.label
        );
    }
    let svg = render_svg(&TimelineChart { result }).unwrap();
    assert_has_texts(
        &svg,
        &[
            "refcount-list: RSS, PSS and USS of each process over time",
            "RSS (MiB)",
            "PSS (MiB)",
            "USS (MiB)",
            "time since the workload started (s)",
            "parent",
            "child 1",
            "child 4",
            "baseline",
            "allocated",
            "operated",
            "event / phase",
            "operation",
        ],
    );
    // Three measures of five processes.
    assert!(
        count(&svg, "polyline") >= 15,
        "{} lines",
        count(&svg, "polyline")
    );

    // A flat USS for array-read: its children copy nothing.
    let data = TimelineData::from_result(scenario(&input, "array-read"));
    for child in &data.lines[1..] {
        let highest = child.uss.iter().map(|p| p.1).fold(0.0, f64::max);
        assert!(highest < 1.0, "{}: USS up to {highest} MiB", child.label);
    }
}

#[test]
fn charts_degrade_to_a_note_when_their_data_is_missing() {
    let input = input();
    // A result from before the timeline: the phases' snapshots, said so.
    let thp = scenario(&input, "thp");
    assert_eq!(thp.timeline, Timeline::default());
    let svg = render_svg(&TimelineChart { result: thp }).unwrap();
    assert!(
        svg_texts(&svg)
            .iter()
            .any(|t| t.contains("no timeline recorded")),
        "{:?}",
        svg_texts(&svg)
    );
    // Estimated figures: no stacked bars, a note.
    let svg = render_svg(&ChildPagesChart { result: thp }).unwrap();
    assert_has_texts(
        &svg,
        &["no page truth recorded: the per-child figures are Private_Dirty estimates"],
    );
    // A result recorded before the sampler existed: an empty timeline, the same note.
    let ray = scenario(&input, "py-ray-put");
    assert!(ray.timeline.samples.is_empty());
    assert!(
        svg_texts(&render_svg(&TimelineChart { result: ray }).unwrap())
            .iter()
            .any(|t| t.contains("no timeline recorded"))
    );
    // Skipped: a note, no panic.
    let skipped = scenario(&input, "py-pool-global");
    assert_eq!(skipped.status, RunStatus::Skipped);
    for svg in [
        render_svg(&TimelineChart { result: skipped }).unwrap(),
        render_svg(&ChildPagesChart { result: skipped }).unwrap(),
    ] {
        assert!(svg_texts(&svg).iter().any(|t| t.contains("skipped")));
    }
    // Nothing at all: no phases, no timeline.
    let mut bare = scenario(&input, "array-read").clone();
    bare.phases.clear();
    bare.timeline = Timeline::default();
    assert_has_texts(
        &render_svg(&TimelineChart { result: &bare }).unwrap(),
        &["no timeline recorded, and no process was measured"],
    );
    assert_has_texts(
        &render_svg(&ChildPagesChart { result: &bare }).unwrap(),
        &["no page truth recorded for any child"],
    );
    // Suite charts over no results, scans without points, a matrix without cells.
    let empty = ReportInput::default();
    assert!(
        svg_texts(&render_svg(&ClaimsChart { results: &[] }).unwrap())
            .iter()
            .any(|t| t.starts_with("no completed scenario"))
    );
    assert!(
        svg_texts(&render_svg(&OvercountChart { results: &[] }).unwrap())
            .iter()
            .any(|t| t.starts_with("no completed scenario"))
    );
    assert!(
        svg_texts(&render_svg(&MatrixChart { input: &empty }).unwrap())
            .iter()
            .any(|t| t.starts_with("no version-matrix results"))
    );
    let no_points = ObjectSizeScanChart {
        scenario: "refcount-objsize".into(),
        points: Vec::new(),
    };
    assert_has_texts(
        &render_svg(&no_points).unwrap(),
        &["no completed scan point to show"],
    );
    let no_series = TreeScanChart {
        key: "children".into(),
        series: Vec::new(),
    };
    assert_has_texts(
        &render_svg(&no_series).unwrap(),
        &["no completed scan point to show"],
    );
}

#[test]
fn the_children_chart_stacks_shared_copied_and_child_only() {
    let input = input();
    let svg = render_svg(&ChildPagesChart {
        result: scenario(&input, "refcount-list"),
    })
    .unwrap();
    assert_has_texts(
        &svg,
        &[
            "refcount-list: each child's pages at 'operated' (shared / copied / child-only)",
            "MiB",
            "child",
            "child 1",
            "child 4",
            "shared",
            "copied",
            "child-only",
            "data size",
        ],
    );
    // Shared and copied segments for 4 children, plus the legend's 4 swatches.
    assert!(count(&svg, "rect") >= 8 + 3);
    // The pool that pickles self: each worker's own copy is child-only memory.
    let svg = render_svg(&ChildPagesChart {
        result: scenario(&input, "py-pool-self"),
    })
    .unwrap();
    assert!(
        svg_texts(&svg)
            .iter()
            .any(|t| t.starts_with("child-only 3") && t.ends_with(" MiB")),
        "{:?}",
        svg_texts(&svg)
    );
}

#[test]
fn the_suite_charts_show_every_fraction_claim_and_tree_total() {
    let input = input();
    let svg = render_svg(&ClaimsChart {
        results: &input.scenarios,
    })
    .unwrap();
    let mut expected = vec![
        "Claims at a glance: measured share against each claim's threshold",
        "measured (% of the data or region)",
        "holds",
        "threshold",
    ];
    let ids: Vec<String> = input
        .scenarios
        .iter()
        .filter(|f| f.result.status == RunStatus::Completed)
        .flat_map(|f| &f.result.claims)
        .filter(|c| c.unit == memlab::result::ClaimUnit::Fraction && !c.rule.is_empty())
        .map(|c| c.id.clone())
        .collect();
    assert!(ids.len() >= 8, "{ids:?}");
    expected.extend(ids.iter().map(String::as_str));
    assert_has_texts(&svg, &expected);

    let svg = render_svg(&OvercountChart {
        results: &input.scenarios,
    })
    .unwrap();
    let mut expected = vec![
        "What naive tools over-count: ΣRSS vs ΣPSS vs tree-unique memory",
        "ΣRSS (naive)",
        "ΣPSS",
        "tree-unique",
        "MiB",
    ];
    let completed: Vec<&str> = input
        .scenarios
        .iter()
        .filter(|f| f.result.status == RunStatus::Completed)
        .map(|f| f.result.scenario.as_str())
        .collect();
    expected.extend(&completed);
    assert_has_texts(&svg, &expected);
    // The over-count factor of array-read, as its file says.
    let factor = scenario(&input, "array-read")
        .summary
        .overcount_factor
        .unwrap();
    let label = format!("×{factor:.2}");
    assert!(
        svg_texts(&svg).iter().any(|t| t.starts_with(&label)),
        "no {label}"
    );
}

#[test]
fn the_scan_and_matrix_charts_show_their_points() {
    let input = input();
    let (scenario_name, points) = input.scan_series("object-size").remove(0);
    let chart = ObjectSizeScanChart {
        scenario: scenario_name,
        points,
    };
    let data = chart.data();
    assert_eq!(data.len(), 4);
    assert!(data.iter().all(|p| p.by_region));
    // One header page per object: 16 B objects copy all, 1 MiB objects about one page in 256.
    assert!(data[0].measured > 0.95, "{:?}", data[0]);
    assert!(data[3].measured < 0.01, "{:?}", data[3]);
    let svg = render_svg(&chart).unwrap();
    assert_has_texts(
        &svg,
        &[
            "refcount-objsize: share of the objects copied as the objects grow",
            "object size (log scale)",
            "copied (% of the objects)",
            "16 B",
            "4 KiB",
            "64 KiB",
            "1 MiB",
            "measured",
            "one page per object",
        ],
    );

    let chart = TreeScanChart {
        key: "children".into(),
        series: input.scan_series("children"),
    };
    let lines = chart.lines();
    // Shared: the tree stays near one copy; copying: it grows with every child.
    let flat = &lines[0];
    let growing = &lines[1];
    assert_eq!(
        (flat.scenario.as_str(), growing.scenario.as_str()),
        ("array-read", "refcount-list")
    );
    let ratio = |line: &memlab::report::charts::tree_scan::TreeLine| {
        line.tree.last().unwrap().1 / line.tree.first().unwrap().1
    };
    assert!(ratio(flat) < 1.2, "array-read grows ×{}", ratio(flat));
    assert!(
        ratio(growing) > 1.8,
        "refcount-list grows ×{}",
        ratio(growing)
    );
    let svg = render_svg(&chart).unwrap();
    assert_has_texts(
        &svg,
        &[
            "Tree memory as the number of children grows",
            "children forked",
            "tree memory (MiB)",
            "1",
            "2",
            "4",
            "array-read: tree-unique",
            "array-read: ΣRSS",
            "refcount-list: tree-unique",
            "refcount-list: ΣRSS",
        ],
    );

    let svg = render_svg(&MatrixChart { input: &input }).unwrap();
    assert_has_texts(
        &svg,
        &[
            "Python version matrix: each scenario's first claim per interpreter",
            "Python 3.11.7",
            "Python 3.12.1",
            "py-list-sum",
            "py-interned-strings",
        ],
    );
    // Every cell carries a value and a verdict.
    let cells = svg_texts(&svg)
        .into_iter()
        .filter(|t| t.ends_with(" holds") || t.ends_with(" BROKEN") || t.ends_with(" n/a"))
        .count();
    assert_eq!(cells, 4);
}

#[test]
fn every_chart_is_written_as_svg_and_as_a_valid_png_of_its_size() {
    let input = input();
    let plots = tempfile::tempdir().unwrap();
    let charts = memlab::report::render_charts(&input, plots.path()).unwrap();
    let stems: Vec<&str> = charts.all().map(|c| c.stem.as_str()).collect();
    for expected in [
        "timeline-refcount-list",
        "children-refcount-list",
        "timeline-thp",
        "suite-claims",
        "suite-overcount",
        "suite-python-types",
        "scan-object-size-refcount-objsize",
        "scan-children",
        "python-matrix",
    ] {
        assert!(stems.contains(&expected), "no chart {expected}: {stems:?}");
    }
    // Skipped scenarios get no chart.
    assert!(!stems.iter().any(|s| s.ends_with("py-pool-global")));
    // Eight completed scenarios × 2, three suite charts (claims, over-count, Python types:
    // two fixtures hold a census), two scans, the matrix.
    assert_eq!(stems.len(), 8 * 2 + 3 + 2 + 1);
    for chart in charts.all() {
        let svg = std::fs::read_to_string(&chart.svg_path).unwrap();
        assert_eq!(svg, chart.svg);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let (width, height) = png_size(&chart.png_path);
        assert!(
            svg.contains(&format!(r#"width="{width}" height="{height}""#)),
            "{}: PNG {width}x{height} and SVG differ",
            chart.stem
        );
    }
    // Nothing else left in the directory (no temporary files).
    let files = std::fs::read_dir(plots.path()).unwrap().count();
    assert_eq!(files, stems.len() * 2);
}

#[test]
fn the_markdown_report_of_the_fixture_results() {
    let input = input();
    let markdown = MarkdownExporter
        .render(&Report {
            input: &input,
            charts: &ReportCharts::default(),
        })
        .unwrap();
    insta::assert_snapshot!(markdown);
}

#[test]
fn the_html_report_is_one_self_contained_page_with_every_chart_and_table() {
    let out = tempfile::tempdir().unwrap();
    let outcome = write_report(&ReportOptions {
        results: vec![fixtures()],
        out: out.path().to_path_buf(),
        plots: out.path().join("plots"),
    })
    .unwrap();
    let html = std::fs::read_to_string(&outcome.html).unwrap();
    let markdown = std::fs::read_to_string(&outcome.markdown).unwrap();
    assert!(markdown.starts_with("# memlab report"));
    // Self-contained: no script, no stylesheet or image fetched, no address but SVG's namespace.
    for forbidden in ["<script", "<link", "<img", "<iframe", "@import", "url("] {
        assert!(!html.contains(forbidden), "the page has {forbidden}");
    }
    let addresses = html.matches("http://").count() + html.matches("https://").count();
    assert_eq!(
        addresses,
        html.matches(r#"xmlns="http://www.w3.org/2000/svg""#)
            .count()
    );
    // Every chart inline, once.
    assert_eq!(html.matches("<svg ").count(), outcome.charts);
    assert_eq!(outcome.charts, 22);
    // Machine, every scenario and claim, the skip reason, the documents' numbers.
    let input = input();
    for needle in [
        "<h2>Machine</h2>",
        "AMD EPYC",
        "Document 001",
        "Beyond the documents",
        "Python version matrix",
        "Files not read",
        "notes.json",
        "25.1 GB → 23.3 GB (−1.8 GB)",
        "ray.put(x)",
        "pickle.loads / ray.get",
        "pickled with each task (self, i)",
        "parallel speedup (sequential / parallel time)",
        r#"<span class="badge broken">BROKEN</span>"#,
    ] {
        assert!(html.contains(needle), "the page lacks {needle}");
    }
    for file in &input.scenarios {
        assert!(html.contains(&format!(r#"id="scenario-{}""#, file.result.scenario)));
        for claim in &file.result.claims {
            assert!(html.contains(&claim.id), "no claim {}", claim.id);
        }
    }
    let skipped = scenario(&input, "py-pool-global");
    let skip = skipped.skip.as_ref().unwrap();
    assert!(html.contains(&memlab::report::html::escape(&skip.reason)));
    assert!(html.contains(&memlab::report::html::escape(
        skip.install.as_deref().unwrap()
    )));
    // The links to the plot files are relative to the page.
    assert!(html.contains(r#"href="plots/timeline-refcount-list.png""#));
}

#[test]
fn memlab_report_writes_the_report_and_refuses_bad_input_with_one_line() {
    let out = tempfile::tempdir().unwrap();
    let output = common::memlab()
        .arg("report")
        .arg(fixtures())
        .arg("--out")
        .arg(out.path())
        .arg("--plots")
        .arg(out.path().join("plots"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("report.html"), "{stdout}");
    assert!(out.path().join("report.html").is_file());
    assert!(out.path().join("report.md").is_file());
    assert!(out.path().join("plots/suite-claims.png").is_file());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("notes.json"), "{stderr}");

    for (args, message) in [
        (vec!["report", "/nonexistent/results"], "does not exist"),
        (
            vec!["report", out.path().join("plots").to_str().unwrap()],
            "no memlab result files",
        ),
    ] {
        let output = common::memlab()
            .args(&args)
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn the_python_types_chart_and_the_reports_show_what_the_census_found() {
    let input = input();
    let bars = memlab::report::charts::python_types::type_bars(&input.scenarios);
    // The two fixtures with a census (py-list-sum, py-pool-self); the others have none.
    let labels: Vec<&str> = bars.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    let list_sum = bars
        .iter()
        .find(|b| b.label.starts_with("py-list-sum"))
        .unwrap();
    // The summed list's ints are the largest segment, with the bytes the census counted.
    assert_eq!(list_sum.segments[0], ("int".to_string(), 26_863_104));
    let svg = render_svg(&memlab::report::charts::python_types::PythonTypesChart {
        results: &input.scenarios,
    })
    .unwrap();
    assert_has_texts(&svg, &["int", "<not pymalloc>"]);
    // The same figures in the Markdown report, beside the claims.
    let markdown = MarkdownExporter
        .render(&Report {
            input: &input,
            charts: &ReportCharts::default(),
        })
        .unwrap();
    assert!(
        markdown.contains("copied by Python type (child 1, CPython 3.11.7)"),
        "no census heading"
    );
    assert!(
        markdown.contains("| int | 839470 | 25.6 MiB | 6585 |"),
        "no int row"
    );
}
