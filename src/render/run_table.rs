//! The table `memlab run` prints at the end, rendered from the result (so a stored run can be
//! shown again): one line per process of the tree, then the tree's totals at its peak, the
//! children's copies, and the checks.

use std::fmt::Write;

use super::census::{census_moment, headline_censuses, run_census_view, shown_census};
use super::text::{bytes_or_dash as cell, figures_explanation};
use crate::result::ScenarioResult;
use crate::result::run::{CheckOutcome, ProcessEnd, ProcessKind, RunBody, RunProcess, label};
use crate::units::format_bytes;

fn status_line(body: &RunBody) -> String {
    let ended = match &body.exit_status {
        Some(exit) => {
            let how = match (exit.code, exit.signal.as_deref()) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(signal)) => format!("killed by {signal}"),
                _ => "ended".to_string(),
            };
            if exit.killed_by_memlab {
                format!("{how} (killed by memlab after the grace period)")
            } else {
                how
            }
        }
        None => "attached (its exit status is not memlab's to know)".to_string(),
    };
    match &body.interrupted_by {
        Some(signal) => format!("interrupted by {signal} · {ended}"),
        None => ended,
    }
}

fn kinds_line(processes: &[RunProcess]) -> String {
    let count = |kind: ProcessKind| processes.iter().filter(|p| p.kind == kind).count();
    let mut parts = vec![format!(
        "{} forked child{}",
        count(ProcessKind::Forked),
        if count(ProcessKind::Forked) == 1 {
            ""
        } else {
            "ren"
        }
    )];
    if count(ProcessKind::Exec) > 0 {
        parts.push(format!("{} exec'd", count(ProcessKind::Exec)));
    }
    if count(ProcessKind::Orphan) > 0 {
        parts.push(format!("{} orphaned", count(ProcessKind::Orphan)));
    }
    format!("{} processes ({})", processes.len(), parts.join(", "))
}

fn lifetime(process: &RunProcess) -> String {
    let end = match process.end {
        ProcessEnd::Exited => String::new(),
        ProcessEnd::Killed => " killed".to_string(),
        ProcessEnd::Running => " running".to_string(),
    };
    format!(
        "{:.2}–{:.2}{end}",
        process.first_seen_s,
        process.gone_s.unwrap_or(process.last_seen_s)
    )
}

/// One line for a check's outcome.
pub fn check_line(check: &CheckOutcome) -> String {
    let limit = format_bytes(check.limit_bytes);
    let option = format!("--{} {limit}", check.check);
    let mut line = match (check.holds, check.check.as_str()) {
        (Some(false), "max-copied-per-child") => {
            // The command once when all offenders share it (pool workers do).
            let same = check
                .offenders
                .windows(2)
                .all(|w| w[0].command == w[1].command);
            let named: Vec<String> = check
                .offenders
                .iter()
                .map(|o| {
                    let command = if same {
                        String::new()
                    } else {
                        format!(", {}", o.command)
                    };
                    format!(
                        "{} (pid {}{command}) copied {}",
                        o.label,
                        o.pid,
                        format_bytes(o.bytes)
                    )
                })
                .collect();
            let mut line = format!("{option}: {}", named.join("; "));
            if same && let Some(first) = check.offenders.first() {
                write!(line, " ({})", first.command).ok();
            }
            line
        }
        (Some(false), _) => {
            let largest: Vec<String> = check
                .offenders
                .iter()
                .map(|o| {
                    format!(
                        "largest: {} (pid {}, {}) PSS {}",
                        o.label,
                        o.pid,
                        o.command,
                        format_bytes(o.bytes)
                    )
                })
                .collect();
            format!(
                "{option}: the tree reached {}; {}",
                cell(check.measured_bytes),
                largest.join("; ")
            )
        }
        (Some(true), _) => format!("{option}: largest {}", cell(check.measured_bytes)),
        (None, _) => format!("{option}: not judged"),
    };
    if let Some(note) = &check.note {
        write!(line, " ({note})").ok();
    }
    line
}

