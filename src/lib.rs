//! memlab: measures copy-on-write memory sharing between a process and the children it forks.
//!
//! - [`kernel`]: everything read from `/proc` and `/sys`, as typed values.
//! - [`protocol`]: the line-based JSON phase protocol between orchestrator and workload.
//! - [`workload`]: what runs inside the measured processes (the native workloads).
//! - [`orchestrator`]: the measuring side: spawn, drive, measure, guard against orphans.
//! - [`scenario`]: the scenarios and their claims.
//! - [`result`]: the result JSON schema; [`export`]: its readable renderings.

pub mod app;
pub mod census;
pub mod cli;
pub mod compare;
pub mod error;
pub mod export;
pub mod kernel;
pub mod matrix;
pub mod orchestrator;
pub mod protocol;
pub mod python;
pub mod report;
pub mod result;
pub mod run;
pub mod scan;
pub mod scenario;
pub mod suite;
pub mod units;
pub mod workload;
