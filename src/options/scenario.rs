//! `memlab scenario` (and every scenario a suite, a scan or the matrix runs): the parameters
//! checked against the scenario's definition and the machine.

use super::{MAX_CHILDREN, MAX_REPEAT, resolve_scenario, usage};
use crate::cli::{ScenarioArgs, ScenarioParamArgs};
use crate::error::MemlabError;
use crate::orchestrator::RunRequest;
use crate::orchestrator::session::{DEFAULT_HELLO_TIMEOUT, SessionOptions};
use crate::protocol::params::WorkloadParams;
use crate::result::Params;
use crate::scenario::ScenarioDef;
use crate::units::format_bytes;

/// Validates the arguments against the scenario and the machine.
pub fn scenario_request(
    args: &ScenarioArgs,
    total_ram_bytes: u64,
) -> Result<RunRequest, MemlabError> {
    let def = resolve_scenario(&args.name)?;
    let scale = scale(def, args.scale.as_deref(), &args.params)?;
    let params = scenario_params(def, &args.params, scale, total_ram_bytes)?;
    if let Some(phase) = &args.pause_at {
        if !crate::protocol::is_valid_phase_name(phase) {
            return Err(usage(format!(
                "--pause-at takes a phase name such as 'forked', got '{phase}'"
            )));
        }
        // A workload of the user's own may announce any phase; the built-in ones are known.
        let phases = def.phases();
        if args.workload_cmd.is_none() && !phases.contains(&phase.as_str()) {
            return Err(usage(format!(
                "--pause-at: '{}' announces no phase '{phase}' (its phases: {})",
                def.name,
                phases.join(", ")
            )));
        }
    }
    if args.workload_cmd.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(usage("--workload-cmd needs a command"));
    }
    let timeout = super::timeout(args.settings.timeout)?;
    let sampler = super::sample_interval(args.sample_interval)?;
    Ok(RunRequest {
        scenario: def,
        params,
        session: SessionOptions {
            message_timeout: timeout,
            hello_timeout: timeout.min(DEFAULT_HELLO_TIMEOUT),
            echo_stderr: args.verbose,
            pause_at: args.pause_at.clone(),
            sampler,
            // The Python objects on copied pages: for Python scenarios, and for a workload of
            // the user's own (it may be Python; a native one gets a note saying why not).
            census: def.is_python() || args.workload_cmd.is_some(),
        },
        workload_command: args.workload_cmd.clone(),
    })
}

/// `--scale paper`: only for Python scenarios with a size from their document, and not with
/// `--size`.
fn scale(
    def: &ScenarioDef,
    scale: Option<&str>,
    params: &ScenarioParamArgs,
) -> Result<Option<String>, MemlabError> {
    match scale {
        None | Some("default") => Ok(None),
        Some(_) if !def.is_python() => Err(usage(format!(
            "'{}' is a native scenario: --scale applies to py-* scenarios",
            def.name
        ))),
        Some(_) if params.size.is_some() => Err(usage("--scale paper sets the size: drop --size")),
        Some(_) if def.paper_size_bytes.is_none() => Err(usage(format!(
            "'{}' has no size from its document: --scale paper does not apply",
            def.name
        ))),
        Some(scale) => Ok(Some(scale.to_string())),
    }
}

