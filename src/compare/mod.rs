//! `memlab compare BASELINE CURRENT` and `memlab baseline save`: regression checks between two
//! sets of result files, for CI.
//!
//! How the pieces fit, each using only those listed before it:
//!
//! - [`rule`]: when a change is noise, a warning, a regression or an improvement.
//! - `model`: the comparison as serialisable data (the `--json` contract).
//! - `load`: reading each side through the one result loader.
//! - `differences`: the machine and parameter differences between two results.
//! - `pair`: matching baseline and current results, by file name, then by scenario and
//!   parameters.
//! - `metrics`: one pair of completed results, figure by figure, judged by [`rule`].
//! - `sets`: two sets of results: pairs, compares each pair (or says why not), ranks and counts.
//! - [`report`]: the terminal table, the Markdown summary and the JSON.
//! - [`baseline`]: `memlab baseline save`.

pub mod baseline;
mod differences;
mod load;
mod metrics;
mod model;
mod pair;
pub mod report;
pub mod rule;
mod sets;

pub use differences::machine_differences;
pub use load::{Loaded, Side, load_file, load_side};
pub use metrics::compare_results;
pub use model::{
    COMPARE_SCHEMA_VERSION, Comparison, Counts, Difference, EntryComparison, EntryStatus,
    MetricComparison, SideInfo,
};
pub use pair::{Given, pair};
pub use rule::{Judgement, NoisyUnit, Thresholds, Verdict};
pub use sets::compare;
