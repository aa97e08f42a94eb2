//! `memlab matrix` and `memlab pythons`: the scenarios whose outcome depends on the interpreter
//! (refcounts, GC headers, interning) under every CPython on the machine, side by side.

use std::io::Write;

use anyhow::Context;

use crate::cli::{MatrixArgs, ScenarioArgs, ScenarioParamArgs};
use crate::error::{MemlabError, exit_code};
use crate::kernel::meminfo::total_ram_bytes;
use crate::measure::guard;
use crate::options::resolve_scenario;
use crate::options::scenario::scenario_request;
use crate::orchestrator::run_scenario;
use crate::output::{claim_result, write_atomically};
use crate::python::{Interpreter, discover, probe};
use crate::render::table::{Cell, Table, terminal};
use crate::result::files::{MATRIX_DIR, matrix_path};
use crate::result::{RunStatus, ScenarioResult};
use crate::scenario;

pub fn pythons() -> anyhow::Result<i32> {
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

/// A cell: the first claim's measured value and verdict.
fn matrix_cell(result: &ScenarioResult) -> Cell {
    if result.status == RunStatus::Skipped {
        return Cell::Skipped(String::new());
    }
    match result.claims.first() {
        Some(claim) => Cell::ValueVerdict {
            value: format!("{:.1}%", claim.measured * 100.0),
            verdict: claim.verdict,
        },
        None => Cell::Empty,
    }
}

pub fn matrix(args: &MatrixArgs) -> anyhow::Result<i32> {
    // Options that do not depend on the interpreters are checked before looking for them.
    crate::options::timeout(args.settings.timeout)?;
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
    // Sizes and children too, per scenario: a usage error is one line, before the
    // interpreters are probed (which reports those it skips).
    let ram = total_ram_bytes();
    for name in &names {
        let params = ScenarioParamArgs {
            size: args.size,
            children: args.children,
            ..ScenarioParamArgs::default()
        };
        scenario_request(
            &ScenarioArgs::batch(name, params, args.settings.clone()),
            ram,
        )?;
    }
    let pythons = interpreters(args)?;
    if pythons.is_empty() {
        return Err(
            MemlabError::Usage("no CPython >= 3.8 found (see memlab pythons)".into()).into(),
        );
    }
    // Validate every cell before running any.
    let mut requests = Vec::new();
    for name in &names {
        for python in &pythons {
            let params = ScenarioParamArgs {
                size: args.size,
                children: args.children,
                python: Some(python.path.clone()),
                ..ScenarioParamArgs::default()
            };
            let cell = ScenarioArgs::batch(name, params, args.settings.clone());
            let request = scenario_request(&cell, ram)?;
            let claimed = claim_result(&matrix_path(&args.settings.out, name, &python.version))?;
            requests.push((*name, python, request, claimed));
        }
    }
    guard::install()?;
    let mut rows: Vec<(String, Vec<Cell>)> =
        names.iter().map(|n| (n.to_string(), Vec::new())).collect();
    let mut broken = false;
    for (name, python, request, _claimed) in requests {
        eprintln!("matrix: {name} under Python {}", python.version);
        let result = run_scenario(&request, &mut |_| {})?;
        broken |= result.any_claim_broken();
        let path = matrix_path(&args.settings.out, name, &python.version);
        write_atomically(&path, &result.to_json()?).context("saving a matrix result")?;
        let row = rows
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("every name has a row");
        row.1.push(matrix_cell(&result));
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Python version matrix: first claim's measured value and verdict per interpreter"
    )?;
    let mut header = vec!["scenario".to_string()];
    header.extend(pythons.iter().map(|p| format!("Python {}", p.version)));
    let mut table = Table::with_header(header);
    for (name, mut cells) in rows {
        cells.insert(0, Cell::text(name));
        table.push(cells);
    }
    out.write_all(terminal(&table).as_bytes())?;
    writeln!(
        out,
        "\nresults written to {}",
        args.settings.out.join(MATRIX_DIR).display()
    )?;
    Ok(if broken {
        exit_code::CLAIM_BROKEN
    } else {
        exit_code::OK
    })
}
