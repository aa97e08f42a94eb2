//! `memlab run -- COMMAND` and `memlab run --pid PID`: any program's process tree, followed as
//! it changes, with the timeline sampler and the page truth of every forked child against its
//! parent; a result in the scenarios' schema (`scenario: "run"`, no claims, phases from the
//! tree's events), a per-process table, and CI checks (exit 3).
//!
//! - [`follow`]: the follow loop (what is the tree, when it is measured, which passes become
//!   phases).
//! - [`record`]: the per-process records and other `facts` of a run result.
//! - [`table`]: the summary table, rendered from a result.

pub mod follow;
pub mod record;
pub mod table;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::error::{MemlabError, exit_code};
use crate::export::json::JsonExporter;
use crate::export::{Exporter, write_atomically};
use crate::orchestrator::guard;
use crate::orchestrator::sampler::SamplerConfig;
use crate::orchestrator::summary::FigureSource;
use crate::result::{Params, RunStatus, SCHEMA_VERSION, ScenarioResult, Summary, median};
use crate::units::ByteSize;
use follow::{FollowConfig, FollowOutcome, Target};
use record::{CheckOutcome, Offender, ProcessKind, RunProcess};

/// Shortest `--interval`: below it, passes would only repeat the polls' work.
const MIN_INTERVAL_MS: u64 = 10;
/// Longest `--interval`: an hour.
const MAX_INTERVAL_MS: u64 = 3_600_000;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Follow this running process and its descendants instead of starting a command (memlab
    /// never signals it; Ctrl-C stops following).
    #[arg(long, value_name = "PID")]
    pub pid: Option<i32>,
    /// Page truth of every process at least this often, in milliseconds, and at each new
    /// process's first sighting (stretched so that passes take at most 10% of a core).
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub interval: u64,
    /// Timeline: milliseconds between two statm samples of the tree (smaps_rollup as often as
    /// its cost allows); 0 records no timeline.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub sample_interval: u64,
    /// Exit 3 when a forked child copied more than SIZE from its parent (e.g. 10MiB), naming it.
    #[arg(long, value_name = "SIZE")]
    pub max_copied_per_child: Option<ByteSize>,
    /// Exit 3 when the tree's unique footprint (distinct physical pages) exceeds SIZE.
    #[arg(long, value_name = "SIZE")]
    pub max_tree_unique: Option<ByteSize>,
    /// Print only the result JSON on stdout (the command's stdout goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Directory for the result file.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
    /// Name of the result file: DIR/NAME.json.
    #[arg(long, default_value = "run")]
    pub name: String,
    /// The command to run and follow (after `--`).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    MemlabError::Usage(message.into()).into()
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

impl RunArgs {
    fn validate(&self) -> anyhow::Result<()> {
        match (&self.pid, self.command.is_empty()) {
            (None, true) => {
                return Err(usage(
                    "memlab run needs a command (memlab run -- COMMAND ARGS…) or --pid PID",
                ));
            }
            (Some(_), false) => {
                return Err(usage("memlab run takes a command or --pid PID, not both"));
            }
            _ => {}
        }
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&self.interval) {
            return Err(usage(format!(
                "--interval must be between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS} ms, got {}",
                self.interval
            )));
        }
        let name_ok = !self.name.is_empty()
            && !self.name.starts_with('.')
            && self.name.len() <= 100
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return Err(usage(format!(
                "--name must be letters, digits, '-', '_' or '.' (not first), got '{}'",
                self.name
            )));
        }
        if let Some(pid) = self.pid {
            if pid <= 0 {
                return Err(usage(format!("--pid must be a process id, got {pid}")));
            }
            if !crate::kernel::tree::is_alive(pid) {
                return Err(usage(format!("--pid {pid}: no such running process")));
            }
            if memlab_and_ancestors().contains(&pid) {
                return Err(usage(format!(
                    "--pid {pid}: memlab itself runs inside that tree, and the measuring process \
                     must never be part of what it measures"
                )));
            }
        }
        Ok(())
    }
}

