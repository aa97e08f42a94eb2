//! The command line (clap) and the options layer that validates it into run requests.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::MemlabError;
use crate::orchestrator::RunRequest;
use crate::orchestrator::session::SessionOptions;
use crate::result::Params;
use crate::scenario::{self, ScenarioDef};
use crate::units::{ByteSize, format_bytes};

#[derive(Debug, Parser)]
#[command(
    name = "memlab",
    version,
    about = "Measures copy-on-write memory sharing between a process and the children it forks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// List the scenarios: name, source document, what it shows.
    List {
        /// Print the list as JSON.
        #[arg(long, conflicts_with = "names")]
        json: bool,
        /// Print only the names, one per line (for scripts).
        #[arg(long)]
        names: bool,
    },
    /// Run one scenario, print its table and claims, and write results/NAME.json.
    Scenario(ScenarioArgs),
    /// Run the refcount, GC and interning scenarios under every CPython found (PATH, python3.X,
    /// $PYENV_ROOT/versions), side by side.
    Matrix(MatrixArgs),
    /// List the CPython interpreters memlab finds, and those it skips with the reason.
    Pythons,
    /// Render stored results as results/report.html (self-contained), results/report.md and
    /// charts (plots/*.svg, *.png).
    Report(ReportArgs),
    /// Run the scenarios of a suite file (experiments/suites/NAME.json), one result per entry;
    /// with --check, exit 3 when a claim does not hold.
    Suite(crate::suite::SuiteArgs),
    /// Run one scenario once per value of one numeric parameter; results in DIR/scans/.
    Scan(crate::scan::ScanArgs),
    /// Run any command (memlab run -- COMMAND ARGS…) or follow a running process (--pid):
    /// its whole process tree over time, each forked child's pages against its parent's.
    Run(crate::run::RunArgs),
    /// Compare current results with a baseline (files or directories): exit 3 on a regression.
    Compare(crate::compare::CompareArgs),
    /// Store results as a baseline for `memlab compare`.
    Baseline {
        #[command(subcommand)]
        command: crate::compare::baseline::BaselineCommand,
    },
    /// Internal: run a native workload (started by memlab itself).
    #[command(name = "__workload", hide = true)]
    Workload {
        name: String,
        #[arg(long)]
        params: String,
    },
}

#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Scenario name (see `memlab list`).
    pub name: String,
    /// Target size of the data set, e.g. 64MiB, 1GiB.
    #[arg(long)]
    pub size: Option<ByteSize>,
    /// Number of children the workload forks.
    #[arg(long)]
    pub children: Option<usize>,
    /// The children's operation, for scenarios that have several (e.g. clone or read).
    #[arg(long)]
    pub op: Option<String>,
    /// Fraction of the pages each child writes (array-write).
    #[arg(long)]
    pub fraction: Option<f64>,
    /// Size of each object (refcount-objsize), e.g. 16, 4KiB, 1MiB.
    #[arg(long)]
    pub object_size: Option<ByteSize>,
    /// Python interpreter for Python scenarios (default: the project's .venv, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Python scenarios: `paper` uses the documents' own data sizes (when memory allows).
    #[arg(long, value_parser = ["default", "paper"])]
    pub scale: Option<String>,
    /// Run the scenario N times; a claim holds only if it holds every time.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Print only the result JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Directory for the result file.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Longest silence allowed from the workload, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Show the workload's stderr as it runs.
    #[arg(long, short)]
    pub verbose: bool,
    /// Timeline: milliseconds between two statm samples of the tree (smaps_rollup as often as
    /// its cost allows); 0 records no timeline.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub sample_interval: u64,
    /// Hold the tree after measuring this phase (e.g. forked, operated) until Enter is
    /// pressed, to inspect it with other tools.
    #[arg(long, value_name = "PHASE")]
    pub pause_at: Option<String>,
    /// Run this command as the scenario's workload instead of the built-in one: a workload
    /// written in any language that speaks docs/protocol.md. Parameters arrive as JSON in
    /// MEMLAB_PARAMS.
    #[arg(long, value_name = "COMMAND", num_args = 1.., allow_hyphen_values = true, hide = true)]
    pub workload_cmd: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Target size of each scenario's data set.
    #[arg(long)]
    pub size: Option<ByteSize>,
    /// Number of children each workload forks.
    #[arg(long)]
    pub children: Option<usize>,
    /// Interpreters to use instead of those discovered (repeatable).
    #[arg(long = "python", value_name = "PATH")]
    pub pythons: Vec<PathBuf>,
    /// Only these scenarios (repeatable; default: every matrix scenario).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,
    /// Directory for the results (written under DIR/matrix/).
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Longest silence allowed from a workload, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files, or directories of them (their scans/ and matrix/ included).
    #[arg(value_name = "RESULTS", default_value = "results")]
    pub results: Vec<PathBuf>,
    /// Directory for report.html and report.md.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
    /// Directory for the charts (SVG and PNG).
    #[arg(long, value_name = "DIR", default_value = "plots")]
    pub plots: PathBuf,
}

impl ScenarioArgs {
    /// The arguments of one matrix cell: a scenario under one interpreter.
    pub fn for_matrix(name: &str, matrix: &MatrixArgs, python: PathBuf) -> ScenarioArgs {
        ScenarioArgs {
            name: name.to_string(),
            size: matrix.size,
            children: matrix.children,
            op: None,
            fraction: None,
            object_size: None,
            python: Some(python),
            scale: None,
            repeat: 1,
            json: true,
            out: matrix.out.join("matrix"),
            timeout: matrix.timeout,
            verbose: false,
            sample_interval: 10,
            pause_at: None,
            workload_cmd: None,
        }
    }
}

