//! The Python version matrix: the scenarios whose outcome depends on the interpreter
//! (refcounts, GC headers, interning) under every CPython on the machine, side by side.

use std::io::Write;

use anyhow::Context;

use crate::cli::{MatrixArgs, ScenarioArgs, resolve_scenario};
use crate::error::{MemlabError, exit_code};
use crate::export::json::JsonExporter;
use crate::export::{Exporter, write_atomically};
use crate::orchestrator::{guard, run_scenario};
use crate::python::{Interpreter, discover, probe};
use crate::result::{RunStatus, ScenarioResult};
use crate::scenario;

pub fn list_pythons() -> anyhow::Result<i32> {
    let (found, skipped) = discover();
    let mut out = std::io::stdout().lock();
    for interpreter in &found {
        writeln!(
            out,
            "{:<10} {}",
            interpreter.version,
            interpreter.path.display()
        )?;
    }
    for (path, reason) in &skipped {
        writeln!(out, "{:<10} {} (skipped: {reason})", "-", path.display())?;
    }
    Ok(exit_code::OK)
}

fn interpreters(args: &MatrixArgs) -> anyhow::Result<Vec<Interpreter>> {
    if args.pythons.is_empty() {
        let (found, skipped) = discover();
        for (path, reason) in skipped {
            eprintln!("matrix: skipping {} ({reason})", path.display());
        }
        return Ok(found);
    }
    args.pythons
        .iter()
        .map(|path| {
            probe(path).ok_or_else(|| {
                MemlabError::Usage(format!("'{}' is not a working Python", path.display())).into()
            })
        })
        .collect()
}

fn cell(result: &ScenarioResult) -> String {
    if result.status == RunStatus::Skipped {
        return "skipped".to_string();
    }
    match result.claims.first() {
        Some(claim) => {
            let verdict = match claim.holds {
                Some(true) => "holds",
                Some(false) => "BROKEN",
                None => "n/a",
            };
            format!("{:.1}% {verdict}", claim.measured * 100.0)
        }
        None => "-".to_string(),
    }
}

pub fn run_matrix(args: &MatrixArgs) -> anyhow::Result<i32> {
    let names: Vec<&'static str> = if args.scenarios.is_empty() {
        scenario::all()
            .iter()
            .filter(|s| s.in_version_matrix)
            .map(|s| s.name)
            .collect()
    } else {
        args.scenarios
            .iter()
            .map(|n| resolve_scenario(n).map(|d| d.name))
            .collect::<Result<_, _>>()?
    };
    let pythons = interpreters(args)?;
    if pythons.is_empty() {
        return Err(
            MemlabError::Usage("no CPython >= 3.8 found (see memlab pythons)".into()).into(),
        );
    }
    let ram = crate::app::total_ram_bytes();
    // Validate every cell before running any.
    let mut requests = Vec::new();
    for name in &names {
        for python in &pythons {
            let cell_args = ScenarioArgs::for_matrix(name, args, python.path.clone());
            requests.push((
                *name,
                python,
                cell_args.to_request(ram)?,
                cell_args.out.clone(),
            ));
        }
    }
    guard::install()?;
    let mut rows: Vec<(String, Vec<String>)> =
        names.iter().map(|n| (n.to_string(), Vec::new())).collect();
    let mut broken = false;
    for (name, python, request, out) in requests {
        eprintln!("matrix: {name} under Python {}", python.version);
        let result = run_scenario(&request, &mut |_| {})?;
        broken |= result.any_claim_broken();
        let path = out.join(format!("{name}@python{}.json", python.version));
        write_atomically(&path, &JsonExporter.render(&result)?)
            .context("saving a matrix result")?;
        let row = rows
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("every name has a row");
        row.1.push(cell(&result));
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Python version matrix: first claim's measured value and verdict per interpreter"
    )?;
    write!(out, "{:<22}", "scenario")?;
    for python in &pythons {
        write!(out, " {:>18}", format!("Python {}", python.version))?;
    }
    writeln!(out)?;
    for (name, cells) in rows {
        write!(out, "{name:<22}")?;
        for cell in cells {
            write!(out, " {cell:>18}")?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "\nresults written to {}",
        args.out.join("matrix").display()
    )?;
    Ok(if broken {
        exit_code::CLAIM_BROKEN
    } else {
        exit_code::OK
    })
}