/// `memlab run`: returns the exit code (the command's, 3 for a failed check, 128 + signal when
/// interrupted).
pub fn run_command(args: &RunArgs) -> anyhow::Result<i32> {
    args.validate()?;
    guard::install()?;
    let config = FollowConfig {
        interval: Duration::from_millis(args.interval),
        sampler: (args.sample_interval > 0).then(|| SamplerConfig {
            statm_interval: Duration::from_millis(args.sample_interval),
        }),
        label: match args.pid {
            Some(pid) => format!("pid {pid}"),
            None => args.command.join(" "),
        },
    };
    let started = Instant::now();
    let target = match args.pid {
        Some(pid) => {
            eprintln!("memlab run: following pid {pid} and its descendants; Ctrl-C stops");
            Target::Attached(pid)
        }
        None => match spawn(&args.command, args.json) {
            Ok(child) => {
                eprintln!(
                    "memlab run: following pid {} ({}); Ctrl-C stops it",
                    child.id(),
                    args.command.join(" ")
                );
                Target::Spawned(child)
            }
            Err(error) => {
                eprintln!("memlab: error: cannot run '{}': {error}", args.command[0]);
                return Ok(match error.kind() {
                    std::io::ErrorKind::NotFound => 127,
                    _ => 126,
                });
            }
        },
    };
    let outcome = follow::follow(target, started, &config)?;
    let code = exit_code_of(&outcome);
    let result = assemble(args, outcome);
    let checks = record::checks(&result);

    let json = JsonExporter.render(&result)?;
    let path = args.out.join(format!("{}.json", args.name));
    write_atomically(&path, &json).context("saving the result")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        out.write_all(json.as_bytes())?;
    } else {
        out.write_all(table::render(&result).as_bytes())?;
        writeln!(out, "\nresult written to {}", path.display())?;
    }
    out.flush()?;
    let failed: Vec<&CheckOutcome> = checks.iter().filter(|c| c.holds == Some(false)).collect();
    for check in &failed {
        eprintln!("memlab: check failed: {}", table::check_line(check));
    }
    Ok(if code == exit_code::OK && !failed.is_empty() {
        exit_code::CLAIM_BROKEN
    } else {
        code
    })
}

/// The command's status passed through: its exit code, or 128 + the signal that ended it
/// (the interrupting signal when memlab had to kill it after the grace period). `--pid`: 0.
fn exit_code_of(outcome: &FollowOutcome) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let Some(status) = outcome.exit_status else {
        return exit_code::OK;
    };
    let killed_by_memlab = outcome.exit.as_ref().is_some_and(|e| e.killed_by_memlab);
    match (status.code(), status.signal(), outcome.interrupted_by) {
        (_, _, Some(signal)) if killed_by_memlab => exit_code::INTERRUPTED_BASE + signal,
        (Some(code), _, _) => code,
        (None, Some(signal), _) => exit_code::INTERRUPTED_BASE + signal,
        _ => exit_code::ERROR,
    }
}

/// Starts the command in its own process group, dying with memlab (PR_SET_PDEATHSIG).
fn spawn(argv: &[String], json: bool) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).process_group(0);
    // In its own process group the command cannot read the terminal (it would be stopped by
    // SIGTTIN): it reads nothing from a terminal, but a pipe or file is passed through.
    // SAFETY: isatty only looks at the descriptor.
    if unsafe { libc::isatty(0) } == 1 {
        command.stdin(Stdio::null());
    }
    if json {
        // stdout holds only the result.
        command.stdout(Stdio::from(std::io::stderr()));
    }
    let memlab = std::process::id() as i32;
    // SAFETY: prctl, getppid and raise are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // memlab died between the fork and the prctl: die now.
            if libc::getppid() != memlab {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
    command.spawn()
}

/// The weakest source among the children's figures names the whole set, as in scenarios.
fn figures_method(children: &[&RunProcess]) -> Option<FigureSource> {
    let sources: Vec<&str> = children
        .iter()
        .filter_map(|c| c.figures.as_ref().map(|f| f.method.as_str()))
        .collect();
    [
        FigureSource::PrivateDirtyGrowth,
        FigureSource::PageTruthExclusiveBit,
        FigureSource::PageTruthPfn,
    ]
    .into_iter()
    .find(|source| sources.contains(&source.name()))
}

