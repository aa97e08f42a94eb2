//! `memlab run -- COMMAND` and `memlab run --pid PID`: any program's process tree, followed as
//! it changes (the follower: [`crate::follow`]), a per-process table, a result file, and CI
//! checks (exit 3).

use std::io::Write;
use std::time::Instant;

use anyhow::Context;

use crate::cli::RunArgs;
use crate::error::exit_code;
use crate::follow::assemble::{Assembled, assemble, exit_code_of};
use crate::follow::spawn::spawn;
use crate::follow::{FollowConfig, MarkerSource, RunTarget, Target, follow, marker_pipe};
use crate::measure::guard;
use crate::options::run::run_options;
use crate::output::{claim_result, write_atomically};
use crate::render::run_table;

/// Returns the exit code: the command's, 3 for a failed check, 128 + signal when interrupted.
pub fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let options = run_options(args)?;
    let _claimed = claim_result(&options.result_path)?;
    guard::install()?;
    let config = FollowConfig {
        interval: options.interval,
        sampler: options.sampler,
        label: options.label(),
        grace: options.grace,
        keep: options.keep,
        census: options.census,
    };
    let started = Instant::now();
    let mut markers = None;
    let target = match &options.target {
        RunTarget::Pid(pid) => {
            if let Some(fd) = options.markers_fd {
                let fd =
                    marker_pipe::take_inherited(fd).map_err(crate::error::MemlabError::Usage)?;
                markers = Some(MarkerSource {
                    fd,
                    stop_allowed: true,
                });
            }
            eprintln!("memlab run: following pid {pid} and its descendants; Ctrl-C stops");
            Target::Attached(*pid)
        }
        RunTarget::Command(argv) => {
            let (read, write) = marker_pipe::create().context("making the marker pipe")?;
            let spawned = spawn(argv, options.json, Some(&write));
            // The command holds the write end now: end-of-file once it and its children close it.
            drop(write);
            markers = Some(MarkerSource {
                fd: read,
                stop_allowed: false,
            });
            match spawned {
                Ok(child) => {
                    eprintln!(
                        "memlab run: following pid {} ({}); Ctrl-C stops it",
                        child.id(),
                        argv.join(" ")
                    );
                    Target::Spawned(child)
                }
                Err(error) => {
                    eprintln!("memlab: error: cannot run '{}': {error}", argv[0]);
                    return Ok(match error.kind() {
                        std::io::ErrorKind::NotFound => 127,
                        _ => 126,
                    });
                }
            }
        }
    };
    let outcome = follow(target, started, &config, markers)?;
    let code = exit_code_of(&outcome);
    let Assembled { result, unknown_at } = assemble(
        &options.target,
        &options.limits,
        options.at.as_deref(),
        outcome,
    );
    if let Some(message) = unknown_at {
        // The measurement is kept; its headline is not the one asked for.
        let json = result.to_json()?;
        write_atomically(&options.result_path, &json).context("saving the result")?;
        eprintln!(
            "memlab: error: {message} (result written to {} with the default moment)",
            options.result_path.display()
        );
        return Ok(exit_code::ERROR);
    }

    let json = result.to_json()?;
    write_atomically(&options.result_path, &json).context("saving the result")?;
    let mut out = std::io::stdout().lock();
    if options.json {
        out.write_all(json.as_bytes())?;
    } else {
        out.write_all(run_table::render(&result).as_bytes())?;
        writeln!(out, "\nresult written to {}", options.result_path.display())?;
    }
    out.flush()?;
    let checks = result
        .run
        .as_ref()
        .map(|r| r.checks.as_slice())
        .unwrap_or(&[]);
    let failed: Vec<_> = checks.iter().filter(|c| c.holds == Some(false)).collect();
    for check in &failed {
        eprintln!("memlab: check failed: {}", run_table::check_line(check));
    }
    Ok(if code == exit_code::OK && !failed.is_empty() {
        exit_code::CLAIM_BROKEN
    } else {
        code
    })
}
