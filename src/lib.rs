//! memlab: measures copy-on-write memory sharing between a process and the children it forks.
//!
//! Data flows one way, top to bottom (docs/architecture.md; `tests/architecture.rs` keeps it):
//!
//! - [`commands`]: one file per subcommand; [`options`] validates what [`cli`] parsed;
//!   [`batch`] runs many scenarios (suite, scan, matrix).
//! - Renderers of stored results: [`report`] (HTML, Markdown, charts), [`compare`] (CI
//!   regressions), [`render`] (terminal tables, the shared text and table model).
//! - Measuring engines: [`orchestrator`] (scenarios, over the phase protocol) and [`follow`]
//!   (`memlab run`, any process tree), both on the shared layer [`measure`].
//! - [`scenario`]: the catalog, each definition with its claims.
//! - [`workload`]: what runs inside the measured processes (the native workloads);
//!   [`census`]: the Python objects on a child's pages, read from outside the process.
//! - [`result`]: the result JSON, the public contract.
//! - At the bottom: [`protocol`] (the phase protocol), [`kernel`] (everything read from
//!   `/proc` and `/sys`), [`python`] (finding interpreters), [`output`] (safe writes),
//!   [`units`], [`error`].

pub mod batch;
pub mod census;
pub mod cli;
pub mod commands;
pub mod compare;
pub mod error;
pub mod follow;
pub mod kernel;
pub mod measure;
pub mod options;
pub mod orchestrator;
pub mod output;
pub mod protocol;
pub mod python;
pub mod render;
pub mod report;
pub mod result;
pub mod scenario;
pub mod units;
pub mod workload;
