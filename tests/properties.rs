//! Property tests of the three readers of outside input: the workload protocol parser, the
//! suite-file reader and the result loader. On generated input (arbitrary text, bytes and JSON
//! values) and on valid input mutated (bytes flipped, deleted, inserted; JSON values replaced by
//! extreme numbers, wrong types, deep nesting), each must never panic, and every error it
//! returns must render as exactly one non-empty line. Valid input must parse.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use serde_json::{Value, json};

use memlab::cli::{RunSettingsArgs, SuiteArgs};
use memlab::compare::{Side, load_file, load_side};
use memlab::options::suite::{load_suite, plan_suite};
use memlab::protocol::{
    OrchestratorMessage, WorkloadMessage, encode, parse_orchestrator_line, parse_workload_line,
};
use memlab::result::load::{load_result, parse_result};

// ---------------------------------------------------------------------------------------------
// Inputs

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines exactly as the Python client writes them (`json.dumps(message, separators=(",", ":"))`,
/// python/memlab/workload.py) for every message kind.
const PYTHON_CLIENT_LINES: [&str; 16] = [
    r#"{"msg":"hello","protocol":1,"workload":"py-list-sum","pid":4242,"runtime":"CPython 3.11.2"}"#,
    r#"{"msg":"region","name":"data","start":140230812864512,"end":140230829641728}"#,
    r#"{"msg":"children","pids":[4243,4244]}"#,
    r#"{"msg":"children","pids":[]}"#,
    r#"{"msg":"phase","name":"baseline"}"#,
    r#"{"msg":"phase","name":"allocated"}"#,
    r#"{"msg":"phase","name":"forked"}"#,
    r#"{"msg":"phase","name":"operated"}"#,
    r#"{"msg":"fact","name":"sum","value":499999500000}"#,
    r#"{"msg":"fact","name":"elapsed_s","value":0.12345678901234568}"#,
    r#"{"msg":"fact","name":"writes_visible","value":true}"#,
    r#"{"msg":"fact","name":"sizes","value":{"list":8056,"ints":[28,32],"name":"caf\u00e9","none":null}}"#,
    r#"{"msg":"skip","reason":"numpy is not installed","install":"make venv"}"#,
    r#"{"msg":"skip","reason":"ray is not installed"}"#,
    r#"{"msg":"error","message":"child 4243 exited with code 1"}"#,
    r#"{"msg":"done"}"#,
];

/// The example exchange of docs/protocol.md: (`W` workload lines, `O` orchestrator lines).
fn documented_lines() -> (Vec<String>, Vec<String>) {
    let doc = read(&repo("docs/protocol.md"));
    let pick = |prefix: &str| -> Vec<String> {
        doc.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    };
    (pick("W: "), pick("O: "))
}

fn valid_workload_lines() -> Vec<String> {
    let mut lines: Vec<String> = PYTHON_CLIENT_LINES.iter().map(|l| l.to_string()).collect();
    lines.extend(documented_lines().0);
    lines
}

fn valid_orchestrator_lines() -> Vec<String> {
    let mut lines = documented_lines().1;
    // As memlab itself writes them.
    lines.push(encode(&OrchestratorMessage::Go));
    lines.push(encode(&OrchestratorMessage::Abort {
        reason: "interrupted by SIGINT".into(),
    }));
    lines
}

fn suite_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo("experiments/suites"))
        .expect("experiments/suites")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Every result fixture that is a valid result of this schema (the compare fixtures that are
/// deliberately corrupt or of another schema, and a note that is no result, left out).
fn result_fixtures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![
        repo("tests/fixtures/report/results"),
        repo("tests/fixtures/compare"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "corrupt" && name != "other-schema" {
                    dirs.push(path);
                }
            } else if name.ends_with(".json") && name != "notes.json" {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A small real result (4 KiB) to mutate: a Python pool scenario with claims, facts, phases.
const SMALL_RESULT: &str = "tests/fixtures/report/results/py-pool-global.json";
/// A mid-sized one (19 KiB): a native scenario with a timeline and page truth.
const MEDIUM_RESULT: &str = "tests/fixtures/compare/baseline/array-write.json";

// ---------------------------------------------------------------------------------------------
// The property every error must have

fn one_line(message: &str) -> Result<(), TestCaseError> {
    prop_assert!(!message.trim().is_empty(), "an empty error message");
    prop_assert!(
        !message.contains(['\n', '\r']),
        "an error of several lines: {message:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Numbers and values a careless or hostile writer puts where a number belongs.
fn extreme_value() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(u64::MAX),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(-1),
        json!(0),
        json!(1e308),
        json!(-1e308),
        json!(5e-324),
        json!(0.5),
        json!("NaN"),
        json!("inf"),
        json!("-1"),
        json!(""),
        json!("18446744073709551616"),
        json!("999999PiB"),
        json!("16MiB"),
        json!("a\nb"),
        json!("\u{0}\u{1b}[2J\r"),
        json!("x".repeat(5000)),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!([u64::MAX, -1]),
        json!({"msg": "done"}),
        nested(64),
        nested(200),
    ])
}

/// Raw JSON tokens no `Value` holds (serde_json refuses or rounds them): written into the text.
const RAW_TOKENS: [&str; 10] = [
    "1e400",
    "-1e400",
    "1e-400",
    "NaN",
    "Infinity",
    "-0",
    "18446744073709551616",
    "-9223372036854775809",
    "0x10",
    "1.",
];

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(0), |inner, _| json!([inner]))
}

