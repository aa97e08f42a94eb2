//! Renderers: a stored result for a reader. Each takes a result as stored, never a live run.
//!
//! - [`text`]: numbers, sizes, percentages and verdict words, the same everywhere;
//! - [`table`]: one table model, rendered for the terminal, Markdown and HTML;
//! - [`scenario_table`] / [`run_table`]: what `memlab scenario` and `memlab run` print.

pub mod census;
pub mod run_table;
pub mod scenario_table;
pub mod table;
pub mod text;

use crate::result::ScenarioResult;

pub trait Exporter {
    fn render(&self, result: &ScenarioResult) -> anyhow::Result<String>;
}

/// The result file's own text: pretty JSON.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn render(&self, result: &ScenarioResult) -> anyhow::Result<String> {
        Ok(result.to_json()?)
    }
}
