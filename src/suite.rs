//! `memlab suite`: the scenarios listed in a suite file (`experiments/suites/NAME.json`), one
//! result file per entry, and with `--check` a failure when any claim does not hold.
//!
//! Also the pieces `memlab scan` shares with it: result file names built from parameters,
//! the progress display, and running a planned list of scenarios one after the other.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;

use crate::cli::{ScenarioArgs, resolve_scenario};
use crate::error::{MemlabError, exit_code};
use crate::export::json::JsonExporter;
use crate::export::{Exporter, write_atomically};
use crate::orchestrator::{RunRequest, guard, run_scenario};
use crate::result::{RunStatus, ScenarioResult};
use crate::units::{ByteSize, GIB, KIB, MIB};

#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// The suite: a name under experiments/suites/ (quick, all) or the path of a suite file.
    #[arg(long, default_value = "quick", value_name = "NAME|PATH")]
    pub suite: String,
    /// Exit 3 when any claim does not hold (they are listed); skipped scenarios do not count.
    #[arg(long)]
    pub check: bool,
    /// Directory for the result files (DIR/NAME.json; see docs/results.md for the names).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Size of every entry's data set, overriding the suite file.
    #[arg(long)]
    pub size: Option<ByteSize>,
    /// Children of every entry, overriding the suite file.
    #[arg(long)]
    pub children: Option<usize>,
    /// Runs of every entry, overriding the suite file (the spread compare uses for noisy figures).
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Interpreter for the py-* entries (default: the project's .venv, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Longest silence allowed from a workload, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// A suite file: `{"description": …, "defaults": {…}, "scenarios": [{"scenario": NAME, …}]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    #[serde(default)]
    pub description: Option<String>,
    /// Values for the entries that do not set them.
    #[serde(default)]
    pub defaults: SuiteDefaults,
    pub scenarios: Vec<SuiteEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteDefaults {
    #[serde(default, deserialize_with = "size_value")]
    pub size: Option<ByteSize>,
    pub children: Option<usize>,
    pub repeat: Option<usize>,
}

/// One scenario run of a suite. Sizes are a number of bytes or a string such as `"16MiB"`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteEntry {
    pub scenario: String,
    #[serde(default, deserialize_with = "size_value")]
    pub size: Option<ByteSize>,
    pub children: Option<usize>,
    pub op: Option<String>,
    pub fraction: Option<f64>,
    #[serde(default, deserialize_with = "size_value")]
    pub object_size: Option<ByteSize>,
    pub repeat: Option<usize>,
}

fn size_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ByteSize>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map(|bytes| Some(ByteSize(bytes)))
            .ok_or_else(|| D::Error::custom(format!("{n} is not a number of bytes"))),
        Some(serde_json::Value::String(text)) => text.parse().map(Some).map_err(D::Error::custom),
        Some(other) => Err(D::Error::custom(format!(
            "{other} is not a size (a number of bytes or a string like \"16MiB\")"
        ))),
    }
}

impl SuiteEntry {
    /// The entry's own parameters, in file-name order (size, children, op, fraction,
    /// object-size, repeat), as `(key, value)` labels.
    pub fn param_labels(&self) -> Vec<(&'static str, String)> {
        let mut labels = Vec::new();
        if let Some(size) = self.size {
            labels.push(("size", size_label(size.0)));
        }
        if let Some(children) = self.children {
            labels.push(("children", children.to_string()));
        }
        if let Some(op) = &self.op {
            labels.push(("op", op.clone()));
        }
        if let Some(fraction) = self.fraction {
            labels.push(("fraction", fraction_label(fraction)));
        }
        if let Some(size) = self.object_size {
            labels.push(("object-size", size_label(size.0)));
        }
        if let Some(repeat) = self.repeat {
            labels.push(("repeat", repeat.to_string()));
        }
        labels
    }
}

/// A size as it appears in file names: the largest binary unit that divides it exactly
/// (`16MiB`, `4KiB`, `1GiB`), else bytes (`4000`). It parses back as the same size.
pub fn size_label(bytes: u64) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// A fraction as it appears in file names: Rust's shortest form (`0.25`, `1`, `0.1`).
pub fn fraction_label(fraction: f64) -> String {
    format!("{fraction}")
}