/// Field names the three readers know, so that generated objects reach past the first check.
const KNOWN_KEYS: [&str; 40] = [
    "msg",
    "protocol",
    "workload",
    "pid",
    "runtime",
    "name",
    "start",
    "end",
    "pids",
    "value",
    "reason",
    "install",
    "message",
    "description",
    "defaults",
    "scenarios",
    "scenario",
    "size",
    "children",
    "repeat",
    "op",
    "fraction",
    "object_size",
    "schema_version",
    "status",
    "params",
    "claims",
    "facts",
    "phases",
    "summary",
    "timeline",
    "machine",
    "memlab_version",
    "run",
    "verdict",
    "measured",
    "unit",
    "id",
    "truth",
    "processes",
];

const MESSAGE_TAGS: [&str; 11] = [
    "hello", "region", "children", "phase", "fact", "skip", "error", "done", "go", "abort", "",
];

/// Any text: every Unicode scalar, control characters and line breaks included.
fn any_text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max_chars).prop_map(String::from_iter)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KNOWN_KEYS.to_vec()).prop_map(str::to_string),
        1 => any_text(12),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any_text(16).prop_map(Value::from),
        prop::sample::select(MESSAGE_TAGS.to_vec()).prop_map(Value::from),
        extreme_value(),
    ]
}

/// Arbitrary JSON, nested a few levels, keys mostly ones the readers know.
fn any_json() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// One edit of a text's bytes.
#[derive(Debug, Clone)]
enum ByteEdit {
    Flip(Index, u8),
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    Truncate(Index),
    Duplicate(Index, usize),
}

fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        (any::<Index>(), 1..=255u8).prop_map(|(at, mask)| ByteEdit::Flip(at, mask)),
        (any::<Index>(), 1..16usize).prop_map(|(at, n)| ByteEdit::Delete(at, n)),
        (
            any::<Index>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..8),
                prop::sample::select(
                    [
                        "\n", "\r", "\"", "\\", "{", "}", "[", "]", ",", ":", "0", "-", "1e400",
                        "null", "\u{2028}", "\u{0}"
                    ]
                    .to_vec()
                )
                .prop_map(|s| s.as_bytes().to_vec()),
            ]
        )
            .prop_map(|(at, bytes)| ByteEdit::Insert(at, bytes)),
        any::<Index>().prop_map(ByteEdit::Truncate),
        (any::<Index>(), 1..64usize).prop_map(|(at, n)| ByteEdit::Duplicate(at, n)),
    ]
}

fn apply_byte_edits(text: &str, edits: &[ByteEdit]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for edit in edits {
        let len = bytes.len();
        let at = |index: &Index| if len == 0 { 0 } else { index.index(len) };
        match edit {
            ByteEdit::Flip(i, mask) if len > 0 => bytes[at(i)] ^= mask,
            ByteEdit::Flip(..) => {}
            ByteEdit::Delete(i, n) => {
                let start = at(i);
                bytes.drain(start..(start + n).min(len));
            }
            ByteEdit::Insert(i, new) => {
                let start = at(i);
                bytes.splice(start..start, new.iter().copied());
            }
            ByteEdit::Truncate(i) => bytes.truncate(at(i)),
            ByteEdit::Duplicate(i, n) => {
                let start = at(i);
                let copy: Vec<u8> = bytes[start..(start + n).min(len)].to_vec();
                bytes.splice(start..start, copy);
            }
        }
    }
    bytes
}