/// The processes in tree order: each one after its parent, siblings in order of sighting.
fn tree_order(processes: &[RunProcess]) -> Vec<&RunProcess> {
    let known = |pid: i32| processes.iter().any(|p| p.pid == pid);
    let mut ordered = Vec::with_capacity(processes.len());
    let mut placed = vec![false; processes.len()];
    fn place<'a>(
        index: usize,
        processes: &'a [RunProcess],
        placed: &mut [bool],
        ordered: &mut Vec<&'a RunProcess>,
    ) {
        if placed[index] {
            return;
        }
        placed[index] = true;
        ordered.push(&processes[index]);
        let pid = processes[index].pid;
        for child in 0..processes.len() {
            if processes[child].parent_pid == Some(pid) && !placed[child] {
                place(child, processes, placed, ordered);
            }
        }
    }
    for index in 0..processes.len() {
        let root = processes[index]
            .parent_pid
            .is_none_or(|parent| !known(parent));
        if root {
            place(index, processes, &mut placed, &mut ordered);
        }
    }
    // Whatever a reused pid left out of the walk, in sighting order.
    for index in 0..processes.len() {
        place(index, processes, &mut placed, &mut ordered);
    }
    ordered
}

/// The pages each child's parent rewrote after the child was first seen: they differ from
/// the parent's now, but are not the child's copies (and not in its copied figure). Only the
/// children that have some; none when no parent rewrote anything.
fn rewritten_line(children: &[&RunProcess]) -> Option<String> {
    let rewritten: Vec<String> = children
        .iter()
        .filter_map(|p| {
            let bytes = p.figures.as_ref()?.rewritten_by_parent_bytes?;
            (bytes > 0).then(|| format!("{} {}", label(p), format_bytes(bytes)))
        })
        .collect();
    (!rewritten.is_empty()).then(|| {
        format!(
            "rewritten by the parent since each child was first seen (not counted as copied): {}",
            rewritten.join(", ")
        )
    })
}

/// What the forked children copied, by Python type, for the headline: the table of one child
/// (the census of the headline's pass, else its latest before it, with its moment), the other
/// children's largest type in one line each, and the hints. Empty without any census.
fn census_section(result: &ScenarioResult) -> String {
    let mut out = String::new();
    let Some(view) = run_census_view(result) else {
        return out;
    };
    let _ = writeln!(out);
    out.push_str(&view.terminal_text());
    if view.note_line().is_some() {
        return out;
    }
    if let Some(body) = &result.run
        && let Some(headline) = &body.headline
    {
        let shown = shown_census(&body.processes, headline).map(|(process, ..)| process);
        let others: Vec<_> = headline_censuses(&body.processes, headline)
            .into_iter()
            .filter(|(process, ..)| !shown.is_some_and(|shown| std::ptr::eq(shown, *process)))
            .collect();
        if !others.is_empty() {
            let _ = writeln!(out, "the other children's censuses (largest Python type):");
        }
        for (process, census, moment) in others {
            let largest = census
                .census
                .python_types
                .as_deref()
                .and_then(|types| types.iter().find(|t| !t.is_special()).or(types.first()))
                .map_or_else(
                    || census.census.python_types_note.clone().unwrap_or_default(),
                    |t| {
                        format!(
                            "{} {} objects, {} of the {} copied",
                            t.type_name,
                            t.objects,
                            format_bytes(t.bytes),
                            format_bytes(census.copied_bytes)
                        )
                    },
                );
            let _ = writeln!(
                out,
                "  {} (pid {}, {}): {largest}",
                label(process),
                process.pid,
                census_moment(census, moment, headline)
            );
        }
    }
    for hint in &view.hints {
        let _ = writeln!(out, "hint: {hint}");
    }
    out
}

/// The table for a `run` result.
pub fn render(result: &ScenarioResult) -> String {
    let mut out = String::new();
    let _ = render_into(&mut out, result);
    out
}

