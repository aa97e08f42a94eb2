//! The census of the Python objects on the forked children's copied pages under `memlab run`,
//! on the example pools: each worker's census taken while it was alive, attached to its pass,
//! the one that goes with the headline shown in the table with its moment; `--no-census`
//! leaves the rest of the result as it was. Page truth and the census need root: the tests
//! say so when they cannot run.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{all_gone_within, example, memlab, skip_unless_root, venv_python};
use memlab::result::ScenarioResult;
use memlab::result::census::NOT_PYMALLOC_TYPE;
use memlab::result::run::{CensusMoment, ProcessKind, RunBody, RunCensus, RunProcess};
use serde_json::Value;

const MIB: u64 = 1 << 20;
/// Ints the interpreter holds itself besides the list's (constants, caches, counters): the
/// census counts every int on the copied pages.
const INTERPRETER_INTS: u64 = 5_000;

struct Ran {
    code: i32,
    /// The table (and whatever the command printed on stdout).
    stdout: String,
    stderr: String,
    result: ScenarioResult,
    json: Value,
}

/// `memlab run --out DIR ARGS… -- .venv/bin/python EXAMPLE EXAMPLE_ARGS…`: the table on
/// stdout and the result file, read through the schema and as plain JSON.
fn run_example(args: &[&str], example_name: &str, example_args: &[&str], out: &Path) -> Ran {
    let python = venv_python();
    let output = memlab()
        .args(["run", "--out"])
        .arg(out)
        .args(args)
        .arg("--")
        .arg(&python)
        .arg(example(example_name))
        .args(example_args)
        .stdin(Stdio::null())
        .output()
        .expect("memlab runs");
    let text = std::fs::read_to_string(out.join("run.json")).expect("the result file");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        result: serde_json::from_str(&text).expect("the result deserializes"),
        json: serde_json::from_str(&text).unwrap(),
    }
}

fn body(result: &ScenarioResult) -> &RunBody {
    result.run.as_ref().expect("a run body")
}

fn workers(result: &ScenarioResult) -> Vec<&RunProcess> {
    body(result)
        .processes
        .iter()
        .filter(|p| p.kind == ProcessKind::Forked)
        .collect()
}

/// The census that goes with the headline, checked to be a moment of the run while the
/// worker was alive, at or before the headline, attached to a kept phase when it names one.
fn headline_census<'a>(result: &ScenarioResult, worker: &'a RunProcess) -> &'a RunCensus {
    let headline = body(result).headline.as_ref().expect("a headline");
    let (census, moment) = worker
        .census_for(headline)
        .unwrap_or_else(|| panic!("no census at or before the headline: {worker:#?}"));
    assert!(census.time_s >= worker.first_seen_s, "{census:?}");
    assert!(
        census.time_s <= worker.gone_s.unwrap_or(f64::INFINITY),
        "taken while alive: {census:?}"
    );
    match moment {
        CensusMoment::AtHeadline => assert_eq!(census.phase.as_ref(), Some(&headline.phase)),
        CensusMoment::Before => assert!(census.time_s < headline.time_s),
    }
    if let Some(phase) = &census.phase {
        let kept = result
            .phases
            .iter()
            .find(|p| &p.name == phase)
            .unwrap_or_else(|| panic!("the census names phase {phase}, which is not kept"));
        assert_eq!(kept.time_s, census.time_s, "the census is its pass's");
    }
    census
}

/// The ints each worker summed, as the example prints it.
fn ints_summed(stderr: &str) -> u64 {
    stderr
        .split("summed ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the example did not say what it summed: {stderr}"))
}

/// No process of the run is left behind: every pid it recorded is gone.
fn assert_no_leftovers(result: &ScenarioResult) {
    let pids: Vec<i32> = body(result).processes.iter().map(|p| p.pid).collect();
    assert!(!pids.is_empty());
    assert!(all_gone_within(&pids, 5.0), "left running among {pids:?}");
}

