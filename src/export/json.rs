use super::Exporter;
use crate::result::ScenarioResult;

pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn render(&self, result: &ScenarioResult) -> anyhow::Result<String> {
        let mut text = serde_json::to_string_pretty(result)?;
        text.push('\n');
        Ok(text)
    }
}
