//! Regression checks end to end, on real runs: `memlab suite`, `memlab baseline save`,
//! `memlab compare` and `memlab scan`, their files and their exit codes.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{read_json, run_memlab, venv_python, write_json, write_suite};
use serde_json::Value;

fn os(text: &str) -> &OsStr {
    OsStr::new(text)
}

/// A small suite: page truth (array-write), a refcount scenario twice (two file names), and a
/// Python one.
const SUITE: &str = r#"{
  "defaults": { "size": "16MiB", "children": 2 },
  "scenarios": [
    { "scenario": "array-write", "fraction": 0.25 },
    { "scenario": "refcount-list", "size": "8MiB" },
    { "scenario": "refcount-list", "size": "8MiB", "op": "read" },
    { "scenario": "py-list-sum", "size": "8MiB" }
  ]
}"#;

fn run_suite(suite: &Path, out: &Path) -> (i32, String, String) {
    let python = venv_python();
    run_memlab(&[
        os("suite"),
        os("--suite"),
        suite.as_os_str(),
        os("--check"),
        os("--python"),
        os(&python),
        os("--out"),
        out.as_os_str(),
    ])
}

fn compare(baseline: &Path, current: &Path, markdown: &Path) -> (i32, String, String) {
    run_memlab(&[
        os("compare"),
        baseline.as_os_str(),
        current.as_os_str(),
        os("--markdown"),
        markdown.as_os_str(),
    ])
}

/// The first row of the first table of a Markdown report.
fn first_row(markdown: &str) -> &str {
    markdown
        .lines()
        .find(|l| l.starts_with("| `"))
        .expect("a table row")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn two_real_runs_compare_clean_and_edited_results_regress() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = write_suite(tmp.path(), SUITE);
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));

    // Two real runs of the same suite; every claim holds in both.
    for out in [&first, &second] {
        let (code, stdout, stderr) = run_suite(&suite, out);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert!(stdout.contains("check: every claim holds"), "{stdout}");
        // Without a terminal, progress is one plain line per scenario.
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with('[')).count(),
            4,
            "{stderr}"
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(&first)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "array-write.json",
            "py-list-sum.json",
            "refcount-list--size-8MiB--op-read.json",
            "refcount-list--size-8MiB.json",
        ]
    );
    let read = read_json(&first.join("refcount-list--size-8MiB--op-read.json"));
    assert_eq!(read["params"]["op"], "read");
    assert_eq!(read["params"]["size_bytes"], 8 << 20);

    // The first run becomes the baseline; the second compares as no regression.
    let baseline = tmp.path().join("baseline");
    let (code, stdout, stderr) = run_memlab(&[
        os("baseline"),
        os("save"),
        baseline.as_os_str(),
        first.as_os_str(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("saved 4 results"), "{stdout}");
    let markdown = tmp.path().join("summary.md");
    let (code, stdout, stderr) = compare(&baseline, &second, &markdown);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("0 regressions"), "{stdout}");
    assert!(stdout.contains("4 results compared"), "{stdout}");
    let text = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        text.starts_with("## memlab compare: no regression"),
        "{text}"
    );

    // Copied bytes up 10% in one result: a regression, named first.
    let raised = tmp.path().join("raised");
    copy_dir(&second, &raised);
    let path = raised.join("array-write.json");
    let mut result = read_json(&path);
    let data = result["data_bytes"].as_f64().unwrap();
    let mut summaries = vec![result["summary"].clone()];
    summaries.extend(result["runs"].as_array().unwrap().iter().cloned());
    for summary in summaries.iter_mut() {
        let copied: Vec<u64> = summary["copied_bytes_per_child"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() * 11 / 10)
            .collect();
        summary["copied_fraction"] = Value::from(copied[0] as f64 / data);
        summary["copied_bytes_per_child"] = Value::from(copied);
    }
    result["summary"] = summaries.remove(0);
    result["runs"] = Value::from(summaries);
    write_json(&path, &result);
    let (code, stdout, _) = compare(&baseline, &raised, &markdown);
    assert_eq!(code, 3, "{stdout}");
    let text = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        text.starts_with("## memlab compare: 2 regressions in 1 result"),
        "{text}"
    );
    assert!(
        first_row(&text).starts_with("| `array-write` | copied / child"),
        "{text}"
    );
    assert!(stdout.starts_with("memlab compare: REGRESSION"), "{stdout}");

    // A claim that flipped: a regression too.
    let flipped = tmp.path().join("flipped");
    copy_dir(&second, &flipped);
    let path = flipped.join("py-list-sum.json");
    let mut result = read_json(&path);
    result["claims"][0]["holds"] = Value::Bool(false);
    write_json(&path, &result);
    let (code, stdout, _) = compare(&baseline, &flipped, &markdown);
    assert_eq!(code, 3, "{stdout}");
    let text = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        first_row(&text).starts_with("| `py-list-sum` | claim py-list-sum/"),
        "{text}"
    );
    assert!(first_row(&text).contains("holds → BROKEN"), "{text}");

    // Two files compare whatever their names; --json holds only the comparison.
    let (code, stdout, _) = run_memlab(&[
        os("compare"),
        first.join("array-write.json").as_os_str(),
        raised.join("array-write.json").as_os_str(),
        os("--json"),
    ]);
    assert_eq!(code, 3);
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["verdict"], "regression");
    assert_eq!(json["entries"][0]["metrics"][0]["verdict"], "regression");

    // One current file against the baseline directory: only its own baseline is compared.
    let (code, stdout, _) = run_memlab(&[
        os("compare"),
        baseline.as_os_str(),
        raised.join("array-write.json").as_os_str(),
    ]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("1 result compared, 0 not compared"),
        "{stdout}"
    );
}

