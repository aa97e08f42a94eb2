//! The phase protocol between the orchestrator and a workload (see `docs/protocol.md`).
//!
//! One JSON object per line. The workload writes to its stdout; the orchestrator answers on the
//! workload's stdin. Every message carries a `msg` tag. Unknown fields are ignored (so a newer
//! workload can add some); unknown `msg` values and malformed lines are errors.

pub mod client;
pub mod params;

use serde::{Deserialize, Serialize};

use crate::error::one_line;

/// The protocol version this build speaks. A workload announces its own in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A line longer than this is refused: a workload that floods the pipe is broken.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Messages a workload sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum WorkloadMessage {
    /// First message: who is speaking, and which protocol version.
    Hello {
        protocol: u32,
        workload: String,
        pid: i32,
        /// Free-form runtime description, e.g. the Python version.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        runtime: Option<String>,
    },
    /// An address range holding the workload's data, in the announcing process.
    Region { name: String, start: u64, end: u64 },
    /// Pids of processes the workload forked (cumulative: later messages add to earlier ones).
    Children { pids: Vec<i32> },
    /// A quiet, well-defined moment: the workload blocks until the orchestrator says `go`.
    Phase { name: String },
    /// A value the workload measured itself (a timing, a check) and wants in the result.
    Fact {
        name: String,
        value: serde_json::Value,
    },
    /// The workload cannot run here (missing dependency); not an error.
    Skip {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        install: Option<String>,
    },
    /// The workload failed; it exits non-zero after sending this.
    Error { message: String },
    /// Last message: the workload has released its children and is about to exit 0.
    Done,
}

/// Messages the orchestrator sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum OrchestratorMessage {
    /// Continue past the current phase.
    Go,
    /// Stop now: clean up and exit.
    Abort { reason: String },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("line of {0} bytes exceeds the {MAX_LINE_BYTES}-byte limit")]
    TooLong(usize),
    #[error("empty line")]
    Empty,
    /// `reason` and `excerpt` are one line each (control characters escaped).
    #[error("not a protocol message ({reason}): {excerpt}")]
    Malformed { reason: String, excerpt: String },
    #[error(
        "phase name '{}' must be 1-40 characters of a-z, 0-9, '_' or '-'",
        one_line(.0)
    )]
    BadPhaseName(String),
    #[error(
        "region '{}' is empty or reversed (start {start:#x}, end {end:#x})",
        one_line(name)
    )]
    BadRegion { name: String, start: u64, end: u64 },
}

/// The start of a line, for messages: one line, whatever the workload sent.
fn excerpt(line: &str) -> String {
    const KEEP: usize = 120;
    if line.len() <= KEEP {
        one_line(line)
    } else {
        let mut cut = KEEP;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", one_line(&line[..cut]))
    }
}

fn malformed(error: serde_json::Error, line: &str) -> ParseError {
    ParseError::Malformed {
        reason: one_line(&error.to_string()),
        excerpt: excerpt(line),
    }
}

/// The phases memlab's scenarios announce, in order (docs/protocol.md); a scenario may add
/// its own.
pub const STANDARD_PHASES: [&str; 4] = ["baseline", "allocated", "forked", "operated"];

pub fn is_valid_phase_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Parses and validates one line sent by a workload.
pub fn parse_workload_line(line: &str) -> Result<WorkloadMessage, ParseError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(ParseError::TooLong(line.len()));
    }
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    let message: WorkloadMessage =
        serde_json::from_str(trimmed).map_err(|error| malformed(error, trimmed))?;
    match &message {
        WorkloadMessage::Phase { name } if !is_valid_phase_name(name) => {
            Err(ParseError::BadPhaseName(name.clone()))
        }
        WorkloadMessage::Region { name, start, end } if end <= start => {
            Err(ParseError::BadRegion {
                name: name.clone(),
                start: *start,
                end: *end,
            })
        }
        _ => Ok(message),
    }
}

/// Parses one line sent by the orchestrator (used by the Rust workload client).
pub fn parse_orchestrator_line(line: &str) -> Result<OrchestratorMessage, ParseError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(ParseError::TooLong(line.len()));
    }
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Err(ParseError::Empty);
    }
    serde_json::from_str(trimmed).map_err(|error| malformed(error, trimmed))
}

