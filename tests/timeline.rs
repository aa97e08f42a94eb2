//! The timeline sampler, on real runs: the children's USS climbs while refcount-list's children
//! clone their objects, and stays flat while array-read's children only read.

mod common;

use common::run_scenario;
use serde_json::Value;

fn event_time(result: &Value, kind: &str) -> f64 {
    result["timeline"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event"))["time_s"]
        .as_f64()
        .unwrap()
}

fn phase_time(result: &Value, name: &str) -> f64 {
    result["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["time_s"]
        .as_f64()
        .unwrap()
}

/// The children's total USS in each full sample between `from` and `to` (seconds).
fn children_uss(result: &Value, from: f64, to: f64) -> Vec<u64> {
    result["timeline"]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "rollup")
        .filter(|s| (from..=to).contains(&s["time_s"].as_f64().unwrap()))
        .map(|s| {
            s["processes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["role"] == "child")
                .map(|p| p["uss_bytes"].as_u64().unwrap())
                .sum()
        })
        .collect()
}

#[test]
fn refcount_list_children_uss_climbs_during_the_operation() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "refcount-list",
        &["--size", "64MiB", "--children", "2"],
        out.path(),
    );
    assert_eq!(code, 0);
    let timeline = &result["timeline"];
    assert!(timeline["cost"]["statm_samples"].as_u64().unwrap() > 0);
    assert!(timeline["cost"]["rollup_samples"].as_u64().unwrap() > 0);
    let kinds: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "phase",
        "children",
        "operation-start",
        "operation-end",
        "done",
    ] {
        assert!(kinds.contains(&kind), "no {kind} marker in {kinds:?}");
    }
    let (start, end) = (
        event_time(&result, "operation-start"),
        event_time(&result, "operation-end"),
    );
    assert!(start < end);
    // From the `forked` measurement to the `operated` one, the children copy every object page.
    let uss = children_uss(
        &result,
        phase_time(&result, "forked"),
        phase_time(&result, "operated"),
    );
    let (first, last) = (uss[0], *uss.last().unwrap());
    let data = result["data_bytes"].as_u64().unwrap();
    assert!(
        last > first + data,
        "children's USS {first} -> {last} for {data} bytes of data: {uss:?}"
    );
    assert!(
        uss.windows(2).all(|w| w[1] + (1 << 20) >= w[0]),
        "USS never falls while copying: {uss:?}"
    );
}

#[test]
fn array_read_children_uss_stays_flat() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "array-read",
        &["--size", "64MiB", "--children", "2"],
        out.path(),
    );
    assert_eq!(code, 0);
    let uss = children_uss(
        &result,
        phase_time(&result, "forked"),
        phase_time(&result, "operated"),
    );
    let data = result["data_bytes"].as_u64().unwrap();
    let (low, high) = (*uss.iter().min().unwrap(), *uss.iter().max().unwrap());
    assert!(
        high - low < data / 50,
        "children's USS moved {low} -> {high} for {data} bytes of data"
    );
}

#[test]
fn sampling_can_be_turned_off() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "array-read",
        &[
            "--size",
            "16MiB",
            "--children",
            "1",
            "--sample-interval",
            "0",
        ],
        out.path(),
    );
    assert_eq!(code, 0);
    assert!(result["timeline"]["samples"].as_array().unwrap().is_empty());
}