/// One real, small result to spoil in various ways.
fn real_result(dir: &Path) -> std::path::PathBuf {
    let (code, _) = common::run_scenario("array-read", &["--size", "4MiB", "--children", "1"], dir);
    assert_eq!(code, 0);
    dir.join("array-read.json")
}

fn assert_one_line_error(code: i32, stdout: &str, stderr: &str, needle: &str) {
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("memlab: error: "), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_corrupt_or_other_version_baseline_is_one_line_and_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let current = real_result(tmp.path());
    let text = std::fs::read_to_string(&current).unwrap();

    let corrupt_dir = tmp.path().join("corrupt");
    std::fs::create_dir(&corrupt_dir).unwrap();
    std::fs::write(corrupt_dir.join("array-read.json"), &text[..text.len() / 2]).unwrap();
    let (code, stdout, stderr) =
        run_memlab(&[os("compare"), corrupt_dir.as_os_str(), current.as_os_str()]);
    assert_one_line_error(code, &stdout, &stderr, "not JSON");
    assert!(stderr.contains("baseline "), "{stderr}");

    let mut value: Value = serde_json::from_str(&text).unwrap();
    value["schema_version"] = Value::from(99);
    let other = tmp.path().join("other-version.json");
    write_json(&other, &value);
    let (code, stdout, stderr) =
        run_memlab(&[os("compare"), other.as_os_str(), current.as_os_str()]);
    assert_one_line_error(code, &stdout, &stderr, "schema version 99");

    // Valid JSON, not a result: the same.
    let stranger = tmp.path().join("stranger.json");
    std::fs::write(&stranger, r#"{"schema_version": 1, "hello": "world"}"#).unwrap();
    let (code, stdout, stderr) =
        run_memlab(&[os("compare"), stranger.as_os_str(), current.as_os_str()]);
    assert_one_line_error(code, &stdout, &stderr, "not a valid memlab result");

    // A baseline that does not exist, or an empty directory.
    let (code, stdout, stderr) = run_memlab(&[
        os("compare"),
        tmp.path().join("nowhere").as_os_str(),
        current.as_os_str(),
    ]);
    assert_one_line_error(code, &stdout, &stderr, "no such file or directory");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, stdout, stderr) =
        run_memlab(&[os("compare"), empty.as_os_str(), current.as_os_str()]);
    assert_one_line_error(code, &stdout, &stderr, "no result files");

    // baseline save refuses to store a corrupt result.
    let (code, stdout, stderr) = run_memlab(&[
        os("baseline"),
        os("save"),
        tmp.path().join("saved").as_os_str(),
        corrupt_dir.as_os_str(),
    ]);
    assert_one_line_error(code, &stdout, &stderr, "not JSON");
    assert!(!tmp.path().join("saved").join("array-read.json").exists());
}