/// One edit of a JSON document's structure: the node at a pre-order position replaced, a key
/// removed, or the node buried under many arrays.
#[derive(Debug, Clone)]
enum ValueEdit {
    Replace(Index, Value),
    /// Replaced by a raw token (see [`RAW_TOKENS`]) in the text.
    ReplaceRaw(Index, usize),
    RemoveKey(Index),
    Bury(Index, usize),
}

fn value_edit() -> impl Strategy<Value = ValueEdit> {
    prop_oneof![
        3 => (any::<Index>(), extreme_value()).prop_map(|(at, v)| ValueEdit::Replace(at, v)),
        1 => (any::<Index>(), any_json()).prop_map(|(at, v)| ValueEdit::Replace(at, v)),
        2 => (any::<Index>(), 0..RAW_TOKENS.len()).prop_map(|(at, t)| ValueEdit::ReplaceRaw(at, t)),
        1 => any::<Index>().prop_map(ValueEdit::RemoveKey),
        1 => (any::<Index>(), prop_oneof![Just(100usize), Just(127), Just(130), Just(400)])
            .prop_map(|(at, depth)| ValueEdit::Bury(at, depth)),
    ]
}

fn count_nodes(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_nodes).sum(),
        Value::Object(fields) => fields.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// The node at pre-order position `*n` (counting down), mutably.
fn nth_node<'a>(value: &'a mut Value, n: &mut usize) -> Option<&'a mut Value> {
    if *n == 0 {
        return Some(value);
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().find_map(|item| nth_node(item, n)),
        Value::Object(fields) => fields.values_mut().find_map(|item| nth_node(item, n)),
        _ => None,
    }
}

/// Placeholder strings stand for raw tokens until the document is text.
const RAW_MARK: &str = "\u{1}raw-token-";

