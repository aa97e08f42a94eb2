//! The command line: clap's definition and nothing else. It takes value types from the units
//! module and no behaviour from the rest of the crate; the options layer validates what it
//! parsed into the requests the commands run.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::units::ByteSize;

/// Longest silence allowed from a workload by default, in seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 300;
/// Default milliseconds between two statm samples of the timeline.
pub const DEFAULT_SAMPLE_INTERVAL_MS: u64 = 10;
/// Default directory of result files.
pub const DEFAULT_RESULTS_DIR: &str = "results";

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
    Suite(SuiteArgs),
    /// Run one scenario once per value of one numeric parameter; results in DIR/scans/.
    Scan(ScanArgs),
    /// Run any command (memlab run -- COMMAND ARGS…) or follow a running process (--pid):
    /// its whole process tree over time, each forked child's pages against its parent's.
    Run(RunArgs),
    /// Compare current results with a baseline (files or directories): exit 3 on a regression.
    Compare(CompareArgs),
    /// Store results as a baseline for `memlab compare`.
    Baseline {
        #[command(subcommand)]
        command: BaselineCommand,
    },
    /// Internal: run a native workload (started by memlab itself).
    #[command(name = "__workload", hide = true)]
    Workload {
        name: String,
        #[arg(long)]
        params: String,
    },
    /// Internal: the guard that kills memlab's cgroup when memlab ends (started by memlab).
    #[command(name = "__guard", hide = true)]
    Guard { cgroup: std::path::PathBuf },
}

