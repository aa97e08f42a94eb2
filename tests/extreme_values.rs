//! Extreme values on the command line and in suite files, for every command and every numeric
//! option: each is refused with exit 1 or 2 and exactly one `memlab: error:` line naming what
//! is wrong (never a panic, exit 101, or a signal), or it is legitimately accepted.
//!
//! Nothing runs a measurement: every invocation that could start one gets `--out` under a
//! regular file, which memlab checks after validating its options and before it starts
//! anything. A value that is accepted therefore ends at that check (its error names the output
//! directory), and one that is refused ends before it (its error names the option).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// The values the brief names, and the float spellings a parser may take for numbers.
const EXTREMES: [&str; 11] = [
    "0",
    "-1",
    "18446744073709551615",
    "9223372036854775807",
    "1e400",
    "",
    "12abc",
    "999999PiB",
    "NaN",
    "inf",
    "-inf",
];

/// No invocation here does real work: a slow one is a hang.
const PER_INVOCATION: Duration = Duration::from_secs(30);

fn run(argv: &[String], cwd: &Path) -> Output {
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("memlab"))
        .args(argv)
        .current_dir(cwd)
        .timeout(PER_INVOCATION)
        .output()
        .expect("memlab starts")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Exit normally (no signal, no panic) with one of the README's codes.
fn exited_cleanly(argv: &[String], output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code();
    assert!(
        code.is_some(),
        "{argv:?}: killed by a signal or timed out\n{stderr}"
    );
    assert_ne!(code, Some(101), "{argv:?}: panicked\n{stderr}");
    assert!(!stderr.contains("panicked"), "{argv:?}: panicked\n{stderr}");
}

/// Refused: exit 1 or 2, and stderr is exactly one `memlab: error:` line containing `needle`.
fn assert_refused(argv: &[String], output: &Output, needle: &str) {
    exited_cleanly(argv, output);
    let lines = stderr_lines(output);
    let code = output.status.code().unwrap();
    assert!(
        code == 1 || code == 2,
        "{argv:?}: exit {code}, expected 1 or 2\n{lines:#?}"
    );
    assert_eq!(lines.len(), 1, "{argv:?}: one line expected\n{lines:#?}");
    assert!(
        lines[0].starts_with("memlab: error: "),
        "{argv:?}: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(needle),
        "{argv:?}: the error should name '{needle}': {}",
        lines[0]
    );
}

/// A scratch directory, and an `--out` under a regular file: no result can be written there.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("not-a-dir"), "").unwrap();
        Scratch { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn blocked_out(&self) -> String {
        self.path().join("not-a-dir/out").display().to_string()
    }

    /// A suite file of the given JSON.
    fn suite(&self, name: &str, json: &str) -> String {
        let path = self.path().join(format!("{name}.json"));
        std::fs::write(&path, json).unwrap();
        path.display().to_string()
    }
}

/// What a value is expected to meet.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Refused,
    Accepted,
}

