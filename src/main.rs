use std::io::Write;

use clap::Parser;
use clap::error::ErrorKind;

use memlab::cli::{Cli, Commands};
use memlab::error::{exit_code, exit_code_for};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => std::process::exit(usage_error(&error)),
    };
    // The workload path must stay single-threaded and free of the orchestrator's machinery.
    if let Commands::Workload { name, params } = &cli.command {
        let workload = match memlab::scenario::find(name).map(|def| def.runner) {
            Some(memlab::scenario::Runner::Native { workload }) => Some(workload()),
            _ => None,
        };
        std::process::exit(memlab::workload::workload_main(name, workload, params));
    }
    if let Commands::Guard { cgroup } = &cli.command {
        std::process::exit(memlab::measure::containment::guard_main(cgroup));
    }
    let code = match memlab::commands::run(cli.command) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => exit_code::OK,
        Err(error) => {
            let chain: Vec<String> = error.chain().map(|cause| cause.to_string()).collect();
            eprintln!("memlab: error: {}", chain.join(": "));
            exit_code_for(&error)
        }
    };
    // Nothing memlab started outlives it (the guard would see to it even after a SIGKILL).
    memlab::measure::containment::end();
    let _ = std::io::stdout().flush();
    std::process::exit(if code < 0 { exit_code::ERROR } else { code });
}

/// `memlab … | head` closes stdout early: that is the reader's choice, not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `--help` and `--version` print as clap writes them; a usage error is one line,
/// `memlab: error: …`, with the usage and where help is, and exit 2.
fn usage_error(error: &clap::Error) -> i32 {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            return exit_code::OK;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!("memlab: error: a command is needed (memlab --help lists them)");
            return exit_code::USAGE;
        }
        _ => {}
    }
    let text = error.render().to_string();
    let message = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("invalid arguments");
    let message = message.strip_prefix("error: ").unwrap_or(message);
    let usage = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Usage: "));
    match usage {
        Some(usage) => eprintln!("memlab: error: {message} (usage: {usage}; see --help)"),
        None => eprintln!("memlab: error: {message} (see --help)"),
    }
    exit_code::USAGE
}