/// Encodes a message as one line, newline included.
pub fn encode<T: Serialize>(message: &T) -> String {
    let mut line = serde_json::to_string(message).expect("protocol messages always serialise");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_workload_message() {
        let cases = [
            (
                r#"{"msg":"hello","protocol":1,"workload":"array-read","pid":42}"#,
                WorkloadMessage::Hello {
                    protocol: 1,
                    workload: "array-read".into(),
                    pid: 42,
                    runtime: None,
                },
            ),
            (
                r#"{"msg":"region","name":"data","start":4096,"end":8192}"#,
                WorkloadMessage::Region {
                    name: "data".into(),
                    start: 4096,
                    end: 8192,
                },
            ),
            (
                r#"{"msg":"children","pids":[7,8]}"#,
                WorkloadMessage::Children { pids: vec![7, 8] },
            ),
            (
                r#"{"msg":"phase","name":"forked"}"#,
                WorkloadMessage::Phase {
                    name: "forked".into(),
                },
            ),
            (
                r#"{"msg":"fact","name":"writes_visible","value":true}"#,
                WorkloadMessage::Fact {
                    name: "writes_visible".into(),
                    value: serde_json::json!(true),
                },
            ),
            (
                r#"{"msg":"skip","reason":"no ray","install":"make venv"}"#,
                WorkloadMessage::Skip {
                    reason: "no ray".into(),
                    install: Some("make venv".into()),
                },
            ),
            (
                r#"{"msg":"error","message":"boom"}"#,
                WorkloadMessage::Error {
                    message: "boom".into(),
                },
            ),
            (r#"{"msg":"done"}"#, WorkloadMessage::Done),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_workload_line(line), Ok(expected.clone()), "{line}");
            // What we encode, we parse back.
            assert_eq!(parse_workload_line(&encode(&expected)), Ok(expected));
        }
    }

    #[test]
    fn ignores_unknown_fields_for_forward_compatibility() {
        let line = r#"{"msg":"phase","name":"operated","elapsed_s":1.5}"#;
        assert_eq!(
            parse_workload_line(line),
            Ok(WorkloadMessage::Phase {
                name: "operated".into()
            })
        );
    }

    #[test]
    fn rejects_malformed_lines_with_an_excerpt() {
        for line in [
            "hello",
            "{",
            r#"{"msg":"teleport"}"#,
            r#"{"name":"forked"}"#,
            r#"{"msg":"phase"}"#,
            r#"{"msg":"children","pids":"7"}"#,
            r#"[1,2,3]"#,
        ] {
            match parse_workload_line(line) {
                Err(ParseError::Malformed { excerpt, .. }) => assert!(!excerpt.is_empty()),
                other => panic!("{line:?} gave {other:?}"),
            }
        }
        assert_eq!(parse_workload_line("   "), Err(ParseError::Empty));
        let huge = format!(
            r#"{{"msg":"error","message":"{}"}}"#,
            "x".repeat(MAX_LINE_BYTES)
        );
        assert!(matches!(
            parse_workload_line(&huge),
            Err(ParseError::TooLong(_))
        ));
    }

    #[test]
    fn validates_phase_names_and_regions() {
        assert_eq!(
            parse_workload_line(r#"{"msg":"phase","name":"Forked Now"}"#),
            Err(ParseError::BadPhaseName("Forked Now".into()))
        );
        assert!(matches!(
            parse_workload_line(r#"{"msg":"region","name":"data","start":8192,"end":4096}"#),
            Err(ParseError::BadRegion { .. })
        ));
    }

    #[test]
    fn parses_orchestrator_messages() {
        assert_eq!(
            parse_orchestrator_line("{\"msg\":\"go\"}\n"),
            Ok(OrchestratorMessage::Go)
        );
        assert_eq!(
            parse_orchestrator_line(r#"{"msg":"abort","reason":"timeout"}"#),
            Ok(OrchestratorMessage::Abort {
                reason: "timeout".into()
            })
        );
        assert!(parse_orchestrator_line("go").is_err());
    }
}