/// `NAME--KEY-VALUE--KEY-VALUE…`: the file stem of a result run with these parameters.
pub fn param_stem(scenario: &str, labels: &[(&str, String)]) -> String {
    let mut stem = scenario.to_string();
    for (key, value) in labels {
        stem.push_str(&format!("--{key}-{value}"));
    }
    stem
}

/// `memlab scenario NAME` with every option at its command-line default: the start of each
/// run a suite or a scan makes (so they follow the scenario command's defaults).
pub fn default_scenario_args(name: &str) -> ScenarioArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ScenarioArgs,
    }
    Wrapper::try_parse_from(["memlab", "--", name])
        .expect("a scenario name alone parses")
        .args
}

/// Where the named suites live.
pub fn suites_dir() -> Option<PathBuf> {
    crate::python::experiments_dir().map(|dir| dir.join("suites"))
}

fn usage(message: impl Into<String>) -> MemlabError {
    MemlabError::Usage(message.into())
}

/// Finds a suite by name (`experiments/suites/NAME.json`) or path.
pub fn resolve_suite(suite: &str) -> Result<PathBuf, MemlabError> {
    let as_path = Path::new(suite);
    if suite.contains('/') || suite.ends_with(".json") || as_path.is_file() {
        return if as_path.is_file() {
            Ok(as_path.to_path_buf())
        } else {
            Err(usage(format!("suite file '{suite}' does not exist")))
        };
    }
    let Some(dir) = suites_dir() else {
        return Err(usage(format!(
            "cannot find experiments/suites/ for suite '{suite}' (run from the checkout, set \
             MEMLAB_EXPERIMENTS_DIR, or give the suite file's path)"
        )));
    };
    let path = dir.join(format!("{suite}.json"));
    if path.is_file() {
        return Ok(path);
    }
    let mut known: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    known.sort();
    Err(usage(format!(
        "unknown suite '{suite}' (in {}: {})",
        dir.display(),
        known.join(", ")
    )))
}

/// Reads and parses a suite file; any problem is one usage line.
pub fn load_suite(path: &Path) -> Result<SuiteFile, MemlabError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read suite {}: {e}", path.display())))?;
    let suite: SuiteFile =
        serde_json::from_str(&text).map_err(|e| usage(format!("suite {}: {e}", path.display())))?;
    if suite.scenarios.is_empty() {
        return Err(usage(format!(
            "suite {} lists no scenarios",
            path.display()
        )));
    }
    Ok(suite)
}

/// One scenario run to do, validated, with the file its result goes to.
pub struct Planned {
    /// The file stem: `NAME` or `NAME--KEY-VALUE…`.
    pub stem: String,
    pub path: PathBuf,
    pub request: RunRequest,
}

/// Validates every entry and names its result file: `NAME.json`, or when the suite has several
/// entries of one scenario, `NAME--KEY-VALUE….json` from each entry's own parameters.
pub fn plan_suite(
    suite: &SuiteFile,
    args: &SuiteArgs,
    total_ram_bytes: u64,
) -> Result<Vec<Planned>, MemlabError> {
    let mut planned: Vec<Planned> = Vec::new();
    for (index, entry) in suite.scenarios.iter().enumerate() {
        let at = |e: MemlabError| {
            usage(format!(
                "suite entry {} ({}): {e}",
                index + 1,
                entry.scenario
            ))
        };
        let def = resolve_scenario(&entry.scenario).map_err(at)?;
        let several = suite
            .scenarios
            .iter()
            .filter(|other| other.scenario == entry.scenario)
            .count()
            > 1;
        let stem = if several {
            param_stem(def.name, &entry.param_labels())
        } else {
            def.name.to_string()
        };
        if let Some(twin) = planned.iter().find(|p| p.stem == stem) {
            return Err(at(usage(format!(
                "same parameters as another entry: both would write {}.json",
                twin.stem
            ))));
        }
        let mut scenario_args = default_scenario_args(def.name);
        scenario_args.size = args.size.or(entry.size).or(suite.defaults.size);
        scenario_args.children = args.children.or(entry.children).or(suite.defaults.children);
        scenario_args.op = entry.op.clone();
        scenario_args.fraction = entry.fraction;
        scenario_args.object_size = entry.object_size;
        scenario_args.python = args.python.clone().filter(|_| def.is_python());
        scenario_args.repeat = args
            .repeat
            .or(entry.repeat)
            .or(suite.defaults.repeat)
            .unwrap_or(1);
        scenario_args.json = true;
        scenario_args.out = args.out.clone();
        scenario_args.timeout = args.timeout;
        let request = scenario_args.to_request(total_ram_bytes).map_err(at)?;
        planned.push(Planned {
            path: args.out.join(format!("{stem}.json")),
            stem,
            request,
        });
    }
    Ok(planned)
}