fn assemble(args: &RunArgs, outcome: FollowOutcome) -> ScenarioResult {
    let children: Vec<&RunProcess> = outcome
        .processes
        .iter()
        .filter(|p| p.kind == ProcessKind::Forked && p.figures.is_some())
        .collect();
    let copied: Vec<u64> = children
        .iter()
        .filter_map(|c| c.figures.as_ref().map(|f| f.copied_bytes))
        .collect();
    let private: Vec<u64> = children
        .iter()
        .filter_map(|c| c.figures.as_ref().map(|f| f.private_bytes))
        .collect();
    // What the children could copy: the anonymous memory of the processes they forked from.
    let parents: Vec<i32> = children.iter().filter_map(|c| c.parent_pid).collect();
    let data_bytes = outcome
        .processes
        .iter()
        .filter(|p| parents.contains(&p.pid))
        .filter_map(|p| p.peak_anonymous_bytes)
        .max()
        .unwrap_or(0);
    let fraction = |values: &[u64]| {
        if data_bytes == 0 || values.is_empty() {
            0.0
        } else {
            median(&values.iter().map(|v| *v as f64).collect::<Vec<_>>()) / data_bytes as f64
        }
    };
    let peak = outcome
        .peak_phase
        .as_ref()
        .and_then(|name| outcome.phases.iter().find(|p| &p.name == name));
    let tree = peak.map(|p| p.tree.clone()).unwrap_or_default();
    let method = figures_method(&children);
    let summary = Summary {
        phase: outcome.peak_phase.clone().unwrap_or_default(),
        copied_fraction: fraction(&copied),
        private_fraction: fraction(&private),
        copied_bytes_per_child: copied,
        private_bytes_per_child: private,
        copied_exact: method.is_some_and(FigureSource::exact),
        copied_method: method.map(FigureSource::name).unwrap_or("none").to_string(),
        tree_rss_bytes: tree.rss_bytes,
        tree_pss_bytes: tree.pss_bytes,
        tree_uss_bytes: tree.uss_bytes,
        tree_unique_bytes: tree.unique_bytes,
        overcount_factor: tree.overcount_factor,
        wall_seconds: outcome.wall_seconds,
    };
    let checks = evaluate_checks(args, &summary, &outcome);

    let mut facts = std::collections::BTreeMap::new();
    let mut put = |name: &str, value: serde_json::Value| {
        facts.insert(name.to_string(), value);
    };
    match args.pid {
        Some(pid) => put(record::FACT_ATTACHED_PID, pid.into()),
        None => put(record::FACT_COMMAND, serde_json::json!(args.command)),
    }
    if let Some(exit) = &outcome.exit {
        put(
            record::FACT_EXIT_STATUS,
            serde_json::to_value(exit).unwrap_or_default(),
        );
    }
    if let Some(signal) = outcome.interrupted_by {
        put(
            record::FACT_INTERRUPTED_BY,
            guard::signal_name(signal).into(),
        );
    }
    put(
        record::FACT_PASSES,
        serde_json::to_value(&outcome.passes).unwrap_or_default(),
    );
    put(
        record::FACT_PROCESSES,
        serde_json::to_value(&outcome.processes).unwrap_or_default(),
    );
    put(
        record::FACT_CHECKS,
        serde_json::to_value(&checks).unwrap_or_default(),
    );

    ScenarioResult {
        schema_version: SCHEMA_VERSION,
        memlab_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: option_env!("MEMLAB_GIT_COMMIT").map(str::to_string),
        timestamp: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        machine: crate::kernel::machine::describe_machine(crate::kernel::pagemap::pfn_visible()),
        scenario: "run".to_string(),
        source_document: "run".to_string(),
        params: Params {
            size_bytes: 0,
            children: outcome
                .processes
                .iter()
                .filter(|p| p.kind == ProcessKind::Forked)
                .count(),
            op: None,
            fraction: None,
            object_size_bytes: None,
            repeat: 1,
            python: None,
            scale: None,
        },
        status: RunStatus::Completed,
        skip: None,
        data_bytes,
        regions: Vec::new(),
        phases: outcome.phases,
        facts,
        runs: vec![summary.clone()],
        summary,
        claims: Vec::new(),
        timeline: outcome.timeline,
    }
}

fn offender(process: &RunProcess, bytes: u64) -> Offender {
    Offender {
        pid: process.pid,
        label: record::label(process),
        command: process.command.clone(),
        bytes,
    }
}

fn evaluate_checks(
    args: &RunArgs,
    summary: &Summary,
    outcome: &FollowOutcome,
) -> Vec<CheckOutcome> {
    let mut checks = Vec::new();
    if let Some(limit) = args.max_copied_per_child {
        let children: Vec<&RunProcess> = outcome
            .processes
            .iter()
            .filter(|p| p.kind == ProcessKind::Forked && p.figures.is_some())
            .collect();
        let copied = |p: &RunProcess| p.figures.as_ref().map_or(0, |f| f.copied_bytes);
        let mut offenders: Vec<Offender> = children
            .iter()
            .filter(|p| copied(p) > limit.0)
            .map(|p| offender(p, copied(p)))
            .collect();
        offenders.sort_by_key(|o| std::cmp::Reverse(o.bytes));
        let measured = children.iter().map(|p| copied(p)).max();
        checks.push(CheckOutcome {
            check: "max-copied-per-child".into(),
            limit_bytes: limit.0,
            measured_bytes: measured,
            holds: measured.map(|_| offenders.is_empty()),
            exact: summary.copied_exact,
            offenders,
            note: match measured {
                None => Some("no forked child was measured: nothing to check".into()),
                Some(_) if !summary.copied_exact => Some(format!(
                    "approximate figures ({}): run as root for page truth from frame numbers",
                    summary.copied_method
                )),
                Some(_) => None,
            },
        });
    }
    if let Some(limit) = args.max_tree_unique {
        let peak = outcome.peak_footprint.as_ref();
        let holds = peak.map(|p| p.bytes <= limit.0);
        let offenders = match peak {
            Some(peak) if peak.bytes > limit.0 => peak
                .largest
                .and_then(|(pid, pss)| {
                    let process = outcome.processes.iter().rev().find(|p| p.pid == pid)?;
                    Some(offender(process, pss))
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        checks.push(CheckOutcome {
            check: "max-tree-unique".into(),
            limit_bytes: limit.0,
            measured_bytes: peak.map(|p| p.bytes),
            holds,
            exact: peak.is_some_and(|p| p.exact),
            offenders,
            note: match peak {
                None => Some("the tree was never measured: nothing to check".into()),
                Some(peak) if !peak.exact => Some(
                    "APPROXIMATE: ΣPSS stands for the unique footprint (distinct frames need root)"
                        .into(),
                ),
                Some(peak) => Some(format!(
                    "peak at {:.2} s (phase '{}'); the offender is the process with the largest \
                     PSS then",
                    peak.time_s, summary.phase
                )),
            },
        });
    }
    checks
}
