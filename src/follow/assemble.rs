//! From what the follower saw to the result of a run: the headline figures, the typed body
//! with every process's record, and the CI checks judged on them.

use crate::error::exit_code;
use crate::follow::measured::child_figures;
use crate::follow::outcome::FollowOutcome;
use crate::kernel::machine::describe_machine;
use crate::measure::guard;
use crate::result::figures::FigureSource;
use crate::result::run::{
    CheckOutcome, FigureMoment, Figures, Headline, HeadlineRule, Offender, ProcessKind, RunBody,
    RunProcess, label,
};
use crate::result::{Phase, ScenarioResult, Summary, median};

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

/// The result of a run, and what was wrong with the request once the run was over (an `--at`
/// marker that never came).
pub struct Assembled {
    pub result: ScenarioResult,
    /// One line, when `--at` named no phase of the run (the default moment was taken).
    pub unknown_at: Option<String>,
}

/// The result of a run: the figures the table, the JSON and the report show, all taken at
/// one moment (`--at MARK`'s phase, else the last pass before the tree began to end), the
/// records of every process, and the checks judged on them.
pub fn assemble(
    target: &RunTarget,
    limits: &RunLimits,
    at: Option<&str>,
    mut outcome: FollowOutcome,
) -> Assembled {
    let (moment, unknown_at) = match at.map(|mark| at_marker(&outcome, mark)) {
        Some(Ok(moment)) => (Some(moment), None),
        Some(Err(message)) => (default_moment(&outcome), Some(message)),
        None => (default_moment(&outcome), None),
    };
    if let Some(moment) = &moment {
        for process in &mut outcome.processes {
            process.figures = figures_at(process, &outcome.phases, moment.index);
        }
    }
    let data_bytes = data_bytes(&outcome.processes);
    let summary = headline(&outcome, moment.as_ref(), data_bytes);
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
        headline: moment.map(|moment| moment.headline),
        peak_phase: outcome.peak_phase.clone(),
        phase_notes: outcome.phase_notes,
        markers: outcome.markers,
    });
    Assembled { result, unknown_at }
}

/// The headline's phase and why it was chosen.
struct Moment {
    index: usize,
    headline: Headline,
}

fn moment(phases: &[Phase], index: usize, rule: HeadlineRule) -> Moment {
    Moment {
        index,
        headline: Headline {
            phase: phases[index].name.clone(),
            time_s: phases[index].time_s,
            rule,
        },
    }
}

/// `--at MARK`: the last phase of that marker (`NAME`, `NAME-begin`, `NAME-end`), else one
/// line naming the marker phases there were.
fn at_marker(outcome: &FollowOutcome, mark: &str) -> Result<Moment, String> {
    let phases = &outcome.phases;
    // (phase name, the marker's phase name before repeats were told apart)
    let marked: Vec<(&str, String)> = outcome
        .phase_notes
        .iter()
        .filter_map(|note| {
            let marker = note.marker.as_ref()?;
            Some((note.phase.as_str(), marker.kind.phase_name(&marker.name)))
        })
        .collect();
    if let Some(index) = marked
        .iter()
        .rev()
        .filter(|(_, marker)| marker == mark)
        .find_map(|(phase, _)| phases.iter().position(|p| p.name == *phase))
    {
        return Ok(moment(phases, index, HeadlineRule::At(mark.to_string())));
    }
    let mut marked: Vec<String> = marked.into_iter().map(|(_, marker)| marker).collect();
    marked.dedup();
    Err(if marked.is_empty() {
        format!("--at {mark}: the program sent no marker, so the run has no phase of that name")
    } else {
        format!(
            "--at {mark}: no marker of that name; the run's markers were: {}",
            marked.join(", ")
        )
    })
}

/// The last pass before the tree began to end; when it ended before the first pass, that
/// first pass.
fn default_moment(outcome: &FollowOutcome) -> Option<Moment> {
    let phases = &outcome.phases;
    let before_end = outcome
        .before_end_phase
        .as_ref()
        .and_then(|name| phases.iter().position(|p| &p.name == name));
    match before_end {
        Some(index) => Some(moment(phases, index, HeadlineRule::BeforeEnd)),
        None if !phases.is_empty() => Some(moment(phases, 0, HeadlineRule::FirstPass)),
        None => None,
    }
}

/// A forked child's figures at the headline phase `index`: measured there; when it exited
/// (or lost its parent) before, its last measurement; none when it was first seen after that
/// moment.
fn figures_at(process: &RunProcess, phases: &[Phase], index: usize) -> Option<Figures> {
    if process.kind != ProcessKind::Forked {
        return None;
    }
    let phase = &phases[index];
    // This record's own snapshots: a reused pid is another record, at other times.
    let lived = |p: &Phase| {
        p.time_s >= process.first_seen_s && process.gone_s.is_none_or(|gone| p.time_s <= gone)
    };
    // A child once compared page by page is never reported from a weaker measurement (after
    // its parent exited it is no longer compared, and only its Private_Dirty growth is left).
    let had_truth = process
        .most_copied
        .as_ref()
        .is_some_and(|f| f.shared_bytes.is_some());
    let figures_in = |p: &Phase| {
        let snapshot = p.processes.iter().find(|s| s.pid == process.pid)?;
        if had_truth && snapshot.page_truth.is_none() {
            return None;
        }
        let mut figures = child_figures(snapshot, p.time_s)?;
        figures.phase = Some(p.name.clone());
        Some(figures)
    };
    if lived(phase)
        && let Some(mut figures) = figures_in(phase)
    {
        figures.moment = Some(FigureMoment::Headline);
        return Some(figures);
    }
    if process.first_seen_s > phase.time_s {
        return None;
    }
    let mut figures = phases[..index]
        .iter()
        .rev()
        .filter(|p| lived(p))
        .find_map(figures_in)?;
    figures.moment = Some(FigureMoment::LastPass);
    Some(figures)
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

/// The headline figures: each forked child's copied and private bytes at the headline moment
/// (and their medians over `data_bytes`), and the tree's sums then.
fn headline(outcome: &FollowOutcome, moment: Option<&Moment>, data_bytes: u64) -> Summary {
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
    let phase = moment.map(|m| &outcome.phases[m.index]);
    // The tree's totals at its peak over every pass (`run.peak_phase`); each child's figures
    // at the headline moment (`summary.phase`).
    let peak = outcome
        .peak_phase
        .as_ref()
        .and_then(|name| outcome.phases.iter().find(|p| &p.name == name));
    let tree = peak.map(|p| p.tree.clone()).unwrap_or_default();
    let method = FigureSource::weakest(figures.iter().map(|f| f.method));
    Summary {
        phase: phase.map(|p| p.name.clone()).unwrap_or_default(),
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
        checks.push(tree_unique_check(limit, outcome));
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
fn tree_unique_check(limit: u64, outcome: &FollowOutcome) -> CheckOutcome {
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
                "largest unique footprint at {:.2} s (judged on every pass that took it: each \
                 new ΣPSS maximum did); the offender is the process with the largest PSS then",
                peak.time_s
            )),
        },
    }
}

#[cfg(test)]
mod tests;
