//! Running many scenarios one after the other — a suite, a scan, the version matrix: each
//! planned run validated beforehand, its result written as soon as it ends, progress on
//! stderr, and an interruption stopping everything.

pub mod account;
pub mod incomplete;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::error::MemlabError;
use crate::measure::guard;
use crate::orchestrator::{RunRequest, run_scenario};
use crate::output::{claim_result, write_atomically};
use crate::result::ScenarioResult;

/// One scenario run to do, validated, with the file its result goes to.
pub struct Planned {
    /// The file stem: `NAME` or `NAME--KEY-VALUE…`.
    pub stem: String,
    pub path: PathBuf,
    pub request: RunRequest,
}

/// Whether progress goes out as plain lines (CI logs, pipes) rather than a progress bar.
pub fn plain_progress() -> bool {
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    ci || !std::io::stderr().is_terminal() || !std::io::stdout().is_terminal()
}

/// Progress on stderr: an indicatif bar on a terminal, else one line per finished scenario.
pub enum Progress {
    Bar(indicatif::ProgressBar),
    Plain { total: usize, done: usize },
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        if plain_progress() {
            return Progress::Plain { total, done: 0 };
        }
        let bar = indicatif::ProgressBar::new(total as u64);
        let style = indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress::Bar(bar)
    }

    /// Shows what runs now (bar only: plain progress prints when a scenario ends).
    pub fn status(&self, message: &str) {
        if let Progress::Bar(bar) = self {
            bar.set_message(message.to_string());
        }
    }

    /// One line for a finished scenario.
    pub fn finished(&mut self, line: &str) {
        match self {
            Progress::Bar(bar) => {
                bar.println(line);
                bar.inc(1);
            }
            Progress::Plain { total, done } => {
                *done += 1;
                eprintln!("[{done}/{total}] {line}");
            }
        }
    }

    pub fn clear(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// What became of one planned run.
pub enum Outcome {
    Done(Box<ScenarioResult>),
    Failed(String),
}

fn interrupted(error: &anyhow::Error) -> bool {
    guard::interrupted().is_some()
        || error.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<MemlabError>(),
                Some(MemlabError::Interrupted { .. })
            )
        })
}

/// Runs the planned scenarios one after the other, writing each result atomically. A failed
/// run is recorded and the others go on; an interruption (Ctrl-C, SIGTERM) stops everything.
pub fn run_planned(planned: &[Planned], what: &str) -> anyhow::Result<Vec<Outcome>> {
    let _claimed = planned
        .iter()
        .map(|plan| claim_result(&plan.path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    guard::install()?;
    // Until every planned result is written, a marker beside them says which are stale.
    let paths: Vec<&std::path::Path> = planned.iter().map(|plan| plan.path.as_path()).collect();
    let mut marker = incomplete::IncompleteMarker::begin(what, &paths)?;
    let mut progress = Progress::new(planned.len());
    let mut outcomes = Vec::with_capacity(planned.len());
    for plan in planned {
        progress.status(&format!("{what}: {}", plan.stem));
        let started = Instant::now();
        let stem = plan.stem.clone();
        let run = run_scenario(&plan.request, &mut |phase| {
            progress.status(&format!("{what}: {stem} · phase {}", phase.name));
        })
        .and_then(|result| {
            write_atomically(&plan.path, &result.to_json()?).context("saving a result")?;
            marker.written(&plan.path)?;
            Ok(result)
        });
        let seconds = started.elapsed().as_secs_f64();
        match run {
            Ok(result) => {
                progress.finished(&format!(
                    "{}: {} · {seconds:.1} s",
                    plan.stem,
                    account::describe(&result)
                ));
                outcomes.push(Outcome::Done(Box::new(result)));
            }
            Err(error) if interrupted(&error) => {
                progress.clear();
                return Err(error);
            }
            Err(error) => {
                let chain: Vec<String> = error.chain().map(|c| c.to_string()).collect();
                let message = chain.join(": ");
                progress.finished(&format!("{}: ERROR {message}", plan.stem));
                outcomes.push(Outcome::Failed(message));
            }
        }
    }
    progress.clear();
    Ok(outcomes)
}
