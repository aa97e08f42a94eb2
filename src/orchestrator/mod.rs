//! The measuring side: starts a workload in its own process tree, drives it through the phase
//! protocol, measures at every phase, and assembles the result. Never part of the measured tree.

pub mod session;

use std::process::Command;

use anyhow::Context;

use crate::kernel::machine::describe_machine;
use crate::kernel::meminfo::read_meminfo;
use crate::measure::preflight;
use crate::result::figures;
use crate::result::{Params, RunStatus, ScenarioResult, median};
use crate::scenario::{Runner, ScenarioDef, claims};
use session::{PhaseObserver, SessionOptions, SessionOutcome, run_session};

pub struct RunRequest {
    pub scenario: &'static ScenarioDef,
    pub params: Params,
    pub session: SessionOptions,
    /// A user-supplied workload command replacing the built-in one.
    pub workload_command: Option<Vec<String>>,
}

fn workload_command(request: &RunRequest) -> anyhow::Result<Command> {
    let params_json = serde_json::to_string(&request.params.workload)?;
    if let Some(argv) = &request.workload_command {
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]).env("MEMLAB_PARAMS", &params_json);
        return Ok(command);
    }
    match request.scenario.runner {
        Runner::Native { .. } => {
            let exe = std::env::current_exe().context("locating the memlab binary")?;
            let mut command = Command::new(exe);
            command.args([
                "__workload",
                request.scenario.name,
                "--params",
                &params_json,
            ]);
            Ok(command)
        }
        Runner::Python { script } => {
            let experiments = crate::python::experiments_dir().ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot find the experiments/ directory with python/memlab beside it \
                     (run from the checkout, or set MEMLAB_EXPERIMENTS_DIR)"
                )
            })?;
            let interpreter = request
                .params
                .python
                .as_ref()
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| crate::python::default_interpreter(&experiments));
            let mut command = Command::new(interpreter);
            command
                .arg(experiments.join("workloads").join(script))
                .env("MEMLAB_PARAMS", &params_json);
            // memlab supplies its client: the interpreter need not have the package installed.
            let pythonpath = crate::python::package_source_dir(&experiments).and_then(|source| {
                crate::python::pythonpath_with(&source, std::env::var_os("PYTHONPATH"))
            });
            if let Some(pythonpath) = pythonpath {
                command.env("PYTHONPATH", pythonpath);
            }
            Ok(command)
        }
    }
}

/// Runs a scenario `params.repeat` times and returns its result with claims evaluated.
pub fn run_scenario(
    request: &RunRequest,
    observer: &mut PhaseObserver<'_>,
) -> anyhow::Result<ScenarioResult> {
    let def = request.scenario;
    let available = read_meminfo()?.mem_available_bytes;
    let workload = &request.params.workload;
    let data_size = match workload.scale.as_deref() {
        Some("paper") => def.paper_size_bytes.unwrap_or(workload.size_bytes),
        _ => workload.size_bytes,
    };
    let worst_case =
        preflight::worst_case_bytes(data_size, workload.children, def.copies_per_child);
    preflight::check(def.name, worst_case, available)?;

    let machine = describe_machine(crate::kernel::pagemap::pfn_visible());
    let repeat = request.params.repeat.max(1);
    let mut results = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let outcome = run_session(
            def.name,
            workload_command(request)?,
            &request.session,
            observer,
        )?;
        let skipped = outcome.skip.is_some();
        results.push(assemble(def, &request.params, &machine, outcome));
        if skipped {
            break;
        }
    }
    Ok(merge_runs(results))
}

fn assemble(
    def: &ScenarioDef,
    params: &Params,
    machine: &crate::kernel::machine::Machine,
    outcome: SessionOutcome,
) -> ScenarioResult {
    let data_bytes = figures::data_bytes(&outcome.phases);
    let mut machine = machine.clone();
    if def.is_python() {
        // The workload's hello says e.g. "CPython 3.12.1".
        machine.python_version = outcome
            .runtime
            .as_deref()
            .and_then(|runtime| runtime.split_whitespace().last())
            .map(str::to_string);
    }
    let summary = figures::summarize(&outcome.phases, data_bytes, outcome.wall_seconds);
    let mut result = ScenarioResult::stamped(def.name, def.source_document, machine);
    result.params = Some(params.clone());
    if outcome.skip.is_some() {
        result.status = RunStatus::Skipped;
    }
    result.skip = outcome.skip;
    result.data_bytes = data_bytes;
    result.regions = outcome.regions;
    result.phases = outcome.phases;
    result.facts = outcome.facts;
    result.runs = vec![summary.clone()];
    result.summary = summary;
    result.timeline = outcome.timeline;
    if result.status == RunStatus::Completed {
        result.claims = claims::evaluate(def.claims, &result);
    }
    result
}

/// The first run is the one shown; the others contribute their summaries, and a claim holds
/// only if it held in every run.
fn merge_runs(mut results: Vec<ScenarioResult>) -> ScenarioResult {
    let mut first = results.remove(0);
    if results.is_empty() {
        return first;
    }
    for claim in &mut first.claims {
        let mut measured = vec![claim.measured];
        for other in &results {
            if let Some(again) = other.claims.iter().find(|c| c.id == claim.id) {
                measured.push(again.measured);
                claim.verdict = claim.verdict.and(again.verdict);
            }
        }
        claim.measured = median(&measured);
        claim.measured_per_run = measured;
    }
    first.runs.extend(results.into_iter().map(|r| r.summary));
    first
}
