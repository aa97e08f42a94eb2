//! `memlab run`: what to follow, how often to measure it, and the CI limits.

use std::path::PathBuf;
use std::time::Duration;

use super::usage;
use crate::cli::RunArgs;
use crate::error::MemlabError;
use crate::follow::{RunLimits, RunTarget};
use crate::measure::sampler::SamplerConfig;
use crate::result::files::result_path;

/// Shortest `--interval`: below it, passes would only repeat the polls' work.
pub const MIN_INTERVAL_MS: u64 = 10;
/// Longest `--interval`: an hour.
pub const MAX_INTERVAL_MS: u64 = 3_600_000;

/// `memlab run`'s arguments, validated.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub target: RunTarget,
    /// `--at MARK`: the marker phase the headline is taken at.
    pub at: Option<String>,
    /// `--markers-fd FD` (with `--pid`): an inherited pipe to read markers from.
    pub markers_fd: Option<i32>,
    /// `--grace`: how long the command has to exit after a forwarded signal.
    pub grace: Duration,
    /// `--keep`: what the command leaves running is followed, then left running.
    pub keep: bool,
    /// Censuses of the forked CPython children's copied pages (`--no-census`: false).
    pub census: bool,
    pub interval: Duration,
    pub sampler: Option<SamplerConfig>,
    pub limits: RunLimits,
    pub json: bool,
    /// `DIR/NAME.json`.
    pub result_path: PathBuf,
}

impl RunOptions {
    /// How the run is named in its markers and messages: the command line, or `pid PID`.
    pub fn label(&self) -> String {
        match &self.target {
            RunTarget::Pid(pid) => format!("pid {pid}"),
            RunTarget::Command(argv) => argv.join(" "),
        }
    }
}

/// memlab and its ancestors: a tree holding any of them would hold the measuring process.
fn memlab_and_ancestors() -> Vec<i32> {
    let mut chain = vec![std::process::id() as i32];
    while let Some(parent) = crate::kernel::tree::parent_of(*chain.last().unwrap_or(&1)) {
        if parent <= 0 || chain.contains(&parent) {
            break;
        }
        chain.push(parent);
    }
    chain
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn run_options(args: &RunArgs) -> Result<RunOptions, MemlabError> {
    let target = match (args.pid, args.command.is_empty()) {
        (None, true) => {
            return Err(usage(
                "memlab run needs a command (memlab run -- COMMAND ARGS…) or --pid PID",
            ));
        }
        (Some(_), false) => {
            return Err(usage("memlab run takes a command or --pid PID, not both"));
        }
        (Some(pid), true) => RunTarget::Pid(pid),
        (None, false) => RunTarget::Command(args.command.clone()),
    };
    if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&args.interval) {
        return Err(usage(format!(
            "--interval must be between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS} ms, got {}",
            args.interval
        )));
    }
    if !valid_name(&args.name) {
        return Err(usage(format!(
            "--name must be letters, digits, '-', '_' or '.' (not first), got '{}'",
            args.name
        )));
    }
    if let RunTarget::Pid(pid) = target {
        if pid <= 0 {
            return Err(usage(format!("--pid must be a process id, got {pid}")));
        }
        if !crate::kernel::tree::is_alive(pid) {
            return Err(usage(format!("--pid {pid}: no such running process")));
        }
        // memlab leaves itself out of the tree it follows, so it may follow the process that
        // started it (a test runner's plugin); any further ancestor is a mistake.
        let ancestors = memlab_and_ancestors();
        let own_parent = ancestors.get(1) == Some(&pid) && pid != 1;
        if ancestors.contains(&pid) && !own_parent {
            return Err(usage(format!(
                "--pid {pid}: memlab itself runs inside that tree, and the measuring process \
                 must never be part of what it measures"
            )));
        }
        check_readable(pid)?;
    }
    if let Some(mark) = &args.at
        && !crate::follow::markers::is_valid_name(mark, crate::follow::markers::MAX_NAME_CHARS)
    {
        return Err(usage(format!(
            "--at must name a marker phase: 1-40 characters of a-z 0-9 _ -, got '{mark}'"
        )));
    }
    if let Some(fd) = args.markers_fd {
        crate::follow::marker_pipe::check_inherited(fd).map_err(usage)?;
    }
    Ok(RunOptions {
        target,
        at: args.at.clone(),
        markers_fd: args.markers_fd,
        keep: args.keep,
        census: !args.no_census,
        grace: Duration::try_from_secs_f64(args.grace)
            .ok()
            .filter(|_| args.grace.is_finite())
            .ok_or_else(|| {
                usage(format!(
                    "--grace must be a number of seconds >= 0, got {}",
                    args.grace
                ))
            })?,
        interval: Duration::from_millis(args.interval),
        sampler: super::sample_interval(args.sample_interval)?,
        limits: RunLimits {
            max_copied_per_child_bytes: args.max_copied_per_child.map(|s| s.0),
            max_tree_unique_bytes: args.max_tree_unique.map(|s| s.0),
        },
        json: args.json,
        result_path: result_path(&args.out, &args.name),
    })
}

/// memlab must read a followed process's memory figures; another user's process (without
/// privilege) would give figures of 0, never a measurement.
fn check_readable(pid: i32) -> Result<(), MemlabError> {
    let readable = procfs::process::Process::new(pid).and_then(|p| p.smaps_rollup());
    match readable {
        Err(procfs::ProcError::PermissionDenied(_)) => Err(MemlabError::NotPermitted(format!(
            "--pid {pid}: memlab may not read that process's memory (another user's process): \
             run memlab as its user or as root"
        ))),
        _ => Ok(()),
    }
}