fn render_into(out: &mut String, result: &ScenarioResult) -> std::fmt::Result {
    let empty = RunBody::default();
    let body = result.run.as_ref().unwrap_or(&empty);
    let processes = &body.processes;
    let what = match (&body.command, body.attached_pid) {
        (Some(argv), _) => argv.join(" "),
        (None, Some(pid)) => format!("--pid {pid}"),
        (None, None) => String::new(),
    };
    writeln!(out, "memlab run: {what}")?;
    writeln!(
        out,
        "  {} · {:.2} s · {}",
        status_line(body),
        result.summary.wall_seconds,
        kinds_line(processes)
    )?;
    {
        let passes = &body.truth_passes;
        let footprints = if passes.footprints > 0 {
            format!(
                ", {} with the unique footprint (mean {:.1} ms)",
                passes.footprints, passes.mean_footprint_ms
            )
        } else {
            String::new()
        };
        let censuses = if passes.censuses > 0 {
            format!(
                ", {} with censuses of the Python objects ({} in all, mean {:.1} ms)",
                passes.census_passes, passes.censuses, passes.mean_census_ms
            )
        } else {
            String::new()
        };
        writeln!(
            out,
            "  {} page-truth passes (every {:.0} ms and at each new process; mean {:.1} ms){footprints}{censuses}; \
             memlab CPU {:.2} s",
            passes.passes, passes.effective_interval_ms, passes.mean_pass_ms, passes.cpu_seconds
        )?;
    }
    writeln!(
        out,
        "  figures: {}",
        figures_explanation(result.summary.copied_method)
            .unwrap_or("none (no process forked a child without exec while memlab watched)")
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<9} {:>8} {:>8} {:>17} {:>11} {:>11} {:>11} {:>11} {:>11}  command",
        "process",
        "pid",
        "parent",
        "seen (s)",
        "peak RSS",
        "peak USS",
        "copied",
        "shared",
        "child-only"
    )?;
    for process in tree_order(processes) {
        let figures = process.figures.as_ref();
        let (copied, shared, own) = match (process.kind, figures) {
            (ProcessKind::Forked, Some(f)) => (
                format_bytes(f.copied_bytes),
                cell(f.shared_bytes),
                cell(f.child_only_bytes),
            ),
            (ProcessKind::Forked, None) => ("unmeasured".into(), "-".into(), "-".into()),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let indent = "  ".repeat(process.depth);
        // Pool workers and prefork servers' workers run their parent's command line: once.
        let same_as_parent = process.parent_pid.is_some_and(|parent| {
            processes
                .iter()
                .any(|p| p.pid == parent && p.command == process.command)
        });
        let command = if same_as_parent {
            "(as parent)"
        } else {
            process.command.as_str()
        };
        writeln!(
            out,
            "{:<9} {:>8} {:>8} {:>17} {:>11} {:>11} {:>11} {:>11} {:>11}  {indent}{}",
            label(process),
            process.pid,
            process
                .parent_pid
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            lifetime(process),
            cell(Some(process.peak_rss_bytes).filter(|rss| *rss > 0)),
            cell(process.peak_uss_bytes),
            copied,
            shared,
            own,
            command
        )?;
    }
    writeln!(out)?;
    let summary = &result.summary;
    // Files written before runs named their peak apart held it in `summary.phase`.
    let peak_phase = body.peak_phase.as_deref().unwrap_or(&summary.phase);
    match result.phase(peak_phase) {
        Some(phase) => {
            let mut tree = format!(
                "tree at its peak ('{}', {:.2} s): ΣRSS {} · ΣPSS {} · ΣUSS {}",
                phase.name,
                phase.time_s,
                format_bytes(summary.tree_rss_bytes),
                format_bytes(summary.tree_pss_bytes),
                format_bytes(summary.tree_uss_bytes)
            )
            .to_string();
            match (summary.tree_unique_bytes, summary.overcount_factor) {
                (Some(unique), Some(factor)) => {
                    write!(
                        tree,
                        " · unique {} · over-count ×{factor:.2} (ΣRSS / unique)",
                        format_bytes(unique)
                    )?;
                    if factor < 1.0 {
                        // Not a contradiction: two readings of a tree that was changing.
                        write!(
                            tree,
                            " (below 1: the unique footprint is read just after the rollups, \
                             and the tree grew in between)"
                        )?;
                    }
                    writeln!(out, "{tree}")?;
                    writeln!(
                        out,
                        "  tools that add up RSS report {}; the tree's processes use {} of memory",
                        format_bytes(summary.tree_rss_bytes),
                        format_bytes(unique)
                    )?;
                }
                _ => {
                    writeln!(out, "{tree}")?;
                    writeln!(
                        out,
                        "  (no unique footprint: distinct physical frames need root)"
                    )?;
                }
            }
        }
        None => writeln!(out, "tree: never measured (it ended before the first pass)")?,
    }
    let children: Vec<&RunProcess> = processes
        .iter()
        .filter(|p| p.kind == ProcessKind::Forked && p.figures.is_some())
        .collect();
    if let Some(largest) = children
        .iter()
        .max_by_key(|p| p.figures.as_ref().map_or(0, |f| f.copied_bytes))
    {
        let copied: Vec<String> = summary
            .copied_bytes_per_child
            .iter()
            .map(|b| format_bytes(*b))
            .collect();
        let moment = match &body.headline {
            Some(headline) => format!(" at '{}' ({:.2} s)", headline.phase, headline.time_s),
            None => String::new(),
        };
        let mut line = format!("copied per child{moment}: [{}]", copied.join(", "));
        if result.data_bytes > 0 {
            write!(
                line,
                " · median {:.2}% of {} (the largest parent's anonymous memory)",
                summary.copied_fraction * 100.0,
                format_bytes(result.data_bytes)
            )?;
        }
        write!(
            line,
            " · largest {} ({}, pid {})",
            format_bytes(largest.figures.as_ref().map_or(0, |f| f.copied_bytes)),
            label(largest),
            largest.pid
        )?;
        writeln!(out, "{line}")?;
        if let Some(line) = rewritten_line(&children) {
            writeln!(out, "{line}")?;
        }
    }
    out.push_str(&census_section(result));
    let checks = &body.checks;
    if !checks.is_empty() {
        writeln!(out)?;
        writeln!(out, "checks")?;
        for check in checks {
            let verdict = match check.holds {
                Some(true) => "OK    ",
                Some(false) => "FAILED",
                None => "n/a   ",
            };
            writeln!(out, "  {verdict}  {}", check_line(check))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::run::{Figures, Offender};

    fn process(pid: i32, parent: Option<i32>, kind: ProcessKind, depth: usize) -> RunProcess {
        RunProcess {
            pid,
            parent_pid: parent,
            command: format!("cmd{pid}"),
            kind,
            child_index: None,
            depth,
            first_seen_s: 0.0,
            parent_frames_at_s: None,
            last_seen_s: 1.0,
            gone_s: Some(1.0),
            end: ProcessEnd::Exited,
            peak_rss_bytes: 1 << 20,
            peak_pss_bytes: None,
            peak_uss_bytes: None,
            peak_anonymous_bytes: None,
            measured_passes: 1,
            figures: None::<Figures>,
            most_copied: None,
            censuses: Vec::new(),
        }
    }

    #[test]
    fn processes_are_listed_each_after_its_parent() {
        // Sighting order: the root, a child, a process whose parent was never seen, then the
        // child's own child, then a second child of the root.
        let processes = vec![
            process(10, None, ProcessKind::Command, 0),
            process(11, Some(10), ProcessKind::Forked, 1),
            process(50, None, ProcessKind::Orphan, 1),
            process(12, Some(11), ProcessKind::Forked, 2),
            process(13, Some(10), ProcessKind::Exec, 1),
        ];
        let order: Vec<i32> = tree_order(&processes).iter().map(|p| p.pid).collect();
        assert_eq!(order, vec![10, 11, 12, 13, 50]);
    }

    #[test]
    fn a_failed_copy_check_names_every_offender_and_their_command_once() {
        let offender = |pid: i32, label: &str| Offender {
            pid,
            label: label.into(),
            command: "python pool.py".into(),
            bytes: 200 << 20,
        };
        let check = CheckOutcome {
            check: "max-copied-per-child".into(),
            limit_bytes: 10 << 20,
            measured_bytes: Some(200 << 20),
            holds: Some(false),
            exact: true,
            offenders: vec![offender(7, "child 1"), offender(8, "child 2")],
            note: None,
        };
        assert_eq!(
            check_line(&check),
            "--max-copied-per-child 10.0 MiB: child 1 (pid 7) copied 200.0 MiB; child 2 (pid 8) \
             copied 200.0 MiB (python pool.py)"
        );
    }
}