/// Whether progress goes out as plain lines (CI logs, pipes) rather than a progress bar.
pub fn plain_progress() -> bool {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    ci || !std::io::stderr().is_terminal() || !std::io::stdout().is_terminal()
}

/// Progress on stderr: an indicatif bar on a terminal, else one line per finished scenario.
pub enum Progress {
    Bar(indicatif::ProgressBar),
    Plain { total: usize, done: usize },
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        if plain_progress() {
            return Progress::Plain { total, done: 0 };
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress::Bar(bar)
    }

    /// Shows what runs now (bar only: plain progress prints when a scenario ends).
    pub fn status(&self, message: &str) {
        if let Progress::Bar(bar) = self {
            bar.set_message(message.to_string());
        }
    }

    /// One line for a finished scenario.
    pub fn finished(&mut self, line: &str) {
        match self {
            Progress::Bar(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            Progress::Plain { total, done } => {
                *done += 1;
                eprintln!("[{done}/{total}] {line}");
            }
        }
    }

    pub fn clear(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// What became of one planned run.
pub enum Outcome {
    Done(Box<ScenarioResult>),
    Failed(String),
}

/// The claims that do not hold in a result, as `(id, one-line explanation)`.
pub fn broken_claims(result: &ScenarioResult) -> Vec<(String, String)> {
    result
        .claims
        .iter()
        .filter(|c| c.holds == Some(false))
        .map(|c| {
            (
                c.id.clone(),
                format!(
                    "measured {} {} · rule: {}",
                    short_number(c.measured),
                    c.unit,
                    c.rule
                ),
            )
        })
        .collect()
}

fn short_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.4}")
    }
}

/// A one-line account of a result: status, copied fraction, claims.
pub fn describe(result: &ScenarioResult) -> String {
    if result.status == RunStatus::Skipped {
        let reason = result
            .skip
            .as_ref()
            .map(|s| s.reason.as_str())
            .unwrap_or("no reason given");
        return format!("SKIPPED ({reason})");
    }
    let holds = result
        .claims
        .iter()
        .filter(|c| c.holds == Some(true))
        .count();
    let broken = result
        .claims
        .iter()
        .filter(|c| c.holds == Some(false))
        .count();
    let unjudged = result.claims.iter().filter(|c| c.holds.is_none()).count();
    let mut claims = format!("{holds}/{} claims hold", result.claims.len());
    if broken > 0 {
        claims.push_str(&format!(", {broken} BROKEN"));
    }
    if unjudged > 0 {
        claims.push_str(&format!(", {unjudged} n/a"));
    }
    format!(
        "copied {:.2}% · {claims}",
        result.summary.copied_fraction * 100.0
    )
}

fn interrupted(error: &anyhow::Error) -> bool {
    guard::interrupted().is_some()
        || error.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<MemlabError>(),
                Some(MemlabError::Interrupted { .. })
            )
        })
}

/// Runs the planned scenarios one after the other, writing each result atomically. A failed
/// run is recorded and the others go on; an interruption (Ctrl-C, SIGTERM) stops everything.
pub fn run_planned(planned: &[Planned], what: &str) -> anyhow::Result<Vec<Outcome>> {
    guard::install()?;
    let mut progress = Progress::new(planned.len());
    let mut outcomes = Vec::with_capacity(planned.len());
    for plan in planned {
        progress.status(&format!("{what}: {}", plan.stem));
        let started = Instant::now();
        let stem = plan.stem.clone();
        let run = run_scenario(&plan.request, &mut |phase| {
            progress.status(&format!("{what}: {stem} · phase {}", phase.name));
        })
        .and_then(|result| {
            write_atomically(&plan.path, &JsonExporter.render(&result)?)
                .context("saving a result")?;
            Ok(result)
        });
        let seconds = started.elapsed().as_secs_f64();
        match run {
            Ok(result) => {
                progress.finished(&format!(
                    "{}: {} · {seconds:.1} s",
                    plan.stem,
                    describe(&result)
                ));
                outcomes.push(Outcome::Done(Box::new(result)));
            }
            Err(error) if interrupted(&error) => {
                progress.clear();
                return Err(error);
            }
            Err(error) => {
                let chain: Vec<String> = error.chain().map(|c| c.to_string()).collect();
                let message = chain.join(": ");
                progress.finished(&format!("{}: ERROR {message}", plan.stem));
                outcomes.push(Outcome::Failed(message));
            }
        }
    }
    progress.clear();
    Ok(outcomes)
}

