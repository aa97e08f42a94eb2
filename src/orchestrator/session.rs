//! Drives one workload through the phase protocol and measures the tree at every phase.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::error::MemlabError;
use crate::kernel::tree::descendants;
use crate::measure::guard::{self, TreeGuard, describe_status};
use crate::measure::sampler::{Sampler, SamplerConfig};
use crate::measure::snapshot::TreeMeasurement;
use crate::protocol::{
    self, MAX_LINE_BYTES, OrchestratorMessage, PROTOCOL_VERSION, WorkloadMessage,
};
use crate::result::{Phase, Region, Skip, Timeline};

/// How long a workload may take to say hello (Python importing numpy counts).
pub const DEFAULT_HELLO_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a workload may stay silent between two messages.
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a workload may take to exit after `done`.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// What one run may send at most: a workload that floods memlab is broken, and memlab must not
/// grow with it (nor write a result of its size).
pub const MAX_MESSAGES: usize = 100_000;
pub const MAX_FACTS: usize = 512;
pub const MAX_FACT_BYTES: usize = 4 << 20;
pub const MAX_REGIONS: usize = 64;
pub const MAX_ANNOUNCED_CHILDREN: usize = 4096;
/// Lines the reader may read ahead of memlab: it blocks beyond (no unbounded queue).
const READ_AHEAD_LINES: usize = 64;
/// How often the wait loop looks for a signal while the workload is silent.
const POLL: Duration = Duration::from_millis(50);

pub struct SessionOptions {
    pub hello_timeout: Duration,
    pub message_timeout: Duration,
    /// Echo the workload's stderr as it comes (otherwise it is kept for error messages).
    pub echo_stderr: bool,
    /// Hold the tree after measuring this phase until a line arrives on stdin.
    pub pause_at: Option<String>,
    /// The timeline sampler's settings; None: no timeline.
    pub sampler: Option<SamplerConfig>,
    /// Take the CPython census of each child's copied and child-only pages at every phase.
    pub census: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            hello_timeout: DEFAULT_HELLO_TIMEOUT,
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
            echo_stderr: false,
            pause_at: None,
            sampler: Some(SamplerConfig::default()),
            census: false,
        }
    }
}

/// Everything a workload said and everything measured while it ran.
#[derive(Debug, Default)]
pub struct SessionOutcome {
    pub workload_pid: i32,
    pub runtime: Option<String>,
    pub regions: Vec<Region>,
    pub children: Vec<i32>,
    pub phases: Vec<Phase>,
    pub facts: BTreeMap<String, serde_json::Value>,
    pub skip: Option<Skip>,
    pub wall_seconds: f64,
    pub timeline: Timeline,
}

/// Called at each phase, after it was measured (progress display).
pub type PhaseObserver<'a> = dyn FnMut(&Phase) + 'a;

enum Incoming {
    Line(String),
    TooLong(usize),
    Closed,
    Failed(std::io::Error),
}

/// Runs `command` as a workload named `workload` and returns what it reported and what was
/// measured. The workload tree is gone when this returns, whatever the outcome.
pub fn run_session(
    workload: &str,
    mut command: Command,
    options: &SessionOptions,
    observer: &mut PhaseObserver<'_>,
) -> anyhow::Result<SessionOutcome> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut tree =
        TreeGuard::spawn(command).with_context(|| format!("starting workload '{workload}'"))?;
    let stdin = tree.child_mut().stdin.take().expect("piped");
    let stdout = tree.child_mut().stdout.take().expect("piped");
    let stderr = tree.child_mut().stderr.take().expect("piped");
    let lines = spawn_line_reader(stdout);
    let stderr_tail = spawn_stderr_keeper(stderr, options.echo_stderr);
    let sampler = match options.sampler {
        Some(config) => {
            Some(Sampler::start(tree.pid(), started, config).context("starting the sampler")?)
        }
        None => None,
    };

    let mut session = Session {
        workload,
        tree: &mut tree,
        stdin,
        lines,
        options,
        outcome: SessionOutcome::default(),
        started,
        said_hello: false,
        done: false,
        messages: 0,
        fact_bytes: 0,
        measurement: if options.census {
            TreeMeasurement::with_census()
        } else {
            TreeMeasurement::default()
        },
        sampler,
    };
    let result = session.converse(observer);
    let mut outcome = std::mem::take(&mut session.outcome);
    if let Some(sampler) = session.sampler.take() {
        outcome.timeline = sampler.finish();
    }
    drop(session);
    outcome.wall_seconds = started.elapsed().as_secs_f64();
    tree.finish();
    result.map_err(|error| attach_stderr(error, &stderr_tail))?;
    Ok(outcome)
}

