use std::io::Write;

use clap::Parser;

use memlab::cli::{Cli, Commands};
use memlab::error::{exit_code, exit_code_for};

fn main() {
    let cli = Cli::parse();
    // The workload path must stay single-threaded and free of the orchestrator's machinery.
    if let Commands::Workload { name, params } = &cli.command {
        let workload = match memlab::scenario::find(name).map(|def| def.runner) {
            Some(memlab::scenario::Runner::Native { workload }) => Some(workload()),
            _ => None,
        };
        std::process::exit(memlab::workload::workload_main(name, workload, params));
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
