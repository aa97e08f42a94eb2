//! The marker pipe's messages, memlab's side (docs/protocol.md, "Markers from any program"):
//! one JSON object per line, parsed and checked here without any I/O, so that every rule is
//! unit-tested on bytes. A line that is not a marker is a [`LineProblem`]: one warning per
//! kind of problem, never a failure of memlab or of the program.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Deserialize;

use crate::result::run::MarkerKind;

/// The protocol version memlab speaks.
pub const PROTOCOL_VERSION: u64 = 1;
/// Longest line: what one atomic write to a pipe can hold (`PIPE_BUF`), as clients write.
pub const MAX_LINE_BYTES: usize = 4096;
/// Longest marker name (the phase-name rule); `begin`/`end` names leave room for `-begin`.
pub const MAX_NAME_CHARS: usize = 40;
pub const MAX_PHASE_NAME_CHARS: usize = MAX_NAME_CHARS - "-begin".len();
/// Most markers measured in one run: each is a pass of the whole tree and a phase.
pub const MAX_MARKERS: u64 = 200;
/// Markers measured back to back at most, then at most [`MARKERS_PER_SECOND`]: each costs a
/// pass of the whole tree, and a program marking in a tight loop must not make memlab spin.
pub const MARKER_BURST: u32 = 20;
pub const MARKERS_PER_SECOND: u32 = 10;

/// A marker as the program sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub kind: MarkerKind,
    pub name: String,
    /// The sender's pid.
    pub pid: i32,
    /// `checkpoint` only: the sender's fd to answer on (`/proc/PID/fd/R`).
    pub reply_fd: Option<i32>,
}

impl Marker {
    /// The phase this marker becomes (before repeats are made unique).
    pub fn phase_name(&self) -> String {
        self.kind.phase_name(&self.name)
    }
}

/// One line of the marker pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Marker(Marker),
    /// `--pid … --markers-fd`: the sender is done; memlab takes a last pass and ends.
    Stop {
        pid: i32,
    },
}

/// Why a line is not a message. `kind` groups problems for the one-warning-per-kind rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub kind: ProblemKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// Not JSON, not an object, another version, an unknown type, a field missing.
    Malformed,
    /// A name that breaks the phase-name rule.
    BadName,
    /// Longer than [`MAX_LINE_BYTES`].
    TooLong,
    /// Sent by a process that is not in the followed tree.
    ForeignPid,
    /// Beyond [`MARKER_BURST`] / [`MARKERS_PER_SECOND`].
    TooFast,
    /// Beyond [`MAX_MARKERS`].
    TooMany,
    /// A `stop` where memlab started the command itself.
    StopIgnored,
    /// A checkpoint's answer could not be delivered.
    Reply,
    /// A marker that came when no process of the tree was alive any more to measure (its sender
    /// exited right after sending it).
    NothingAlive,
}

impl ProblemKind {
    /// What memlab does about lines of this kind, said once in the warning.
    fn consequence(self) -> &'static str {
        match self {
            ProblemKind::Malformed
            | ProblemKind::BadName
            | ProblemKind::TooLong
            | ProblemKind::ForeignPid => "ignored (and any like it)",
            ProblemKind::TooFast => "the excess is not measured",
            ProblemKind::TooMany => "later markers are not measured",
            ProblemKind::StopIgnored => "ignored: memlab runs until the command ends",
            ProblemKind::Reply => "that checkpoint waits for its own timeout",
            ProblemKind::NothingAlive => "not measured (counted as dropped)",
        }
    }
}

fn problem(kind: ProblemKind, detail: impl Into<String>) -> LineProblem {
    LineProblem {
        kind,
        detail: detail.into(),
    }
}