pub fn run_suite(args: &SuiteArgs) -> anyhow::Result<i32> {
    let path = resolve_suite(&args.suite)?;
    let suite = load_suite(&path)?;
    let planned = plan_suite(&suite, args, crate::app::total_ram_bytes())?;
    let started = Instant::now();
    let label = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.suite.clone());
    eprintln!(
        "suite {label}: {} scenarios → {}{}",
        planned.len(),
        args.out.display(),
        suite
            .description
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    );
    let outcomes = run_planned(&planned, "suite")?;

    let stems: Vec<String> = planned.iter().map(|p| p.stem.clone()).collect();
    let account = account(&stems, &outcomes, args.check);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "suite {label}: {} scenarios in {:.1} s, results in {}",
        planned.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    )?;
    out.write_all(account.text.as_bytes())?;
    out.flush()?;
    if !account.failed.is_empty() {
        return Err(anyhow::anyhow!(
            "{} of {} scenarios failed: {}",
            account.failed.len(),
            planned.len(),
            account.failed.join(", ")
        ));
    }
    Ok(account.exit_code)
}

/// What a suite's outcomes amount to: the table, the broken claims, the failures, the exit
/// code (3 with `--check` when a claim does not hold; skipped scenarios never count).
pub struct Account {
    pub text: String,
    /// (result stem, claim id, why)
    pub broken: Vec<(String, String, String)>,
    pub skipped: Vec<String>,
    pub failed: Vec<String>,
    pub exit_code: i32,
}

