//! `memlab scenario NAME`: one scenario, its table and claims, its result file.

use std::io::Write;

use anyhow::Context;

use crate::cli::ScenarioArgs;
use crate::error::exit_code;
use crate::kernel::meminfo::total_ram_bytes;
use crate::measure::guard;
use crate::options::scenario::scenario_request;
use crate::orchestrator::run_scenario;
use crate::output::{claim_result, write_atomically};
use crate::render::Exporter;
use crate::render::scenario_table::TableExporter;
use crate::result::Phase;
use crate::result::files::result_path;

pub fn scenario(args: &ScenarioArgs) -> anyhow::Result<i32> {
    let request = scenario_request(args, total_ram_bytes())?;
    let path = result_path(&args.settings.out, request.scenario.name);
    let _claimed = claim_result(&path)?;
    guard::install()?;
    let quiet = args.json;
    let mut observer = |phase: &Phase| {
        if !quiet {
            eprintln!("  measured phase '{}' at {:.2} s", phase.name, phase.time_s);
        }
    };
    let result = run_scenario(&request, &mut observer)?;
    let json = result.to_json()?;
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