struct Session<'a> {
    workload: &'a str,
    tree: &'a mut TreeGuard,
    stdin: ChildStdin,
    lines: Receiver<Incoming>,
    options: &'a SessionOptions,
    outcome: SessionOutcome,
    started: Instant,
    said_hello: bool,
    done: bool,
    /// Messages received, and bytes of facts kept: capped (see MAX_MESSAGES…).
    messages: usize,
    fact_bytes: usize,
    measurement: TreeMeasurement,
    sampler: Option<Sampler>,
}

impl Session<'_> {
    fn protocol_error(&self, detail: impl Into<String>) -> anyhow::Error {
        MemlabError::Protocol {
            workload: self.workload.to_string(),
            detail: detail.into(),
        }
        .into()
    }

    fn converse(&mut self, observer: &mut PhaseObserver<'_>) -> anyhow::Result<()> {
        self.outcome.workload_pid = self.tree.pid();
        loop {
            let message = match self.next_message()? {
                Some(message) => message,
                None => return self.workload_ended_early(),
            };
            self.messages += 1;
            if self.messages > MAX_MESSAGES {
                return Err(self.protocol_error(format!(
                    "sent more than {MAX_MESSAGES} messages (the protocol's limit per run)"
                )));
            }
            if !self.said_hello && !matches!(message, WorkloadMessage::Hello { .. }) {
                return Err(
                    self.protocol_error(format!("first message must be 'hello', got {message:?}"))
                );
            }
            match message {
                WorkloadMessage::Hello {
                    protocol, runtime, ..
                } => {
                    if self.said_hello {
                        return Err(self.protocol_error("second 'hello'"));
                    }
                    if protocol != PROTOCOL_VERSION {
                        return Err(self.protocol_error(format!(
                            "speaks protocol version {protocol}, memlab speaks {PROTOCOL_VERSION}"
                        )));
                    }
                    self.said_hello = true;
                    self.outcome.runtime = runtime;
                }
                WorkloadMessage::Region { name, start, end } => {
                    if self.outcome.regions.len() >= MAX_REGIONS {
                        return Err(self.protocol_error(format!(
                            "declared more than {MAX_REGIONS} regions (the protocol's limit)"
                        )));
                    }
                    self.outcome.regions.push(Region { name, start, end });
                }
                WorkloadMessage::Children { pids } => {
                    // Only the workload's own tree is measured: an announced pid must be one
                    // of its descendants, never a process elsewhere on the machine.
                    let tree = descendants(self.tree.pid());
                    for pid in pids {
                        if pid <= 0 {
                            return Err(
                                self.protocol_error(format!("child pid {pid} is not a pid"))
                            );
                        }
                        if !tree.contains(&pid) {
                            return Err(self.protocol_error(format!(
                                "announced child pid {pid}, which is not a process of the \
                                 workload's tree: memlab measures only the tree it started"
                            )));
                        }
                        if !self.outcome.children.contains(&pid) {
                            self.outcome.children.push(pid);
                        }
                    }
                    if self.outcome.children.len() > MAX_ANNOUNCED_CHILDREN {
                        return Err(self.protocol_error(format!(
                            "announced more than {MAX_ANNOUNCED_CHILDREN} children"
                        )));
                    }
                    self.marker("children", &self.outcome.children.len().to_string());
                    if let Some(sampler) = &self.sampler {
                        sampler.set_children(&self.outcome.children);
                    }
                }
                WorkloadMessage::Fact { name, value } => {
                    self.fact_bytes += name.len() + value.to_string().len();
                    if self.fact_bytes > MAX_FACT_BYTES {
                        return Err(self.protocol_error(format!(
                            "sent more than {} of facts (the protocol's limit per run)",
                            crate::units::format_bytes(MAX_FACT_BYTES as u64)
                        )));
                    }
                    self.outcome.facts.insert(name, value);
                    if self.outcome.facts.len() > MAX_FACTS {
                        return Err(self.protocol_error(format!(
                            "sent more than {MAX_FACTS} facts (the protocol's limit per run)"
                        )));
                    }
                }
                WorkloadMessage::Phase { name } => {
                    if self.outcome.phases.iter().any(|p| p.name == name) {
                        return Err(self.protocol_error(format!("phase '{name}' announced twice")));
                    }
                    self.marker("phase", &name);
                    // The children's operation runs from the go after `forked` to `operated`.
                    if name == "operated" {
                        self.marker("operation-end", "");
                    }
                    let phase = self.measure_phase(name)?;
                    observer(&phase);
                    let pause = self.options.pause_at.as_deref() == Some(phase.name.as_str());
                    self.outcome.phases.push(phase);
                    if pause {
                        self.pause()?;
                    }
                    self.send(&OrchestratorMessage::Go)?;
                    if self
                        .outcome
                        .phases
                        .last()
                        .is_some_and(|p| p.name == "forked")
                    {
                        self.marker("operation-start", "");
                    }
                }
                WorkloadMessage::Skip { reason, install } => {
                    self.outcome.skip = Some(Skip { reason, install });
                    self.done = true;
                    return self.wait_for_exit(true);
                }
                WorkloadMessage::Error { message } => {
                    let _ = self.tree.wait_timeout(Duration::from_secs(5));
                    return Err(MemlabError::ProcessDied(format!(
                        "workload '{}' failed: {message}",
                        self.workload
                    ))
                    .into());
                }
                WorkloadMessage::Done => {
                    self.marker("done", "");
                    self.done = true;
                    return self.wait_for_exit(false);
                }
            }
        }
    }

    fn marker(&self, kind: &str, name: &str) {
        if let Some(sampler) = &self.sampler {
            sampler.event(kind, name);
        }
    }

    /// Waits for the next line, watching for signals and the per-message timeout.
    fn next_message(&mut self) -> anyhow::Result<Option<WorkloadMessage>> {
        let limit = if self.said_hello {
            self.options.message_timeout
        } else {
            self.options.hello_timeout
        };
        let deadline = Instant::now() + limit;
        loop {
            if let Some(signal) = guard::interrupted() {
                return Err(MemlabError::Interrupted {
                    name: guard::signal_name(signal),
                    signal,
                }
                .into());
            }
            let now = Instant::now();
            if now >= deadline {
                let waiting_for = if self.said_hello {
                    "running"
                } else {
                    "starting (no hello)"
                };
                return Err(MemlabError::Timeout {
                    workload: self.workload.to_string(),
                    seconds: limit.as_secs(),
                    waiting_for: waiting_for.to_string(),
                }
                .into());
            }
            match self.lines.recv_timeout(POLL.min(deadline - now)) {
                Ok(Incoming::Line(line)) => {
                    return protocol::parse_workload_line(&line)
                        .map(Some)
                        .map_err(|error| self.protocol_error(error.to_string()));
                }
                Ok(Incoming::TooLong(bytes)) => {
                    return Err(self.protocol_error(format!(
                        "line longer than {MAX_LINE_BYTES} bytes ({bytes} read)"
                    )));
                }
                Ok(Incoming::Failed(error)) => {
                    return Err(
                        anyhow::Error::new(error).context("reading the workload's protocol pipe")
                    );
                }
                Ok(Incoming::Closed) | Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Timeout) => continue,
            }
        }
    }

    /// Holds the quiet tree so it can be inspected with other tools; Enter (or EOF) resumes.
    fn pause(&mut self) -> anyhow::Result<()> {
        let phase = self
            .outcome
            .phases
            .last()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let children: Vec<String> = self
            .outcome
            .children
            .iter()
            .map(|p| p.to_string())
            .collect();
        eprintln!(
            "paused at phase '{phase}': workload pid {}, children [{}]; press Enter to continue",
            self.tree.pid(),
            children.join(", ")
        );
        let (sender, receiver) = channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            let _ = sender.send(());
        });
        loop {
            if let Some(signal) = guard::interrupted() {
                return Err(MemlabError::Interrupted {
                    name: guard::signal_name(signal),
                    signal,
                }
                .into());
            }
            match receiver.recv_timeout(POLL) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Err(RecvTimeoutError::Timeout) => continue,
            }
        }
    }

    fn send(&mut self, message: &OrchestratorMessage) -> anyhow::Result<()> {
        let line = protocol::encode(message);
        if self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|_| self.stdin.flush())
            .is_err()
        {
            return self.workload_ended_early();
        }
        Ok(())
    }

    fn measure_phase(&mut self, name: String) -> anyhow::Result<Phase> {
        let time_s = self.started.elapsed().as_secs_f64();
        let snapshot = self.measurement.measure(
            self.tree.pid(),
            &self.outcome.children,
            &self.outcome.regions,
        )?;
        if let Some(sampler) = &self.sampler {
            sampler.record(crate::measure::sampler::rollup_sample(
                time_s,
                &snapshot.processes,
            ));
        }
        Ok(Phase {
            name,
            time_s,
            processes: snapshot.processes,
            meminfo: snapshot.meminfo,
            tree: snapshot.tree,
        })
    }

    /// The protocol pipe closed before `done`: say how the workload ended.
    fn workload_ended_early(&mut self) -> anyhow::Result<()> {
        if let Some(signal) = guard::interrupted() {
            return Err(MemlabError::Interrupted {
                name: guard::signal_name(signal),
                signal,
            }
            .into());
        }
        let how = match self.tree.wait_timeout(Duration::from_secs(5)) {
            Ok(Some(status)) => describe_status(status),
            _ => "closed its protocol pipe but is still running".to_string(),
        };
        Err(MemlabError::ProcessDied(format!(
            "workload '{}' {how} before finishing the protocol",
            self.workload
        ))
        .into())
    }

    /// After `done` or `skip`: the workload has EXIT_TIMEOUT to exit. Whatever it still writes
    /// is read and dropped (a full pipe would block it), and counted for the message.
    fn wait_for_exit(&mut self, skipped: bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let mut lines_after = 0usize;
        let status = loop {
            if let Some(status) = self.tree.wait_timeout(Duration::ZERO)? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            match self.lines.recv_timeout(Duration::from_millis(5)) {
                Ok(Incoming::Line(_) | Incoming::TooLong(_)) => lines_after += 1,
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        match status {
            Some(status) if status.success() => Ok(()),
            Some(status) if skipped => {
                // A skip is a report, not a failure; the exit code is informative only.
                let _ = status;
                Ok(())
            }
            Some(status) => Err(MemlabError::ProcessDied(format!(
                "workload '{}' said done but {}",
                self.workload,
                describe_status(status)
            ))
            .into()),
            None => Err(MemlabError::ProcessDied(format!(
                "workload '{}' said {} but was still running {} s later{}",
                self.workload,
                if skipped { "skip" } else { "done" },
                EXIT_TIMEOUT.as_secs(),
                if lines_after > 0 {
                    format!(", still writing to its protocol pipe ({lines_after} lines after it)")
                } else {
                    String::new()
                }
            ))
            .into()),
        }
    }
}

fn spawn_line_reader(stdout: impl Read + Send + 'static) -> Receiver<Incoming> {
    let (sender, receiver) = sync_channel(READ_AHEAD_LINES);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut buffer = Vec::new();
            // One byte over the limit tells a long line from a full one.
            let read = (&mut reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut buffer);
            let message = match read {
                Ok(0) => Incoming::Closed,
                Ok(n) if n > MAX_LINE_BYTES => Incoming::TooLong(n),
                Ok(_) => Incoming::Line(String::from_utf8_lossy(&buffer).into_owned()),
                Err(error) => Incoming::Failed(error),
            };
            let last = !matches!(message, Incoming::Line(_));
            if sender.send(message).is_err() || last {
                return;
            }
        }
    });
    receiver
}

const STDERR_TAIL_LINES: usize = 20;

fn spawn_stderr_keeper(
    stderr: impl Read + Send + 'static,
    echo: bool,
) -> Arc<Mutex<VecDeque<String>>> {
    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let keeper = Arc::clone(&tail);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if echo {
                eprintln!("  | {line}");
            }
            let mut tail = keeper.lock().unwrap_or_else(|e| e.into_inner());
            if tail.len() == STDERR_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    });
    tail
}

fn attach_stderr(error: anyhow::Error, tail: &Arc<Mutex<VecDeque<String>>>) -> anyhow::Error {
    // Give the keeper a moment to drain what the dying workload wrote last.
    std::thread::sleep(Duration::from_millis(20));
    let interrupted = matches!(
        error.downcast_ref::<MemlabError>(),
        Some(MemlabError::Interrupted { .. })
    );
    let tail = tail.lock().unwrap_or_else(|e| e.into_inner());
    if !tail.is_empty() && !interrupted {
        // Shown before memlab's own one-line error, which stays the last line.
        eprintln!("workload stderr (last {} lines):", tail.len());
        for line in tail.iter() {
            eprintln!("  | {line}");
        }
    }
    error
}