/// One option of one command: `argv` before the option, and which values it accepts.
struct Case<'a> {
    before: Vec<String>,
    option: &'a str,
    after: Vec<String>,
    accepted: &'a [&'a str],
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Drives one option with every extreme value, as `--option=VALUE` (so that "-1" reaches the
/// option's own parser) and, for "-1", also as two words.
fn drive(case: &Case, scratch: &Scratch, accepted_check: impl Fn(&[String], &Output)) {
    for value in EXTREMES {
        let expect = if case.accepted.contains(&value) {
            Expect::Accepted
        } else {
            Expect::Refused
        };
        let mut argv = case.before.clone();
        argv.push(format!("{}={value}", case.option));
        argv.extend(case.after.iter().cloned());
        let output = run(&argv, scratch.path());
        match expect {
            Expect::Refused => assert_refused(&argv, &output, case.option),
            Expect::Accepted => {
                exited_cleanly(&argv, &output);
                accepted_check(&argv, &output);
            }
        }
    }
    let mut argv = case.before.clone();
    argv.extend(strings(&[case.option, "-1"]));
    argv.extend(case.after.iter().cloned());
    let output = run(&argv, scratch.path());
    assert_refused(&argv, &output, "-1");
}

/// An accepted value went on to the output check, and stopped there.
fn stopped_at_output(argv: &[String], output: &Output) {
    let lines = stderr_lines(output);
    assert_eq!(output.status.code(), Some(1), "{argv:?}: {lines:#?}");
    let last = lines.last().map(String::as_str).unwrap_or("");
    assert!(
        last.starts_with("memlab: error: ") && last.contains("not-a-dir"),
        "{argv:?}: accepted, so it should stop at the output check: {lines:#?}"
    );
}

#[test]
fn scenario_numbers() {
    let scratch = Scratch::new();
    let out = ["--out".to_string(), scratch.blocked_out()];
    let cases = [
        ("array-read", "--timeout", &[][..]),
        ("array-read", "--size", &[]),
        ("array-read", "--children", &[]),
        ("array-read", "--repeat", &[]),
        ("array-read", "--sample-interval", &["0"]),
        ("array-write", "--fraction", &["0"]),
        ("refcount-objsize", "--object-size", &[]),
    ];
    for (name, option, accepted) in cases {
        let case = Case {
            before: strings(&["scenario", name]),
            option,
            after: out.to_vec(),
            accepted,
        };
        drive(&case, &scratch, stopped_at_output);
    }
}

#[test]
fn suite_numbers_on_the_command_line() {
    let scratch = Scratch::new();
    let suite = scratch.suite("one", r#"{"scenarios": [{"scenario": "array-read"}]}"#);
    for option in ["--timeout", "--size", "--children", "--repeat"] {
        let case = Case {
            before: strings(&["suite", "--suite", &suite, "--out", &scratch.blocked_out()]),
            option,
            after: vec![],
            accepted: &[],
        };
        drive(&case, &scratch, stopped_at_output);
    }
}

/// Extreme numbers written in a suite file, as JSON numbers, strings and raw tokens JSON has no
/// value for, in an entry and in the defaults.
#[test]
fn suite_numbers_in_the_file() {
    let scratch = Scratch::new();
    let out = scratch.blocked_out();
    let tokens = [
        "0",
        "-1",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775807",
        "1e400",
        "-0",
        "1.5",
        "\"\"",
        "\"12abc\"",
        "\"999999PiB\"",
        "\"-1\"",
        "\"NaN\"",
        "null",
        "[]",
        "{}",
        "true",
    ];
    let fields = [
        ("array-read", "size"),
        ("array-read", "children"),
        ("array-read", "repeat"),
        ("array-write", "fraction"),
        ("refcount-objsize", "object_size"),
    ];
    for (scenario, field) in fields {
        for token in tokens {
            let accepted = match (field, token) {
                // `null` is "not set"; 0 and -0 are fractions.
                (_, "null") => true,
                ("fraction", "0" | "-0") => true,
                _ => false,
            };
            let mut texts = vec![format!(
                r#"{{"scenarios": [{{"scenario": "{scenario}", "{field}": {token}}}]}}"#
            )];
            if matches!(field, "size" | "children" | "repeat") {
                texts.push(format!(
                    r#"{{"defaults": {{"{field}": {token}}}, "scenarios": [{{"scenario": "{scenario}"}}]}}"#
                ));
            }
            for text in texts {
                let suite = scratch.suite("extreme", &text);
                let argv = strings(&["suite", "--suite", &suite, "--out", &out]);
                let output = run(&argv, scratch.path());
                if accepted {
                    exited_cleanly(&argv, &output);
                    stopped_at_output(&argv, &output);
                } else {
                    assert_refused(std::slice::from_ref(&text), &output, "suite");
                    let code = output.status.code().unwrap();
                    assert_eq!(code, 2, "{text}: a bad suite file is a usage error");
                }
            }
        }
    }
}

#[test]
fn scan_numbers() {
    let scratch = Scratch::new();
    let out = ["--out".to_string(), scratch.blocked_out()];
    let cases = [
        ("array-read", "--timeout", "children=1,2"),
        ("array-read", "--size", "children=1,2"),
        ("array-read", "--children", "size=16MiB,32MiB"),
        ("array-read", "--repeat", "children=1,2"),
        ("array-write", "--fraction", "children=1,2"),
        ("refcount-objsize", "--object-size", "children=1,2"),
    ];
    for (name, option, param) in cases {
        let accepted: &[&str] = if option == "--fraction" { &["0"] } else { &[] };
        let case = Case {
            before: strings(&["scan", name, "--param", param]),
            option,
            after: out.to_vec(),
            accepted,
        };
        drive(&case, &scratch, stopped_at_output);
    }
}

#[test]
fn scan_parameter_values() {
    let scratch = Scratch::new();
    let out = scratch.blocked_out();
    // Each key with a valid first value, so that the extreme one is what gets checked.
    for (name, key, valid) in [
        ("array-read", "children", "1"),
        ("array-read", "size", "16MiB"),
        ("refcount-objsize", "object-size", "16"),
        ("array-write", "fraction", "0.5"),
    ] {
        for value in EXTREMES {
            let mut params = vec![format!("{key}={value}"), format!("{key}={valid},{value}")];
            if key == "children" {
                params.push(format!("{key}=1..{value}"));
                params.push(format!("{key}={value}..{value}"));
            }
            for param in params {
                let argv = strings(&["scan", name, "--param", &param, "--out", &out]);
                let output = run(&argv, scratch.path());
                // Of these, only a fraction of 0 is a valid point.
                if key == "fraction" && value == "0" {
                    exited_cleanly(&argv, &output);
                    stopped_at_output(&argv, &output);
                } else {
                    assert_refused(&argv, &output, key);
                    assert_eq!(output.status.code(), Some(2), "{argv:?}");
                }
            }
        }
    }
}

#[test]
fn matrix_numbers() {
    let scratch = Scratch::new();
    for option in ["--timeout", "--size", "--children"] {
        // No --python: a refused value must be refused before the interpreters are probed
        // (which lists each one it skips on stderr).
        let case = Case {
            before: strings(&["matrix", "--scenario", "py-list-sum"]),
            option,
            after: strings(&["--out", &scratch.blocked_out()]),
            accepted: &[],
        };
        drive(&case, &scratch, stopped_at_output);
    }
}

#[test]
fn run_numbers() {
    let scratch = Scratch::new();
    let out = scratch.blocked_out();
    let sizes_accepted: &[&str] = &["0", "18446744073709551615", "9223372036854775807"];
    let cases = [
        ("--interval", &[][..]),
        ("--sample-interval", &["0"][..]),
        ("--max-copied-per-child", sizes_accepted),
        ("--max-tree-unique", sizes_accepted),
    ];
    for (option, accepted) in cases {
        let case = Case {
            before: strings(&["run", "--out", &out]),
            option,
            after: strings(&["--", "true"]),
            accepted,
        };
        drive(&case, &scratch, stopped_at_output);
    }
    // A pid is given instead of a command.
    let case = Case {
        before: strings(&["run", "--out", &out]),
        option: "--pid",
        after: vec![],
        accepted: &[],
    };
    drive(&case, &scratch, stopped_at_output);
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
        .display()
        .to_string()
}

#[test]
fn compare_thresholds() {
    let scratch = Scratch::new();
    let result = fixture("compare/baseline/array-write.json");
    let huge: &[&str] = &["18446744073709551615", "9223372036854775807"];
    let zero: &[&str] = &["0"];
    let any_size: &[&str] = &["0", "18446744073709551615", "9223372036854775807"];
    // Each threshold alone, the others at their defaults (warn 32/64 pages, 2/5 %, 10/25 %):
    // a warning level may be 0, a failing level may be huge, never the other way round.
    let cases = [
        ("--warn-pages", zero),
        ("--fail-pages", huge),
        ("--warn-pct", zero),
        ("--fail-pct", huge),
        ("--noise-warn-pct", zero),
        ("--noise-fail-pct", huge),
        ("--noise-floor-bytes", any_size),
        ("--noise-floor-seconds", any_size),
        ("--alpha", &[]),
    ];
    for (option, accepted) in cases {
        let case = Case {
            before: strings(&["compare", &result, &result]),
            option,
            after: vec![],
            accepted,
        };
        // Accepted: the comparison runs (a result against itself: no regression).
        drive(&case, &scratch, |argv, output| {
            assert_eq!(output.status.code(), Some(0), "{argv:?}");
            assert!(stderr_lines(output).is_empty(), "{argv:?}");
            assert!(!output.stdout.is_empty(), "{argv:?}");
        });
    }
}

/// The commands without numeric options get the same values where they take paths or names:
/// nothing of these names exists, so each is one line and exit 1 or 2.
#[test]
fn commands_without_numbers() {
    let scratch = Scratch::new();
    let result = fixture("compare/baseline/array-write.json");
    let out = scratch.blocked_out();
    for value in EXTREMES {
        let dashed = value.starts_with('-');
        let invocations: Vec<(Vec<String>, &str)> = vec![
            (strings(&["list", value]), "unexpected argument"),
            (strings(&["list", &format!("--json={value}")]), "--json"),
            (strings(&["pythons", value]), "unexpected argument"),
            (strings(&["scenario", value, "--out", &out]), value),
            (strings(&["report", value, "--out", &out]), value),
            (strings(&["compare", value, &result]), value),
            (strings(&["compare", &result, value]), value),
            (strings(&["baseline", "save", &out, value]), value),
            (strings(&["suite", &format!("--suite={value}")]), "suite"),
            (
                strings(&[
                    "run",
                    &format!("--name={value}"),
                    "--out",
                    &out,
                    "--",
                    "true",
                ]),
                value,
            ),
        ];
        for (argv, needle) in invocations {
            let output = run(&argv, scratch.path());
            // `run --name=0` (any of these but "") is a valid name: it stops at the output check.
            if argv[0] == "run" && !value.is_empty() {
                exited_cleanly(&argv, &output);
                stopped_at_output(&argv, &output);
                continue;
            }
            let needle = if dashed || value.is_empty() {
                ""
            } else {
                needle
            };
            assert_refused(&argv, &output, needle);
        }
    }
    assert!(
        !PathBuf::from(scratch.path()).join("results").exists(),
        "nothing may be written to the default results directory"
    );
}