#[test]
fn other_parameters_are_flagged_not_compared() {
    let tmp = tempfile::tempdir().unwrap();
    let current = real_result(tmp.path());
    let mut value = read_json(&current);
    value["params"]["size_bytes"] = Value::from(8 << 20);
    let other = tmp.path().join("other-params.json");
    write_json(&other, &value);
    let (code, stdout, stderr) =
        run_memlab(&[os("compare"), other.as_os_str(), current.as_os_str()]);
    // Nothing could be compared: not a silent pass.
    assert_one_line_error(code, &stdout, &stderr, "nothing to compare");
    assert!(
        stdout.contains("other parameters (size 8388608 → 4194304)"),
        "{stdout}"
    );
}

#[test]
fn bad_compare_and_scan_options_are_usage_errors() {
    for args in [
        vec![
            "compare",
            "a",
            "b",
            "--warn-pages",
            "100",
            "--fail-pages",
            "10",
        ],
        vec!["compare", "a", "b", "--alpha", "2"],
        vec!["compare", "a"],
        vec!["scan", "array-read", "--param", "children=0,2"],
        vec!["scan", "array-read", "--param", "op=clone"],
        vec!["suite", "--suite", "no-such-suite"],
    ] {
        let argv: Vec<&OsStr> = args.iter().map(|a| os(a)).collect();
        let (code, stdout, stderr) = run_memlab(&argv);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}");
        if args[0] != "compare" || args.len() > 2 {
            assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

#[test]
fn a_skipped_scenario_is_reported_as_skipped_not_failed() {
    // A real interpreter without numpy: a bare virtual environment.
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("bare");
    let made = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&bare)
        .status()
        .unwrap();
    assert!(made.success());
    let suite = write_suite(
        tmp.path(),
        r#"{"scenarios": [{"scenario": "array-read", "size": "4MiB", "children": 1},
                          {"scenario": "py-numpy-sum", "size": "4MiB", "children": 1}]}"#,
    );
    let out = tmp.path().join("out");
    let (code, stdout, stderr) = run_memlab(&[
        os("suite"),
        os("--suite"),
        suite.as_os_str(),
        os("--check"),
        os("--python"),
        bare.join("bin/python").as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("py-numpy-sum"))
        .unwrap();
    assert!(line.contains("skipped") && line.contains("numpy"), "{line}");
    assert!(stdout.contains("1 skipped"), "{stdout}");
    assert_eq!(
        read_json(&out.join("py-numpy-sum.json"))["status"],
        "skipped"
    );
    assert_eq!(
        read_json(&out.join("array-read.json"))["status"],
        "completed"
    );
}

#[test]
fn a_scan_writes_one_result_per_point() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run_memlab(&[
        os("scan"),
        os("array-write"),
        os("--param"),
        os("fraction=0.25,0.5"),
        os("--size"),
        os("8MiB"),
        os("--children"),
        os("1"),
        os("--out"),
        tmp.path().as_os_str(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    for (label, fraction) in [("0.25", 0.25), ("0.5", 0.5)] {
        let path = tmp
            .path()
            .join(format!("scans/array-write--fraction-{label}.json"));
        let result = read_json(&path);
        assert_eq!(result["params"]["fraction"], fraction);
        let copied = result["summary"]["copied_fraction"].as_f64().unwrap();
        assert!((copied - fraction).abs() < 0.02, "{label}: copied {copied}");
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{label} ")))
            .unwrap_or_else(|| panic!("no row {label}: {stdout}"));
        assert!(row.ends_with("holds"), "{row}");
    }
}
