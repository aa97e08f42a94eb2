//! `memlab list`: the scenarios, as a table, names, or JSON.

use std::io::Write;

use crate::error::exit_code;
use crate::scenario;

pub fn list(json: bool, names: bool) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    if names {
        for s in scenario::all() {
            writeln!(out, "{}", s.name)?;
        }
    } else if json {
        let entries: Vec<serde_json::Value> = scenario::all()
            .iter()
            .map(|s| serde_json::json!({"name": s.name, "source_document": s.source_document, "summary": s.summary}))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&entries)?)?;
    } else {
        writeln!(out, "{:<18} {:<8} what it shows", "scenario", "document")?;
        for s in scenario::all() {
            writeln!(out, "{:<18} {:<8} {}", s.name, s.source_document, s.summary)?;
        }
    }
    Ok(exit_code::OK)
}