/// Most children a run may fork: more is almost certainly a typo on a workstation.
pub const MAX_CHILDREN: usize = 256;
/// Most repetitions: a run is minutes at most, a thousand of them is a mistake.
pub const MAX_REPEAT: usize = 100;

fn usage(message: impl Into<String>) -> MemlabError {
    MemlabError::Usage(message.into())
}

/// Resolves a scenario name, suggesting the closest one when unknown.
pub fn resolve_scenario(name: &str) -> Result<&'static ScenarioDef, MemlabError> {
    scenario::find(name).ok_or_else(|| match scenario::closest(name) {
        Some(close) => usage(format!(
            "unknown scenario '{name}'; did you mean '{close}'? (memlab list shows all)"
        )),
        None => usage(format!("unknown scenario '{name}' (memlab list shows all)")),
    })
}

impl ScenarioArgs {
    /// Validates the arguments against the scenario and the machine.
    pub fn to_request(&self, total_ram_bytes: u64) -> Result<RunRequest, MemlabError> {
        let def = resolve_scenario(&self.name)?;
        let page = crate::kernel::page_size_bytes();
        let size_bytes = self.size.map(|s| s.0).unwrap_or(def.default_size_bytes);
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
        let children = self.children.unwrap_or(def.default_children);
        if children == 0 || children > MAX_CHILDREN {
            return Err(usage(format!(
                "--children must be between 1 and {MAX_CHILDREN}, got {children}"
            )));
        }
        if self.repeat == 0 || self.repeat > MAX_REPEAT {
            return Err(usage(format!(
                "--repeat must be between 1 and {MAX_REPEAT}, got {}",
                self.repeat
            )));
        }
        if let Some(phase) = &self.pause_at
            && !crate::protocol::is_valid_phase_name(phase)
        {
            return Err(usage(format!(
                "--pause-at takes a phase name such as 'forked', got '{phase}'"
            )));
        }
        if self.workload_cmd.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(usage("--workload-cmd needs a command"));
        }
        if self.python.is_some() && !def.is_python() {
            return Err(usage(format!(
                "'{}' is a native scenario: --python applies to py-* scenarios",
                def.name
            )));
        }
        let scale = match self.scale.as_deref() {
            None | Some("default") => None,
            Some(_) if !def.is_python() => {
                return Err(usage(format!(
                    "'{}' is a native scenario: --scale applies to py-* scenarios",
                    def.name
                )));
            }
            Some(_) if self.size.is_some() => {
                return Err(usage("--scale paper sets the size: drop --size"));
            }
            Some(_) if def.paper_size_bytes.is_none() => {
                return Err(usage(format!(
                    "'{}' has no size from its document: --scale paper does not apply",
                    def.name
                )));
            }
            Some(scale) => Some(scale.to_string()),
        };
        if self.timeout == 0 {
            return Err(usage("--timeout must be at least 1 second"));
        }
        let op = match (&self.op, def.ops) {
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
        let fraction = match (self.fraction, def.takes_fraction) {
            (None, true) => Some(0.25),
            (None, false) => None,
            (Some(_), false) => return Err(usage(format!("'{}' takes no --fraction", def.name))),
            (Some(f), true) if (0.0..=1.0).contains(&f) => Some(f),
            (Some(f), true) => {
                return Err(usage(format!(
                    "--fraction must be between 0 and 1, got {f}"
                )));
            }
        };
        let object_size_bytes = match (self.object_size, def.default_object_size_bytes) {
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
        Ok(RunRequest {
            scenario: def,
            params: Params {
                size_bytes,
                children,
                op,
                fraction,
                object_size_bytes,
                repeat: self.repeat,
                python: self.python.as_ref().map(|p| p.display().to_string()),
                scale,
            },
            session: SessionOptions {
                message_timeout: Duration::from_secs(self.timeout),
                hello_timeout: Duration::from_secs(self.timeout)
                    .min(crate::orchestrator::session::DEFAULT_HELLO_TIMEOUT),
                echo_stderr: self.verbose,
                pause_at: self.pause_at.clone(),
                sampler: (self.sample_interval > 0).then(|| {
                    crate::orchestrator::sampler::SamplerConfig {
                        statm_interval: Duration::from_millis(self.sample_interval),
                    }
                }),
            },
            workload_command: self.workload_cmd.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn request(args: &[&str]) -> Result<RunRequest, MemlabError> {
        let mut argv = vec!["memlab", "scenario"];
        argv.extend_from_slice(args);
        let Commands::Scenario(args) = Cli::try_parse_from(argv).expect("parses").command else {
            panic!("not a scenario command");
        };
        args.to_request(24 << 30)
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
        assert_eq!(request.params.size_bytes, 256 << 20);
        assert_eq!(request.params.children, 4);
        assert_eq!(request.params.fraction, Some(0.25));
        assert_eq!(request.params.op, None);
        let request =
            super::tests::request(&["refcount-list", "--size", "64MiB", "--children", "2"])
                .unwrap();
        assert_eq!(request.params.op.as_deref(), Some("clone"));
        assert_eq!(request.params.size_bytes, 64 << 20);
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
        for message in [
            usage_message(&["refcount-lst"]),
            usage_message(&["array-read", "--children", "0"]),
        ] {
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn clap_rejects_malformed_sizes_and_numbers() {
        for argv in [
            vec!["memlab", "scenario", "array-read", "--size", "12parsecs"],
            vec!["memlab", "scenario", "array-read", "--size", "-1MiB"],
            vec!["memlab", "scenario", "array-read", "--children", "-3"],
            vec!["memlab", "scenario", "array-read", "--children", "four"],
        ] {
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?}");
        }
    }
}
