//! Scenarios whose data lies in a MAP_SHARED mapping on purpose: page truth compares the
//! declared region's pages with the parent's, and the "data stays shared" claim is judged on
//! them. Exact counts, from real forked processes.

mod common;

use common::{child_truth, claim, run_scenario, venv_python};
use serde_json::Value;

const PAGE: u64 = 4096;

/// Child `index`'s counts over the declared region `region`, at the summary phase.
fn region_counts(result: &Value, index: u64, region: &str) -> Value {
    let truth = child_truth(result, index);
    let found = truth["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == region && r["declared"] == true)
        .unwrap_or_else(|| panic!("no declared region {region} in {truth}"));
    let pages = |name: &str| found[name].as_u64().unwrap();
    serde_json::json!({
        "shared": pages("shared_pages"),
        "copied": pages("copied_pages"),
        "child_only": pages("child_only_pages"),
        "parent_only": pages("parent_only_pages"),
        "swapped": pages("swapped_pages"),
    })
}

/// Pages the workload declared for `region`.
fn declared_pages(result: &Value, region: &str) -> u64 {
    let declared = result["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == region)
        .unwrap();
    let (start, end) = (
        declared["start"].as_u64().unwrap(),
        declared["end"].as_u64().unwrap(),
    );
    assert_eq!(start % PAGE, 0, "the region starts on a page boundary");
    (end - start).div_ceil(PAGE)
}

/// The "data stays shared" claim is judged, holds, and has no note (exact page truth).
fn assert_shared_claim_holds(result: &Value) {
    let shared = claim(result, "data-shared");
    assert_eq!(shared["holds"], true, "{shared}");
    assert_eq!(shared["measured"], 0.0, "{shared}");
    if result["summary"]["copied_method"] == "page-truth-pfn" {
        assert!(shared["note"].is_null(), "{shared}");
    }
}

fn run_python(name: &str) -> Value {
    let out = tempfile::tempdir().unwrap();
    let python = venv_python();
    let args = ["--size", "32MiB", "--children", "2", "--python", &python];
    let (code, result) = run_scenario(name, &args, out.path());
    assert_eq!(result["status"], "completed", "{}", result["skip"]);
    assert_eq!(code, 0, "{name}: {}", result["claims"]);
    result
}

#[test]
fn shared_mapping_children_share_the_slice_they_wrote_and_copy_nothing() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "shared-mapping",
        &["--size", "32MiB", "--children", "4"],
        out.path(),
    );
    assert_eq!(code, 0, "{}", result["claims"]);
    let pages = declared_pages(&result, "data");
    assert_eq!(pages, (32 << 20) / PAGE);
    assert_shared_claim_holds(&result);
    // Fork copies no page-table entry of a shared mapping: each child maps only the quarter
    // it wrote (through the inherited mapping), the parent's own frames, and the rest of the
    // region is the parent's only. Writing a shared page copies nothing.
    for child in 1..=4 {
        assert_eq!(
            region_counts(&result, child, "data"),
            serde_json::json!({
                "shared": pages / 4,
                "copied": 0,
                "child_only": 0,
                "parent_only": pages - pages / 4,
                "swapped": 0,
            }),
            "child {child}"
        );
    }
}

/// Both children of a 32 MiB Python scenario share every page of its declared region, and
/// copied none.
fn assert_both_children_share_the_whole_region(result: &Value) {
    let pages = declared_pages(result, "data");
    assert_eq!(pages, (32 << 20) / PAGE);
    assert_shared_claim_holds(result);
    for child in 1..=2 {
        assert_eq!(
            region_counts(result, child, "data"),
            serde_json::json!({
                "shared": pages, "copied": 0, "child_only": 0, "parent_only": 0, "swapped": 0,
            }),
            "child {child}"
        );
    }
}

#[test]
fn py_rawarray_children_share_the_whole_array() {
    // Every child reads the whole array and writes its half: all of it shared, none copied.
    assert_both_children_share_the_whole_region(&run_python("py-rawarray"));
}

#[test]
fn py_shared_memory_children_share_the_whole_segment() {
    // Read through the mapping inherited at the declared address; written through the one
    // attached by name, elsewhere: the same frames.
    assert_both_children_share_the_whole_region(&run_python("py-shared-memory"));
}