fn apply_value_edits(document: &Value, edits: &[ValueEdit]) -> String {
    let mut value = document.clone();
    for edit in edits {
        let nodes = count_nodes(&value);
        let (ValueEdit::Replace(at, _)
        | ValueEdit::ReplaceRaw(at, _)
        | ValueEdit::RemoveKey(at)
        | ValueEdit::Bury(at, _)) = edit;
        let mut n = at.index(nodes);
        let node = nth_node(&mut value, &mut n).expect("an index below the node count");
        match edit {
            ValueEdit::Replace(_, new) => *node = new.clone(),
            ValueEdit::ReplaceRaw(_, token) => *node = json!(format!("{RAW_MARK}{token}")),
            ValueEdit::RemoveKey(_) => {
                if let Value::Object(fields) = node {
                    let first = fields.keys().next().cloned();
                    if let Some(key) = first {
                        fields.remove(&key);
                    }
                }
            }
            ValueEdit::Bury(_, depth) => {
                let inner = node.take();
                *node = (0..*depth).fold(inner, |inner, _| json!([inner]));
            }
        }
    }
    let mut text = serde_json::to_string(&value).unwrap();
    for (i, token) in RAW_TOKENS.iter().enumerate() {
        text = text.replace(
            &format!("\"{}{i}\"", RAW_MARK.replace('\u{1}', "\\u0001")),
            token,
        );
    }
    text
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Shrunk failures are turned into named regression tests below, not kept in files.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The workload protocol

fn check_workload_line(line: &str) -> Result<(), TestCaseError> {
    match parse_workload_line(line) {
        Ok(message) => {
            // What parses encodes back to a line that parses to the same kind of message (not
            // always to equal values: serde_json's default float parsing may differ from the
            // shortest representation in the last digit for extreme floats).
            let again = parse_workload_line(&encode(&message));
            prop_assert!(
                again.is_ok(),
                "{:?} does not parse back: {:?}",
                message,
                again
            );
            prop_assert_eq!(
                std::mem::discriminant(&again.unwrap()),
                std::mem::discriminant(&message)
            );
        }
        Err(error) => one_line(&error.to_string())?,
    }
    Ok(())
}

fn check_orchestrator_line(line: &str) -> Result<(), TestCaseError> {
    if let Err(error) = parse_orchestrator_line(line) {
        one_line(&error.to_string())?;
    }
    Ok(())
}

#[test]
fn every_valid_protocol_line_parses() {
    let lines = valid_workload_lines();
    assert!(lines.len() >= PYTHON_CLIENT_LINES.len() + 8, "{lines:?}");
    for line in &lines {
        let message = parse_workload_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(parse_workload_line(&encode(&message)), Ok(message));
    }
    let hello = parse_workload_line(PYTHON_CLIENT_LINES[0]).unwrap();
    assert!(matches!(hello, WorkloadMessage::Hello { pid: 4242, .. }));
    let orchestrator = valid_orchestrator_lines();
    assert!(orchestrator.len() >= 4);
    for line in &orchestrator {
        parse_orchestrator_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn protocol_any_text(line in any_text(200)) {
        check_workload_line(&line)?;
        check_orchestrator_line(&line)?;
    }

    #[test]
    fn protocol_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        // As the reader turns a line of the pipe into text.
        let line = String::from_utf8_lossy(&bytes);
        check_workload_line(&line)?;
        check_orchestrator_line(&line)?;
    }

    #[test]
    fn protocol_any_json(value in any_json()) {
        let line = value.to_string();
        check_workload_line(&line)?;
        check_orchestrator_line(&line)?;
    }

    #[test]
    fn protocol_messages_with_any_fields(
        tag in prop::sample::select(MESSAGE_TAGS.to_vec()),
        fields in prop::collection::vec((key(), prop_oneof![extreme_value(), any_json()]), 0..6),
    ) {
        let mut object = serde_json::Map::new();
        object.insert("msg".into(), json!(tag));
        object.extend(fields);
        let line = Value::Object(object).to_string();
        check_workload_line(&line)?;
        check_orchestrator_line(&line)?;
    }

    #[test]
    fn protocol_valid_lines_with_bytes_edited(
        which in any::<Index>(),
        edits in prop::collection::vec(byte_edit(), 1..4),
    ) {
        let lines = valid_workload_lines();
        let line = &lines[which.index(lines.len())];
        let edited = apply_byte_edits(line, &edits);
        let edited = String::from_utf8_lossy(&edited);
        check_workload_line(&edited)?;
        check_orchestrator_line(&edited)?;
    }

    #[test]
    fn protocol_valid_lines_with_values_replaced(
        which in any::<Index>(),
        edits in prop::collection::vec(value_edit(), 1..3),
    ) {
        let lines = valid_workload_lines();
        let line = &lines[which.index(lines.len())];
        let document: Value = serde_json::from_str(line).unwrap();
        let edited = apply_value_edits(&document, &edits);
        check_workload_line(&edited)?;
        let orchestrator = valid_orchestrator_lines();
        let document: Value =
            serde_json::from_str(&orchestrator[which.index(orchestrator.len())]).unwrap();
        check_orchestrator_line(&apply_value_edits(&document, &edits))?;
    }
}

#[test]
fn protocol_deep_nesting_and_huge_lines_are_one_line_errors() {
    for depth in [127, 128, 129, 1000, 30_000] {
        let line = format!(
            r#"{{"msg":"fact","name":"deep","value":{}0{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let result = parse_workload_line(&line);
        if let Err(error) = &result {
            let message = error.to_string();
            assert!(!message.contains('\n') && !message.is_empty(), "{message}");
        }
        assert_eq!(result.is_ok(), depth < 127, "depth {depth}: {result:?}");
    }
    let huge = format!(r#"{{"msg":"error","message":"{}"}}"#, "\n".repeat(1 << 20));
    let error = parse_workload_line(&huge).unwrap_err().to_string();
    assert!(!error.contains('\n'), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Suite files

fn suite_args() -> SuiteArgs {
    SuiteArgs {
        suite: "generated".into(),
        check: false,
        size: None,
        children: None,
        repeat: None,
        python: None,
        settings: RunSettingsArgs::default(),
    }
}

/// Writes `bytes` as a suite file and reads it back: a suite that loads is then planned (every
/// entry checked as a scenario run, its numbers range-checked); any refusal is one line.
fn check_suite_bytes(dir: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = dir.join("generated.json");
    std::fs::write(&path, bytes).unwrap();
    match load_suite(&path) {
        Ok(suite) => {
            if let Err(error) = plan_suite(&suite, &suite_args(), 24 << 30) {
                one_line(&error.to_string())?;
            }
        }
        Err(error) => one_line(&error.to_string())?,
    }
    Ok(())
}

#[test]
fn every_suite_file_loads_and_plans() {
    let files = suite_files();
    assert!(files.len() >= 2, "{files:?}");
    for path in files {
        let suite = load_suite(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let planned = plan_suite(&suite, &suite_args(), 24 << 30)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(planned.len(), suite.scenarios.len());
    }
}

/// A suite entry with every numeric field it takes, as extreme JSON.
fn suite_with_fields() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "size",
        "children",
        "repeat",
        "fraction",
        "object_size",
        "op",
        "scenario",
    ]);
    (
        prop::sample::select(vec![
            "array-read",
            "array-write",
            "refcount-list",
            "refcount-objsize",
            "py-list-sum",
            "nosuch",
        ]),
        prop::collection::vec((field.clone(), extreme_value()), 0..4),
        prop::collection::vec((field, extreme_value()), 0..3),
    )
        .prop_map(|(scenario, entry_fields, default_fields)| {
            let mut entry = serde_json::Map::new();
            entry.insert("scenario".into(), json!(scenario));
            entry.extend(entry_fields.into_iter().map(|(k, v)| (k.to_string(), v)));
            let defaults: serde_json::Map<String, Value> = default_fields
                .into_iter()
                .filter(|(k, _)| matches!(*k, "size" | "children" | "repeat"))
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            json!({"defaults": defaults, "scenarios": [entry]})
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn suite_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempfile::tempdir().unwrap();
        check_suite_bytes(dir.path(), &bytes)?;
    }

    #[test]
    fn suite_any_json(value in any_json()) {
        let dir = tempfile::tempdir().unwrap();
        check_suite_bytes(dir.path(), value.to_string().as_bytes())?;
        let wrapped = json!({"scenarios": [value]});
        check_suite_bytes(dir.path(), wrapped.to_string().as_bytes())?;
    }

    #[test]
    fn suite_entries_with_extreme_numbers(suite in suite_with_fields()) {
        let dir = tempfile::tempdir().unwrap();
        check_suite_bytes(dir.path(), suite.to_string().as_bytes())?;
    }

    #[test]
    fn suite_files_with_bytes_edited(
        which in any::<Index>(),
        edits in prop::collection::vec(byte_edit(), 1..4),
    ) {
        let files = suite_files();
        let text = read(&files[which.index(files.len())]);
        let dir = tempfile::tempdir().unwrap();
        check_suite_bytes(dir.path(), &apply_byte_edits(&text, &edits))?;
    }

    #[test]
    fn suite_files_with_values_replaced(
        which in any::<Index>(),
        edits in prop::collection::vec(value_edit(), 1..3),
    ) {
        let files = suite_files();
        let document: Value = serde_json::from_str(&read(&files[which.index(files.len())])).unwrap();
        let dir = tempfile::tempdir().unwrap();
        check_suite_bytes(dir.path(), apply_value_edits(&document, &edits).as_bytes())?;
    }
}

// ---------------------------------------------------------------------------------------------
// Result files

fn check_result_text(text: &str) -> Result<(), TestCaseError> {
    if let Err(error) = parse_result(text) {
        one_line(&error.to_string())?;
    }
    Ok(())
}

/// Through the file readers too: `load_result` and the compare loader (which names the side).
fn check_result_file(dir: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = dir.join("generated.json");
    std::fs::write(&path, bytes).unwrap();
    let loaded = load_result(&path);
    if let Err(error) = &loaded {
        one_line(&error.to_string())?;
    }
    match load_file(&path, Side::Current) {
        Ok(_) => prop_assert!(loaded.is_ok()),
        Err(error) => {
            prop_assert!(loaded.is_err());
            one_line(&error.to_string())?;
        }
    }
    if let Err(error) = load_side(dir, Side::Baseline) {
        one_line(&error.to_string())?;
    }
    Ok(())
}

#[test]
fn every_result_fixture_loads() {
    let files = result_fixtures();
    assert!(files.len() >= 30, "{files:?}");
    for path in &files {
        load_result(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        load_file(path, Side::Baseline).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn result_any_text(text in any_text(300)) {
        check_result_text(&text)?;
    }

    #[test]
    fn result_any_json(value in any_json()) {
        check_result_text(&value.to_string())?;
        // Past the schema check: the rest of the document is arbitrary.
        let mut versioned = json!({"schema_version": 2});
        if let Value::Object(fields) = value {
            versioned.as_object_mut().unwrap().extend(fields);
            versioned["schema_version"] = json!(2);
        }
        check_result_text(&versioned.to_string())?;
    }

    #[test]
    fn result_with_bytes_edited(edits in prop::collection::vec(byte_edit(), 1..4)) {
        let text = read(&repo(SMALL_RESULT));
        let dir = tempfile::tempdir().unwrap();
        check_result_file(dir.path(), &apply_byte_edits(&text, &edits))?;
    }

    #[test]
    fn result_with_values_replaced(
        medium in any::<bool>(),
        edits in prop::collection::vec(value_edit(), 1..4),
    ) {
        let text = read(&repo(if medium { MEDIUM_RESULT } else { SMALL_RESULT }));
        let document: Value = serde_json::from_str(&text).unwrap();
        check_result_text(&apply_value_edits(&document, &edits))?;
    }

    #[test]
    fn result_files_with_values_replaced(edits in prop::collection::vec(value_edit(), 1..3)) {
        let document: Value = serde_json::from_str(&read(&repo(SMALL_RESULT))).unwrap();
        let dir = tempfile::tempdir().unwrap();
        check_result_file(dir.path(), apply_value_edits(&document, &edits).as_bytes())?;
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions: the shrunk inputs these properties found. Each error quoted the outside text
// verbatim, line breaks included, so it ran to several lines.

fn assert_one_line(message: &str) {
    assert!(
        !message.is_empty() && !message.contains(['\n', '\r']),
        "not one line: {message:?}"
    );
}

#[test]
fn protocol_error_quoting_a_line_break_is_one_line() {
    for line in [
        // An unknown message tag (serde quotes it), and a line with a break in it.
        r#"{"msg":"a\nb","pids":[]}"#,
        "a\n0",
        "\u{e}\n\u{0}",
        r#"["\n"]"#,
        // Names the parser quotes in its own errors.
        r#"{"msg":"phase","name":"a\nb"}"#,
        r#"{"msg":"region","name":"a\r\nb","start":8192,"end":4096}"#,
    ] {
        let error = parse_workload_line(line).unwrap_err().to_string();
        assert_one_line(&error);
        assert!(error.contains("\\n") || error.contains("\\u{e}"), "{error}");
        assert_one_line(&parse_orchestrator_line(line).unwrap_err().to_string());
    }
}

#[test]
fn suite_error_quoting_a_line_break_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("suite.json");
    for text in [
        // An unknown field, a size, a scenario name and an op, each quoted by its error.
        r#"{"\n": null}"#,
        r#"{"defaults": {"size": "a\nb"}, "scenarios": [{"scenario": "array-read"}]}"#,
        r#"{"scenarios": [{"scenario": "a\nb"}]}"#,
        r#"{"scenarios": [{"scenario": "refcount-list", "op": "a\nb"}]}"#,
    ] {
        std::fs::write(&path, text).unwrap();
        let error = match load_suite(&path) {
            Err(error) => error.to_string(),
            Ok(suite) => match plan_suite(&suite, &suite_args(), 24 << 30) {
                Err(error) => error.to_string(),
                Ok(_) => panic!("accepted: {text}"),
            },
        };
        assert_one_line(&error);
        assert!(
            error.contains("a\\nb") || error.contains("`\\n`"),
            "{error}"
        );
    }
}

#[test]
fn result_error_quoting_a_line_break_is_one_line() {
    let mut document: Value = serde_json::from_str(&read(&repo(MEDIUM_RESULT))).unwrap();
    document["summary"]["copied_method"] = json!("a\nb");
    let error = parse_result(&document.to_string()).unwrap_err().to_string();
    assert_one_line(&error);
    assert!(error.contains("a\\nb"), "{error}");
    // Through the compare loader, which names the side and the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line\nbreak.json");
    std::fs::write(&path, document.to_string()).unwrap();
    assert_one_line(&load_file(&path, Side::Current).unwrap_err().to_string());
    assert_one_line(
        &load_side(dir.path(), Side::Baseline)
            .unwrap_err()
            .to_string(),
    );
}
