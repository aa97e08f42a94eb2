//! Domain errors and the exit codes they map to (documented in the README).

/// Exit codes are part of the CLI contract: CI scripts branch on them.
pub mod exit_code {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const USAGE: i32 = 2;
    /// A claim that does not hold, or a regression.
    pub const CLAIM_BROKEN: i32 = 3;
    /// Interrupted by SIGINT/SIGTERM: 128 + signal number, as shells do.
    pub const INTERRUPTED_BASE: i32 = 128;
}

#[derive(Debug, thiserror::Error)]
pub enum MemlabError {
    /// Bad command-line input: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The workload broke the phase protocol (malformed line, wrong order, silence).
    #[error("protocol error from workload '{workload}': {detail}")]
    Protocol { workload: String, detail: String },
    /// The workload did not say anything within the allowed time.
    #[error("workload '{workload}' sent nothing for {seconds} s while {waiting_for} (timeout)")]
    Timeout {
        workload: String,
        seconds: u64,
        waiting_for: String,
    },
    /// A process of the measured tree died unexpectedly.
    #[error("{0}")]
    ProcessDied(String),
    /// The preflight guard refused to start a run that could exhaust memory.
    #[error("{0}")]
    Preflight(String),
    /// A result file that cannot be used (corrupt, another schema version, nothing to
    /// compare): exit 1.
    #[error("{0}")]
    BadResult(String),
    /// memlab may not read what it must measure (another user's process): exit 1.
    #[error("{0}")]
    NotPermitted(String),
    /// SIGINT or SIGTERM arrived: the tree has been killed.
    #[error("interrupted by {name}: the workload tree was killed")]
    Interrupted { name: &'static str, signal: i32 },
}

impl MemlabError {
    pub fn exit_code(&self) -> i32 {
        match self {
            MemlabError::Usage(_) => exit_code::USAGE,
            MemlabError::Interrupted { signal, .. } => exit_code::INTERRUPTED_BASE + signal,
            _ => exit_code::ERROR,
        }
    }
}

/// Outside text (a file's content, a workload's line, a file name) made fit for a one-line
/// message: line breaks and other control characters escaped as `\n`, `\u{1b}`.
pub fn one_line(text: &str) -> String {
    if !text.contains(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// Finds the exit code for an error chain: the first [`MemlabError`] in it decides.
pub fn exit_code_for(error: &anyhow::Error) -> i32 {
    for cause in error.chain() {
        if let Some(memlab) = cause.downcast_ref::<MemlabError>() {
            return memlab.exit_code();
        }
        if cause.downcast_ref::<crate::units::SizeError>().is_some() {
            return exit_code::USAGE;
        }
    }
    exit_code::ERROR
}