/// A scenario's parameters, as `scenario` and `scan` take them (and suites set them).
#[derive(Debug, Clone, Args)]
pub struct ScenarioParamArgs {
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
    /// Run the scenario N times; a claim holds only if it holds every time.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

impl Default for ScenarioParamArgs {
    /// Every parameter at the scenario's own default, one run.
    fn default() -> Self {
        ScenarioParamArgs {
            size: None,
            children: None,
            op: None,
            fraction: None,
            object_size: None,
            python: None,
            repeat: 1,
        }
    }
}

/// How scenario runs are driven and where their results go.
#[derive(Debug, Clone, Args)]
pub struct RunSettingsArgs {
    /// Directory for the result files.
    #[arg(long, default_value = DEFAULT_RESULTS_DIR)]
    pub out: PathBuf,
    /// Longest silence allowed from the workload, in seconds.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_S)]
    pub timeout: u64,
}

impl Default for RunSettingsArgs {
    fn default() -> Self {
        RunSettingsArgs {
            out: PathBuf::from(DEFAULT_RESULTS_DIR),
            timeout: DEFAULT_TIMEOUT_S,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ScenarioArgs {
    /// Scenario name (see `memlab list`).
    pub name: String,
    #[command(flatten)]
    pub params: ScenarioParamArgs,
    #[command(flatten)]
    pub settings: RunSettingsArgs,
    /// Python scenarios: `paper` uses the documents' own data sizes (when memory allows).
    #[arg(long, value_parser = ["default", "paper"])]
    pub scale: Option<String>,
    /// Print only the result JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Show the workload's stderr as it runs.
    #[arg(long, short)]
    pub verbose: bool,
    /// Timeline: milliseconds between two statm samples of the tree (smaps_rollup as often as
    /// its cost allows); 0 records no timeline.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_SAMPLE_INTERVAL_MS)]
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

impl ScenarioArgs {
    /// `memlab scenario NAME` with these parameters and every other option at its default:
    /// what a suite entry, a scan point or a matrix cell runs.
    pub fn batch(name: &str, params: ScenarioParamArgs, settings: RunSettingsArgs) -> Self {
        ScenarioArgs {
            name: name.to_string(),
            params,
            settings,
            scale: None,
            json: true,
            verbose: false,
            sample_interval: DEFAULT_SAMPLE_INTERVAL_MS,
            pause_at: None,
            workload_cmd: None,
        }
    }
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
    /// Results are written under DIR/matrix/.
    #[command(flatten)]
    pub settings: RunSettingsArgs,
}

#[derive(Debug, Args)]
pub struct SuiteArgs {
    /// The suite: a name under experiments/suites/ (quick, all) or the path of a suite file.
    #[arg(long, default_value = "quick", value_name = "NAME|PATH")]
    pub suite: String,
    /// Exit 3 when any claim does not hold (they are listed); skipped scenarios do not count.
    #[arg(long)]
    pub check: bool,
    /// Size of every entry's data set, overriding the suite file.
    #[arg(long)]
    pub size: Option<ByteSize>,
    /// Children of every entry, overriding the suite file.
    #[arg(long)]
    pub children: Option<usize>,
    /// Runs of every entry, overriding the suite file (the spread compare uses for noisy figures).
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Interpreter for the py-* entries (default: the project's .venv, else python3).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Result files go to DIR/NAME.json (see docs/results.md for the names).
    #[command(flatten)]
    pub settings: RunSettingsArgs,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Scenario name (see `memlab list`).
    pub name: String,
    /// The parameter and its values: children, size, object-size or fraction, e.g.
    /// `children=1,2,4,8`, `children=1..6`, `size=16MiB,64MiB`, `object-size=16,4KiB,1MiB`.
    #[arg(long, value_name = "KEY=V1,V2,…")]
    pub param: String,
    /// The other parameters, the same at every point.
    #[command(flatten)]
    pub params: ScenarioParamArgs,
    /// Results are written under DIR/scans/.
    #[command(flatten)]
    pub settings: RunSettingsArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files, or directories of them (their scans/ and matrix/ included).
    #[arg(value_name = "RESULTS", default_value = DEFAULT_RESULTS_DIR)]
    pub results: Vec<PathBuf>,
    /// Directory for report.html and report.md.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RESULTS_DIR)]
    pub out: PathBuf,
    /// Directory for the charts (SVG and PNG).
    #[arg(long, value_name = "DIR", default_value = "plots")]
    pub plots: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Follow this running process and its descendants instead of starting a command (memlab
    /// never signals it; Ctrl-C stops following).
    #[arg(long, value_name = "PID")]
    pub pid: Option<i32>,
    /// Page truth of every process at least this often, in milliseconds, and at each new
    /// process's first sighting (stretched so that passes take at most 10% of a core).
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub interval: u64,
    /// Timeline: milliseconds between two statm samples of the tree (smaps_rollup as often as
    /// its cost allows); 0 records no timeline.
    #[arg(long, value_name = "MS", default_value_t = DEFAULT_SAMPLE_INTERVAL_MS)]
    pub sample_interval: u64,
    /// Take the headline figures and the checks at the phase of this marker (`NAME`,
    /// `NAME-begin`, `NAME-end`, from memlab.mark, memlab.phase, memlab.checkpoint); the last
    /// one when the marker came several times. Default: the last pass before the command began
    /// to end (its exit, or the signal memlab forwarded).
    #[arg(long, value_name = "MARK")]
    pub at: Option<String>,
    /// After forwarding Ctrl-C (or SIGTERM, SIGHUP) to the command, how many seconds it has to
    /// exit before memlab kills its tree; a second signal kills at once. The default outlasts
    /// gunicorn's own graceful timeout (30 s).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::follow::GRACE.as_secs_f64())]
    pub grace: f64,
    /// When the command exits leaving processes running (a daemon, a server started with -D),
    /// keep following them until Ctrl-C and then leave them running, as with --pid; without
    /// it they are killed, and memlab says so.
    #[arg(long, conflicts_with = "pid")]
    pub keep: bool,
    /// Take no census of the Python objects on the forked CPython children's copied pages
    /// (by default: a child's first, when its copied bytes change markedly or settle, and at
    /// each checkpoint marker, within 5% of a core).
    #[arg(long)]
    pub no_census: bool,
    /// With --pid: read markers from this inherited file descriptor (the read end of a pipe
    /// whose write end the followed program holds); a `stop` message on it ends the run.
    #[arg(long, value_name = "FD", requires = "pid")]
    pub markers_fd: Option<i32>,
    /// Exit 3 when a forked child copied more than SIZE from its parent (e.g. 10MiB), naming it.
    #[arg(long, value_name = "SIZE")]
    pub max_copied_per_child: Option<ByteSize>,
    /// Exit 3 when the tree's unique footprint (distinct physical pages) exceeds SIZE.
    #[arg(long, value_name = "SIZE")]
    pub max_tree_unique: Option<ByteSize>,
    /// Print only the result JSON on stdout (the command's stdout goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Directory for the result file.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RESULTS_DIR)]
    pub out: PathBuf,
    /// Name of the result file: DIR/NAME.json.
    #[arg(long, default_value = "run")]
    pub name: String,
    /// The command to run and follow (after `--`).
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline: a result file or a directory of results (e.g. saved by `memlab baseline save`).
    pub baseline: PathBuf,
    /// The current results: a result file or a directory of results.
    pub current: PathBuf,
    /// Also write the report as GitHub-flavoured Markdown to FILE (regressions first), e.g.
    /// for $GITHUB_STEP_SUMMARY.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Print the comparison as JSON on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Treat another machine, other parameters, and baseline results missing from the current
    /// set as errors (exit 1) rather than flags in the report.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

/// The comparison rule's thresholds (docs/ci.md). The defaults are the rule's own
/// (`compare::rule::Thresholds::default()`, checked by a test).
#[derive(Debug, Clone, Args)]
pub struct ThresholdArgs {
    /// Page-truth figures: a rise of more than this many pages (and more than --warn-pct) is a
    /// warning.
    #[arg(long, default_value_t = 32, value_name = "PAGES")]
    pub warn_pages: u64,
    /// Page-truth figures: a rise of more than this many pages (and more than --fail-pct) is a
    /// regression.
    #[arg(long, default_value_t = 64, value_name = "PAGES")]
    pub fail_pages: u64,
    /// Page-truth figures: relative rise (percent) above which a change can warn.
    #[arg(long, default_value_t = 2.0, value_name = "PERCENT")]
    pub warn_pct: f64,
    /// Page-truth figures: relative rise (percent) above which a change can fail.
    #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
    pub fail_pct: f64,
    /// Noisy figures (times, USS, estimates): relative rise of the median that can warn.
    #[arg(long, default_value_t = 10.0, value_name = "PERCENT")]
    pub noise_warn_pct: f64,
    /// Noisy figures: relative rise of the median that can fail (when significant).
    #[arg(long, default_value_t = 25.0, value_name = "PERCENT")]
    pub noise_fail_pct: f64,
    /// Noisy byte figures: changes up to this size are unchanged.
    #[arg(long, default_value = "1MiB", value_name = "SIZE")]
    pub noise_floor_bytes: ByteSize,
    /// Noisy times: changes up to this many seconds are unchanged.
    #[arg(long, default_value_t = 0.5, value_name = "SECONDS")]
    pub noise_floor_seconds: f64,
    /// Significance level of the one-sided Mann-Whitney test on the runs of noisy figures.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Store results as a baseline in DIR (default: every result file in results/).
    Save(SaveArgs),
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// The baseline directory (created if needed).
    pub dir: PathBuf,
    /// Result files, or directories of results (default: results/).
    #[arg(value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    /// Remove the result files DIR already holds first, so the baseline is exactly this set.
    #[arg(long)]
    pub replace: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_batch_defaults_are_the_command_lines() {
        let Commands::Scenario(parsed) = Cli::try_parse_from(["memlab", "scenario", "array-read"])
            .unwrap()
            .command
        else {
            panic!("not a scenario");
        };
        let batch = ScenarioArgs::batch(
            "array-read",
            ScenarioParamArgs::default(),
            RunSettingsArgs::default(),
        );
        assert_eq!(batch.settings.out, parsed.settings.out);
        assert_eq!(batch.settings.timeout, parsed.settings.timeout);
        assert_eq!(batch.sample_interval, parsed.sample_interval);
        assert_eq!(batch.params.repeat, parsed.params.repeat);
    }
}
