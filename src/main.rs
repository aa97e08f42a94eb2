use std::io::Write;

use clap::Parser;

use memlab::cli::{Cli, Commands};
use memlab::error::{exit_code, exit_code_for};

fn main() {
    let cli = Cli::parse();
    // The workload path must stay single-threaded and free of the orchestrator's machinery.
    if let Commands::Workload { name, params } = &cli.command {
        std::process::exit(memlab::workload::workload_main(name, params));
    }
    let code = match memlab::app::run(cli) {
        Ok(code) => code,
        Err(error) => {
            let chain: Vec<String> = error.chain().map(|cause| cause.to_string()).collect();
            eprintln!("memlab: error: {}", chain.join(": "));
            exit_code_for(&error)
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(if code < 0 { exit_code::ERROR } else { code });
}