/// 1..=`max_chars` characters of `a-z 0-9 _ -`.
pub fn is_valid_name(name: &str, max_chars: usize) -> bool {
    (1..=max_chars).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The fields memlab reads; others are ignored.
#[derive(Deserialize)]
struct Wire {
    v: Option<serde_json::Value>,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<serde_json::Value>,
    pid: Option<serde_json::Value>,
    reply_fd: Option<serde_json::Value>,
}

/// A non-negative integer that fits an i32 (pids and fds).
fn small_integer(value: &Option<serde_json::Value>) -> Option<i32> {
    value.as_ref()?.as_u64().and_then(|n| i32::try_from(n).ok())
}

/// A line (without its `\n`) as a message, or why it is not one.
pub fn parse_line(line: &[u8]) -> Result<Message, LineProblem> {
    let shown = || String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
    let wire: Wire = serde_json::from_slice(line).map_err(|_| {
        problem(
            ProblemKind::Malformed,
            format!("not a JSON object: {}", shown()),
        )
    })?;
    if wire.v.as_ref().and_then(serde_json::Value::as_u64) != Some(PROTOCOL_VERSION) {
        return Err(problem(
            ProblemKind::Malformed,
            format!("not version {PROTOCOL_VERSION}: {}", shown()),
        ));
    }
    let pid = small_integer(&wire.pid)
        .filter(|pid| *pid > 0)
        .ok_or_else(|| problem(ProblemKind::Malformed, format!("no pid: {}", shown())))?;
    let kind = match wire.kind.as_deref() {
        Some("mark") => MarkerKind::Mark,
        Some("begin") => MarkerKind::Begin,
        Some("end") => MarkerKind::End,
        Some("checkpoint") => MarkerKind::Checkpoint,
        Some("stop") => return Ok(Message::Stop { pid }),
        _ => {
            return Err(problem(
                ProblemKind::Malformed,
                format!("unknown type: {}", shown()),
            ));
        }
    };
    let max_chars = match kind {
        MarkerKind::Begin | MarkerKind::End => MAX_PHASE_NAME_CHARS,
        MarkerKind::Mark | MarkerKind::Checkpoint => MAX_NAME_CHARS,
    };
    let name = match &wire.name {
        Some(serde_json::Value::String(name)) if is_valid_name(name, max_chars) => name.clone(),
        Some(serde_json::Value::String(name)) => {
            let name: String = name.chars().take(60).collect();
            return Err(problem(
                ProblemKind::BadName,
                format!("{:?} is not 1-{max_chars} characters of a-z 0-9 _ -", name),
            ));
        }
        _ => {
            return Err(problem(
                ProblemKind::Malformed,
                format!("no name: {}", shown()),
            ));
        }
    };
    let reply_fd = match kind {
        MarkerKind::Checkpoint => Some(small_integer(&wire.reply_fd).ok_or_else(|| {
            problem(
                ProblemKind::Malformed,
                format!("a checkpoint without reply_fd: {}", shown()),
            )
        })?),
        _ => None,
    };
    Ok(Message::Marker(Marker {
        kind,
        name,
        pid,
        reply_fd,
    }))
}

/// What one read of the pipe yields, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE_BYTES`], skipped up to its end.
    TooLong,
}

/// Splits the pipe's bytes into lines of at most [`MAX_LINE_BYTES`], holding at most that
/// much between reads.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// Inside a line already found too long: skip to its end.
    skipping: bool,
}

impl LineSplitter {
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Piece>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let newline = rest.iter().position(|b| *b == b'\n');
            let (chunk, ends_line) = match newline {
                Some(at) => (&rest[..at], true),
                None => (rest, false),
            };
            rest = match newline {
                Some(at) => &rest[at + 1..],
                None => &[],
            };
            if !self.skipping {
                if self.partial.len() + chunk.len() > MAX_LINE_BYTES {
                    self.partial.clear();
                    self.skipping = true;
                    out.push(Piece::TooLong);
                } else {
                    self.partial.extend_from_slice(chunk);
                }
            }
            if ends_line {
                if !self.skipping && !self.partial.is_empty() {
                    out.push(Piece::Line(std::mem::take(&mut self.partial)));
                }
                self.partial.clear();
                self.skipping = false;
            }
        }
    }
}

/// A token bucket: [`MARKER_BURST`] markers at once, then [`MARKERS_PER_SECOND`].
#[derive(Debug, Clone)]
pub struct RateLimit {
    tokens: f64,
    last: Option<Instant>,
    burst: f64,
    per_second: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(MARKER_BURST, MARKERS_PER_SECOND)
    }
}

impl RateLimit {
    pub fn new(burst: u32, per_second: u32) -> RateLimit {
        RateLimit {
            tokens: burst as f64,
            last: None,
            burst: burst as f64,
            per_second: per_second as f64,
        }
    }

    /// Whether one more marker may be measured at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last);
            self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The warnings about markers: one line on memlab's stderr per kind of problem, all kept for
/// the result. Shared by the reader thread and the follow loop.
#[derive(Debug, Default)]
pub struct Warnings {
    given: Mutex<BTreeMap<ProblemKind, String>>,
}

impl Warnings {
    /// Prints the first problem of its kind; later ones of that kind only count.
    pub fn warn(&self, line: &LineProblem) {
        let mut given = self.given.lock().unwrap_or_else(|e| e.into_inner());
        if given.contains_key(&line.kind) {
            return;
        }
        let text = format!("marker pipe: {}; {}", line.detail, line.kind.consequence());
        eprintln!("memlab: warning: {text}");
        given.insert(line.kind, text);
    }

    pub fn texts(&self) -> Vec<String> {
        let given = self.given.lock().unwrap_or_else(|e| e.into_inner());
        given.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests;
