//! The subcommands, one file each: each takes its parsed arguments, runs, and returns the
//! process exit code (docs: README's exit-code table).

mod baseline;
mod compare;
mod list;
mod matrix;
mod report;
mod run;
mod scan;
mod scenario;
mod suite;

use crate::cli::Commands;

pub fn run(command: Commands) -> anyhow::Result<i32> {
    match command {
        Commands::List { json, names } => list::list(json, names),
        Commands::Scenario(args) => scenario::scenario(&args),
        Commands::Matrix(args) => matrix::matrix(&args),
        Commands::Pythons => matrix::pythons(),
        Commands::Report(args) => report::report(&args),
        Commands::Suite(args) => suite::suite(&args),
        Commands::Scan(args) => scan::scan(&args),
        Commands::Run(args) => run::run(&args),
        Commands::Compare(args) => compare::compare(&args),
        Commands::Baseline { command } => baseline::baseline(&command),
        Commands::Workload { .. } | Commands::Guard { .. } => {
            unreachable!("handled in main before any thread starts")
        }
    }
}
