//! The application layer: what each subcommand does, returning the process exit code.

use std::io::Write;

use anyhow::Context;

use crate::cli::{Cli, Commands, ScenarioArgs};
use crate::error::exit_code;
use crate::export::json::JsonExporter;
use crate::export::table::TableExporter;
use crate::export::{Exporter, write_atomically};
use crate::orchestrator::{guard, run_scenario};
use crate::result::Phase;
use crate::scenario;

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Commands::List { json, names } => list(json, names),
        Commands::Scenario(args) => run_one_scenario(&args),
        Commands::Matrix(args) => crate::matrix::run_matrix(&args),
        Commands::Pythons => crate::matrix::list_pythons(),
        Commands::Report(args) => crate::report::run_report(&args),
        Commands::Suite(args) => crate::suite::run_suite(&args),
        Commands::Scan(args) => crate::scan::run_scan(&args),
        Commands::Run(args) => crate::run::run_command(&args),
        Commands::Compare(args) => crate::compare::run_compare(&args),
        Commands::Baseline { command } => crate::compare::baseline::run_baseline(&command),
        Commands::Workload { .. } => unreachable!("handled in main before any thread starts"),
    }
}

fn list(json: bool, names: bool) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    if names {
        for s in scenario::all() {
            writeln!(out, "{}", s.name)?;
        }
    } else if json {
        let entries: Vec<serde_json::Value> = scenario::all()
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "source_document": s.source_document, "summary": s.summary}))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
    } else {
        writeln!(out, "{:<18} {:<8} what it shows", "scenario", "document")?;
        for s in scenario::all() {
            writeln!(out, "{:<18} {:<8} {}", s.name, s.source_document, s.summary)?;
        }
    }
    Ok(exit_code::OK)
}

pub(crate) fn total_ram_bytes() -> u64 {
    crate::kernel::meminfo::read_meminfo()
        .map(|m| m.mem_total_bytes)
        .unwrap_or(0)
}

fn run_one_scenario(args: &ScenarioArgs) -> anyhow::Result<i32> {
    let request = args.to_request(total_ram_bytes())?;
    guard::install()?;
    let quiet = args.json;
    let mut observer = |phase: &Phase| {
        if !quiet {
            eprintln!("  measured phase '{}' at {:.2} s", phase.name, phase.time_s);
        }
    };
    let result = run_scenario(&request, &mut observer)?;
    let json = JsonExporter.render(&result)?;
    let path = args.out.join(format!("{}.json", result.scenario));
    write_atomically(&path, &json).context("saving the result")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        out.write_all(json.as_bytes())?;
    } else {
        out.write_all(TableExporter.render(&result)?.as_bytes())?;
        writeln!(out, "\nresult written to {}", path.display())?;
    }
    Ok(if result.any_claim_broken() {
        exit_code::CLAIM_BROKEN
    } else {
        exit_code::OK
    })
}
