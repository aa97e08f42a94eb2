//! Rendering from stored results: structure and text, from a fixture (no run needed).

use memlab::render::Exporter;
use memlab::render::scenario_table::TableExporter;
use memlab::result::load::parse_result;
use memlab::result::{SCHEMA_VERSION, ScenarioResult};

fn fixture(name: &str) -> ScenarioResult {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    parse_result(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_stored_result_round_trips_through_the_schema() {
    let result = fixture("array-write");
    assert_eq!(result.schema_version, SCHEMA_VERSION);
    let again: ScenarioResult =
        serde_json::from_str(&serde_json::to_string(&result).unwrap()).unwrap();
    assert_eq!(again, result);
}

#[test]
fn the_table_shows_phases_children_tree_and_claims() {
    let table = TableExporter.render(&fixture("array-write")).unwrap();
    insta::assert_snapshot!(table);
}