pub fn account(stems: &[String], outcomes: &[Outcome], check: bool) -> Account {
    use std::fmt::Write as _;
    let mut text = String::new();
    let mut broken = Vec::new();
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    let _ = writeln!(
        text,
        "{:<36} {:<10} {:>9}  claims",
        "result", "status", "copied"
    );
    for (stem, outcome) in stems.iter().zip(outcomes) {
        match outcome {
            Outcome::Done(result) if result.status == RunStatus::Skipped => {
                skipped.push(stem.clone());
                let reason = result
                    .skip
                    .as_ref()
                    .map(|s| s.reason.as_str())
                    .unwrap_or("");
                let _ = writeln!(text, "{stem:<36} {:<10} {:>9}  {reason}", "skipped", "-");
            }
            Outcome::Done(result) => {
                let holds = result
                    .claims
                    .iter()
                    .filter(|c| c.holds == Some(true))
                    .count();
                let claims_broken = broken_claims(result);
                let mut claims = format!("{holds}/{} hold", result.claims.len());
                if !claims_broken.is_empty() {
                    claims.push_str(&format!(", {} BROKEN", claims_broken.len()));
                }
                let _ = writeln!(
                    text,
                    "{stem:<36} {:<10} {:>8.2}%  {claims}",
                    "completed",
                    result.summary.copied_fraction * 100.0
                );
                broken.extend(
                    claims_broken
                        .into_iter()
                        .map(|(id, why)| (stem.clone(), id, why)),
                );
            }
            Outcome::Failed(message) => {
                let _ = writeln!(text, "{stem:<36} {:<10} {:>9}  {message}", "ERROR", "-");
                failed.push(stem.clone());
            }
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(
            text,
            "{} skipped (a missing dependency: not a failure; the reason is above)",
            skipped.len()
        );
    }
    if !broken.is_empty() {
        let _ = writeln!(text, "\nclaims that do not hold:");
        for (stem, id, why) in &broken {
            let _ = writeln!(text, "  BROKEN {id} ({stem}.json): {why}");
        }
    }
    let mut exit_code = exit_code::OK;
    if check && failed.is_empty() {
        if broken.is_empty() {
            let _ = writeln!(text, "check: every claim holds");
        } else {
            let _ = writeln!(text, "check: {} claims do not hold", broken.len());
            exit_code = exit_code::CLAIM_BROKEN;
        }
    }
    Account {
        text,
        broken,
        skipped,
        failed,
        exit_code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(text: &str) -> Result<SuiteFile, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    fn args() -> SuiteArgs {
        SuiteArgs {
            suite: "test".into(),
            check: false,
            out: PathBuf::from("out"),
            size: None,
            children: None,
            repeat: None,
            python: None,
            timeout: 300,
        }
    }

    #[test]
    fn names_results_by_scenario_and_own_params() {
        let file = suite(
            r#"{"defaults": {"size": "16MiB", "children": 2},
                "scenarios": [
                  {"scenario": "array-read"},
                  {"scenario": "refcount-list"},
                  {"scenario": "refcount-list", "op": "read"},
                  {"scenario": "refcount-objsize", "object_size": 16},
                  {"scenario": "refcount-objsize", "object_size": "1MiB", "size": 33554432}
                ]}"#,
        )
        .unwrap();
        let planned = plan_suite(&file, &args(), 24 << 30).unwrap();
        let stems: Vec<&str> = planned.iter().map(|p| p.stem.as_str()).collect();
        assert_eq!(
            stems,
            [
                "array-read",
                "refcount-list",
                "refcount-list--op-read",
                "refcount-objsize--object-size-16",
                "refcount-objsize--size-32MiB--object-size-1MiB"
            ]
        );
        assert_eq!(planned[0].path, Path::new("out/array-read.json"));
        assert_eq!(planned[0].request.params.size_bytes, 16 << 20);
        assert_eq!(planned[0].request.params.children, 2);
        assert_eq!(planned[4].request.params.size_bytes, 32 << 20);
        assert_eq!(planned[4].request.params.object_size_bytes, Some(1 << 20));
    }

    #[test]
    fn the_command_line_overrides_the_suite() {
        let file = suite(r#"{"defaults": {"size": "16MiB"}, "scenarios": [{"scenario": "array-read", "children": 3, "size": "8MiB"}]}"#).unwrap();
        let mut overriding = args();
        overriding.size = Some(ByteSize(4 << 20));
        overriding.children = Some(1);
        overriding.repeat = Some(3);
        let planned = plan_suite(&file, &overriding, 24 << 30).unwrap();
        assert_eq!(planned[0].request.params.size_bytes, 4 << 20);
        assert_eq!(planned[0].request.params.children, 1);
        assert_eq!(planned[0].request.params.repeat, 3);
    }

    fn plan_error(text: &str) -> String {
        let file = suite(text).unwrap();
        match plan_suite(&file, &args(), 24 << 30) {
            Err(MemlabError::Usage(message)) => message,
            Err(other) => panic!("not a usage error: {other}"),
            Ok(_) => panic!("accepted: {text}"),
        }
    }

    #[test]
    fn bad_entries_are_one_usage_line_naming_the_entry() {
        let message = plan_error(
            r#"{"scenarios": [{"scenario": "array-read"}, {"scenario": "refcount-lst"}]}"#,
        );
        assert!(
            message.starts_with("suite entry 2 (refcount-lst)"),
            "{message}"
        );
        assert!(
            message.contains("did you mean 'refcount-list'"),
            "{message}"
        );
        let message = plan_error(r#"{"scenarios": [{"scenario": "array-write", "fraction": 3}]}"#);
        assert!(message.contains("between 0 and 1"), "{message}");
        let message = plan_error(
            r#"{"scenarios": [{"scenario": "array-read", "children": 2}, {"scenario": "array-read", "children": 2}]}"#,
        );
        assert!(message.contains("array-read--children-2.json"), "{message}");
        assert!(
            suite(r#"{"scenarios": [{"scenario": "array-read", "sise": 1}]}"#)
                .unwrap_err()
                .contains("unknown field `sise`")
        );
        assert!(
            suite(r#"{"scenarios": [{"scenario": "array-read", "size": "12parsecs"}]}"#)
                .unwrap_err()
                .contains("unknown size unit")
        );
    }

    #[test]
    fn labels_parse_back_as_the_same_values() {
        for bytes in [16, 4000, 4096, 64 << 20, 3 << 30, (1 << 20) + 4096] {
            let label = size_label(bytes);
            assert_eq!(label.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{label}");
        }
        assert_eq!(size_label(64 << 20), "64MiB");
        assert_eq!(size_label((1 << 20) + 4096), "1028KiB");
        assert_eq!(fraction_label(0.25), "0.25");
        assert_eq!(fraction_label(1.0), "1");
        assert_eq!(
            param_stem("array-write", &[("fraction", "0.5".into())]),
            "array-write--fraction-0.5"
        );
    }
}