#[test]
fn pool_list_workers_copied_the_ints_they_summed_and_the_census_counts_them() {
    if skip_unless_root("pool_list census") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let ran = run_example(
        &[],
        "pool_list.py",
        &["--size-mib", "32", "--workers", "3"],
        out.path(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let summed = ints_summed(&ran.stderr);
    let result = &ran.result;
    let workers = workers(result);
    assert_eq!(workers.len(), 3, "{:#?}", body(result).processes);
    for worker in &workers {
        let census = headline_census(result, worker);
        let types = census
            .census
            .python_types
            .as_deref()
            .unwrap_or_else(|| panic!("no types: {census:?}"));
        assert_eq!(
            types[0].type_name, "int",
            "the largest copied type: {types:?}"
        );
        let ints = types[0].objects;
        assert!(
            (summed..=summed + INTERPRETER_INTS).contains(&ints),
            "worker {}: {ints} int objects on its copied pages, {summed} summed",
            worker.pid
        );
        // The census's own comparison found what the passes did.
        let figures = worker.figures.as_ref().expect("figures");
        assert!(
            census.copied_bytes.abs_diff(figures.copied_bytes) < figures.copied_bytes / 10,
            "census over {} copied bytes, figures {}",
            census.copied_bytes,
            figures.copied_bytes
        );
        assert!(census.took_ms > 0.0);
        assert_eq!(
            census
                .census
                .python_interpreter
                .as_deref()
                .map(|i| i.starts_with("CPython 3.")),
            Some(true)
        );
    }
    let passes = &body(result).truth_passes;
    assert!(passes.census_enabled);
    assert!(passes.censuses >= 3, "{passes:?}");
    assert!(passes.census_passes >= 1 && passes.census_passes <= passes.passes);
    assert!(passes.census_seconds > 0.0 && passes.max_census_ms >= passes.mean_census_ms);
    assert_eq!(passes.census_cpu_budget, memlab::follow::CENSUS_CPU_BUDGET);
    assert_no_leftovers(result);
}

#[test]
fn pool_global_workers_copied_little_and_no_ints() {
    if skip_unless_root("pool_global census") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let array_bytes = 32 * MIB;
    let ran = run_example(
        &[],
        "pool_global.py",
        &["--size-mib", "32", "--workers", "3"],
        out.path(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let result = &ran.result;
    let workers = workers(result);
    assert_eq!(workers.len(), 3);
    for worker in &workers {
        let census = headline_census(result, worker);
        let types = census.census.python_types.as_deref().expect("types");
        assert!(
            census.copied_bytes < array_bytes / 8,
            "worker {} copied {} bytes of a {array_bytes}-byte array",
            worker.pid,
            census.copied_bytes
        );
        let all: u64 = types.iter().map(|t| t.bytes).sum();
        let int_bytes = types
            .iter()
            .find(|t| t.type_name == "int")
            .map_or(0, |t| t.bytes);
        assert!(
            int_bytes * 10 < all,
            "ints hold {int_bytes} of {all} copied bytes: {types:?}"
        );
        // The array stays shared: what was copied outside pymalloc is the interpreter's own.
        let outside = types
            .iter()
            .find(|t| t.type_name == NOT_PYMALLOC_TYPE)
            .map_or(0, |t| t.bytes);
        assert!(outside < array_bytes / 8, "{types:?}");
    }
    assert_no_leftovers(result);
}

/// The keys of a JSON object, without `except`.
fn keys(value: &Value, except: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .filter(|k| !except.contains(&k.as_str()))
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[test]
fn no_census_takes_none_and_leaves_the_other_figures_as_they_were() {
    if skip_unless_root("--no-census") {
        return;
    }
    let with_dir = tempfile::tempdir().unwrap();
    let without_dir = tempfile::tempdir().unwrap();
    let example_args = ["--size-mib", "16", "--workers", "2"];
    let with = run_example(&[], "pool_list.py", &example_args, with_dir.path());
    let without = run_example(
        &["--no-census"],
        "pool_list.py",
        &example_args,
        without_dir.path(),
    );
    assert_eq!((with.code, without.code), (0, 0), "{}", without.stderr);
    let passes = &body(&without.result).truth_passes;
    assert!(!passes.census_enabled);
    assert_eq!(
        (passes.censuses, passes.census_passes, passes.census_seconds),
        (0, 0, 0.0)
    );
    assert!(
        workers(&with.result).iter().all(|w| !w.censuses.is_empty()),
        "the default takes censuses"
    );
    let summed = ints_summed(&without.stderr);
    for worker in workers(&without.result) {
        assert!(worker.censuses.is_empty(), "{worker:?}");
        // The figures are still measured: the ints' pages were copied.
        let copied = worker.figures.as_ref().expect("figures").copied_bytes;
        assert!(copied >= summed * 32, "{copied} bytes for {summed} ints");
    }
    assert!(
        !without.stdout.contains("by Python type"),
        "{}",
        without.stdout
    );
    // The same shape: every key but the censuses.
    let (a, b) = (&with.json, &without.json);
    assert_eq!(keys(a, &[]), keys(b, &[]));
    assert_eq!(keys(&a["run"], &[]), keys(&b["run"], &[]));
    assert_eq!(keys(&a["summary"], &[]), keys(&b["summary"], &[]));
    assert_eq!(
        keys(&a["run"]["truth_passes"], &[]),
        keys(&b["run"]["truth_passes"], &[])
    );
    let forked = |json: &Value| -> Vec<Value> {
        json["run"]["processes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["kind"] == "forked")
            .cloned()
            .collect()
    };
    let (forked_with, forked_without) = (forked(a), forked(b));
    assert_eq!(forked_with.len(), forked_without.len());
    for (x, y) in forked_with.iter().zip(&forked_without) {
        assert_eq!(keys(x, &["censuses"]), keys(y, &[]));
        assert_eq!(keys(&x["figures"], &[]), keys(&y["figures"], &[]));
    }
    assert_eq!(
        a["summary"]["copied_bytes_per_child"]
            .as_array()
            .unwrap()
            .len(),
        b["summary"]["copied_bytes_per_child"]
            .as_array()
            .unwrap()
            .len()
    );
    assert_no_leftovers(&with.result);
    assert_no_leftovers(&without.result);
}

#[test]
fn the_run_table_shows_the_headline_census_and_names_its_moment() {
    if skip_unless_root("census table") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let ran = run_example(
        &[],
        "pool_list.py",
        &["--size-mib", "16", "--workers", "2"],
        out.path(),
    );
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let result = &ran.result;
    let headline = body(result).headline.as_ref().unwrap();
    let heading = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("copied by Python type ("))
        .unwrap_or_else(|| panic!("no census section:\n{}", ran.stdout));
    // "copied by Python type (child 2, pid 1234, at …)": a child that copied the most at the
    // headline.
    let pid: i32 = heading
        .split("pid ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {heading}"));
    let workers = workers(result);
    let copied = |w: &RunProcess| w.figures.as_ref().map_or(0, |f| f.copied_bytes);
    let shown = *workers.iter().find(|w| w.pid == pid).expect("a worker");
    assert!(workers.iter().all(|w| copied(w) <= copied(shown)));
    let (census, moment) = shown.census_for(headline).expect("a census");
    let when = match moment {
        CensusMoment::AtHeadline => "at the headline".to_string(),
        CensusMoment::Before => format!(
            "{:.2} s before the headline '{}'",
            headline.time_s - census.time_s,
            headline.phase
        ),
    };
    let label = format!("child {}, pid {pid}, ", shown.child_index.unwrap());
    assert!(heading.contains(&label), "{heading}");
    assert!(heading.contains(&when), "{heading} should say {when}");
    if let Some(phase) = &census.phase {
        assert!(heading.contains(&format!("'{phase}'")), "{heading}");
    }
    let section: Vec<&str> = ran
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("copied by Python type ("))
        .collect();
    assert!(
        section
            .get(2)
            .is_some_and(|row| row.trim_start().starts_with("int")),
        "the first row is int:\n{}",
        section.join("\n")
    );
    assert!(
        section
            .iter()
            .any(|l| l.starts_with("hint: ") && l.contains("int")),
        "{}",
        section.join("\n")
    );
    assert!(ran.stdout.contains("with censuses of the Python objects"));
    assert_no_leftovers(result);
}