/// The scenario's parameters: each option checked against what the scenario takes, the
/// scenario's defaults for the others.
pub fn scenario_params(
    def: &ScenarioDef,
    args: &ScenarioParamArgs,
    scale: Option<String>,
    total_ram_bytes: u64,
) -> Result<Params, MemlabError> {
    let page = crate::kernel::page_size_bytes();
    let size_bytes = args.size.map(|s| s.0).unwrap_or(def.default_size_bytes);
    if size_bytes < page {
        return Err(usage(format!(
            "--size must be at least one page ({page} bytes), got {size_bytes}"
        )));
    }
    if total_ram_bytes > 0 && size_bytes > total_ram_bytes {
        return Err(usage(format!(
            "--size {} is larger than this machine's memory ({})",
            format_bytes(size_bytes),
            format_bytes(total_ram_bytes)
        )));
    }
    let children = args.children.unwrap_or(def.default_children);
    if children == 0 || children > MAX_CHILDREN {
        return Err(usage(format!(
            "--children must be between 1 and {MAX_CHILDREN}, got {children}"
        )));
    }
    if args.repeat == 0 || args.repeat > MAX_REPEAT {
        return Err(usage(format!(
            "--repeat must be between 1 and {MAX_REPEAT}, got {}",
            args.repeat
        )));
    }
    if args.python.is_some() && !def.is_python() {
        return Err(usage(format!(
            "'{}' is a native scenario: --python applies to py-* scenarios",
            def.name
        )));
    }
    let op = match (&args.op, def.ops) {
        (None, []) => None,
        (None, ops) => Some(ops[0].to_string()),
        (Some(op), []) => {
            return Err(usage(format!("'{}' takes no --op (got '{op}')", def.name)));
        }
        (Some(op), ops) if ops.contains(&op.as_str()) => Some(op.clone()),
        (Some(op), ops) => {
            return Err(usage(format!(
                "--op for '{}' must be one of {}, got '{op}'",
                def.name,
                ops.join(", ")
            )));
        }
    };
    let fraction = match (args.fraction, def.takes_fraction) {
        (None, true) => Some(0.25),
        (None, false) => None,
        (Some(_), false) => return Err(usage(format!("'{}' takes no --fraction", def.name))),
        (Some(f), true) if (0.0..=1.0).contains(&f) => Some(f),
        (Some(f), true) => {
            return Err(usage(format!(
                "--fraction must be between 0 and 1, got {f:?}"
            )));
        }
    };
    let object_size_bytes = match (args.object_size, def.default_object_size_bytes) {
        (None, default) => default,
        (Some(_), None) => return Err(usage(format!("'{}' takes no --object-size", def.name))),
        (Some(size), Some(_)) if size.0 >= 1 && size.0 <= size_bytes => Some(size.0),
        (Some(size), Some(_)) => {
            return Err(usage(format!(
                "--object-size must be between 1 byte and --size, got {}",
                size.0
            )));
        }
    };
    Ok(Params {
        workload: WorkloadParams {
            size_bytes,
            children,
            op,
            fraction,
            object_size_bytes,
            scale,
        },
        repeat: args.repeat,
        python: args.python.as_ref().map(|p| p.display().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Commands};
    use clap::Parser;

    fn request(args: &[&str]) -> Result<RunRequest, MemlabError> {
        let mut argv = vec!["memlab", "scenario"];
        argv.extend_from_slice(args);
        let Commands::Scenario(args) = Cli::try_parse_from(argv).expect("parses").command else {
            panic!("not a scenario command");
        };
        scenario_request(&args, 24 << 30)
    }

    fn usage_message(args: &[&str]) -> String {
        match request(args) {
            Err(MemlabError::Usage(message)) => message,
            Err(other) => panic!("{args:?}: not a usage error: {other}"),
            Ok(_) => panic!("{args:?} was accepted"),
        }
    }

    #[test]
    fn applies_scenario_defaults() {
        let request = request(&["array-write"]).unwrap();
        assert_eq!(request.params.workload.size_bytes, 256 << 20);
        assert_eq!(request.params.workload.children, 4);
        assert_eq!(request.params.workload.fraction, Some(0.25));
        assert_eq!(request.params.workload.op, None);
        let request =
            super::tests::request(&["refcount-list", "--size", "64MiB", "--children", "2"])
                .unwrap();
        assert_eq!(request.params.workload.op.as_deref(), Some("clone"));
        assert_eq!(request.params.workload.size_bytes, 64 << 20);
    }

    #[test]
    fn rejects_bad_input_with_one_clear_line() {
        assert!(usage_message(&["refcount-lst"]).contains("did you mean 'refcount-list'"));
        assert!(usage_message(&["array-read", "--children", "0"]).contains("between 1 and"));
        assert!(usage_message(&["array-read", "--children", "100000"]).contains("between 1 and"));
        assert!(usage_message(&["array-read", "--size", "100"]).contains("at least one page"));
        assert!(
            usage_message(&["array-read", "--size", "1TiB"]).contains("larger than this machine")
        );
        assert!(usage_message(&["array-write", "--fraction", "1.5"]).contains("between 0 and 1"));
        assert!(
            usage_message(&["array-read", "--fraction", "0.5"]).contains("takes no --fraction")
        );
        assert!(usage_message(&["refcount-list", "--op", "poke"]).contains("clone, read"));
        assert!(usage_message(&["array-read", "--op", "read"]).contains("takes no --op"));
        assert!(usage_message(&["array-read", "--repeat", "0"]).contains("--repeat"));
        assert!(
            usage_message(&["array-read", "--pause-at", "nosuch"])
                .contains("'array-read' announces no phase 'nosuch'")
        );
        assert!(request(&["array-read", "--pause-at", "forked"]).is_ok());
        assert!(request(&["py-ray-put", "--pause-at", "put"]).is_ok());
        assert!(
            usage_message(&["array-read", "--timeout", "18446744073709551615"])
                .contains("--timeout must be between")
        );
        for message in [
            usage_message(&["refcount-lst"]),
            usage_message(&["array-read", "--children", "0"]),
        ] {
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }
}
