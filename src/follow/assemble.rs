//! From what the follower saw to the result of a run: the headline figures, the typed body
//! with every process's record, and the CI checks judged on them.

use crate::error::exit_code;
use crate::follow::outcome::FollowOutcome;
use crate::kernel::machine::describe_machine;
use crate::measure::guard;
use crate::result::figures::FigureSource;
use crate::result::run::{CheckOutcome, Offender, ProcessKind, RunBody, RunProcess, label};
use crate::result::{ScenarioResult, Summary, median};

/// What `memlab run` follows.
#[derive(Debug, Clone, PartialEq)]
pub enum RunTarget {
    /// `memlab run -- COMMAND ARGS…`
    Command(Vec<String>),
    /// `memlab run --pid PID`
    Pid(i32),
}

/// The CI checks of a run: exit 3 when a figure is over its limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunLimits {
    pub max_copied_per_child_bytes: Option<u64>,
    pub max_tree_unique_bytes: Option<u64>,
}

/// The command's status passed through: its exit code, or 128 + the signal that ended it
/// (the interrupting signal when memlab had to kill it after the grace period). `--pid`: 0.
pub fn exit_code_of(outcome: &FollowOutcome) -> i32 {
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

/// The result of a run: the figures the table, the JSON and the report show, the records of
/// every process, and the checks judged on them.
pub fn assemble(target: &RunTarget, limits: &RunLimits, outcome: FollowOutcome) -> ScenarioResult {
    let data_bytes = data_bytes(&outcome.processes);
    let summary = headline(&outcome, data_bytes);
    let checks = evaluate_checks(limits, &summary, &outcome);
    let mut result = ScenarioResult::stamped(
        "run",
        "run",
        describe_machine(crate::kernel::pagemap::pfn_visible()),
    );
    result.data_bytes = data_bytes;
    result.phases = outcome.phases;
    result.runs = vec![summary.clone()];
    result.summary = summary;
    result.timeline = outcome.timeline;
    result.run = Some(RunBody {
        command: match target {
            RunTarget::Command(argv) => Some(argv.clone()),
            RunTarget::Pid(_) => None,
        },
        attached_pid: match *target {
            RunTarget::Pid(pid) => Some(pid),
            RunTarget::Command(_) => None,
        },
        exit_status: outcome.exit,
        interrupted_by: outcome
            .interrupted_by
            .map(|signal| guard::signal_name(signal).to_string()),
        truth_passes: outcome.passes,
        processes: outcome.processes,
        checks,
    });
    result
}

/// The forked children that have figures since fork.
fn measured_children(processes: &[RunProcess]) -> Vec<&RunProcess> {
    processes
        .iter()
        .filter(|p| p.kind == ProcessKind::Forked && p.figures.is_some())
        .collect()
}

/// What the children could copy: the anonymous memory of the processes they forked from.
fn data_bytes(processes: &[RunProcess]) -> u64 {
    let parents: Vec<i32> = measured_children(processes)
        .iter()
        .filter_map(|c| c.parent_pid)
        .collect();
    processes
        .iter()
        .filter(|p| parents.contains(&p.pid))
        .filter_map(|p| p.peak_anonymous_bytes)
        .max()
        .unwrap_or(0)
}

/// The headline figures: each forked child's copied and private bytes (and their medians over
/// `data_bytes`), and the tree's sums in the peak phase.
fn headline(outcome: &FollowOutcome, data_bytes: u64) -> Summary {
    let children = measured_children(&outcome.processes);
    let figures: Vec<_> = children.iter().filter_map(|c| c.figures.as_ref()).collect();
    let copied: Vec<u64> = figures.iter().map(|f| f.copied_bytes).collect();
    let private: Vec<u64> = figures.iter().map(|f| f.private_bytes).collect();
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
    let method = FigureSource::weakest(figures.iter().map(|f| f.method));
    Summary {
        phase: outcome.peak_phase.clone().unwrap_or_default(),
        copied_fraction: fraction(&copied),
        private_fraction: fraction(&private),
        copied_bytes_per_child: copied,
        private_bytes_per_child: private,
        copied_exact: method.is_some_and(FigureSource::exact),
        copied_method: method,
        tree_rss_bytes: tree.rss_bytes,
        tree_pss_bytes: tree.pss_bytes,
        tree_uss_bytes: tree.uss_bytes,
        tree_unique_bytes: tree.unique_bytes,
        overcount_factor: tree.overcount_factor,
        wall_seconds: outcome.wall_seconds,
    }
}

fn offender(process: &RunProcess, bytes: u64) -> Offender {
    Offender {
        pid: process.pid,
        label: label(process),
        command: process.command.clone(),
        bytes,
    }
}

fn evaluate_checks(
    limits: &RunLimits,
    summary: &Summary,
    outcome: &FollowOutcome,
) -> Vec<CheckOutcome> {
    let mut checks = Vec::new();
    if let Some(limit) = limits.max_copied_per_child_bytes {
        checks.push(copied_per_child_check(limit, summary, outcome));
    }
    if let Some(limit) = limits.max_tree_unique_bytes {
        checks.push(tree_unique_check(limit, summary, outcome));
    }
    checks
}

/// Every forked child's copied bytes within `limit`; the offenders, largest first.
fn copied_per_child_check(limit: u64, summary: &Summary, outcome: &FollowOutcome) -> CheckOutcome {
    let children = measured_children(&outcome.processes);
    let copied = |p: &RunProcess| p.figures.as_ref().map_or(0, |f| f.copied_bytes);
    let mut offenders: Vec<Offender> = children
        .iter()
        .filter(|p| copied(p) > limit)
        .map(|p| offender(p, copied(p)))
        .collect();
    offenders.sort_by_key(|o| std::cmp::Reverse(o.bytes));
    let measured = children.iter().map(|p| copied(p)).max();
    CheckOutcome {
        check: "max-copied-per-child".into(),
        limit_bytes: limit,
        measured_bytes: measured,
        holds: measured.map(|_| offenders.is_empty()),
        exact: summary.copied_exact,
        offenders,
        note: match measured {
            None => Some("no forked child was measured: nothing to check".into()),
            Some(_) if !summary.copied_exact => Some(format!(
                "approximate figures ({}): run as root for page truth from frame numbers",
                summary.copied_method.map_or("none", FigureSource::name)
            )),
            Some(_) => None,
        },
    }
}

/// The tree's peak footprint within `limit`; the offender is the largest process then.
fn tree_unique_check(limit: u64, summary: &Summary, outcome: &FollowOutcome) -> CheckOutcome {
    let peak = outcome.peak_footprint.as_ref();
    let offenders = match peak {
        Some(peak) if peak.bytes > limit => peak
            .largest
            .and_then(|(pid, pss)| {
                let process = outcome.processes.iter().rev().find(|p| p.pid == pid)?;
                Some(offender(process, pss))
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    CheckOutcome {
        check: "max-tree-unique".into(),
        limit_bytes: limit,
        measured_bytes: peak.map(|p| p.bytes),
        holds: peak.map(|p| p.bytes <= limit),
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
    }
}

#[cfg(test)]
mod tests;
