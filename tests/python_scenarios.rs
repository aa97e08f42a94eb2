//! A representative set of the Python scenarios at small sizes, under the project's .venv
//! (created by `make test`, with numpy), asserting on what memlab measured.

mod common;

use common::{
    all_gone_within, child_truth, claim, region_copied_pages, run_scenario, start_paused,
};
use serde_json::Value;

fn venv_python() -> String {
    let path = format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR"));
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: run the tests through `make test`, which creates it with numpy"
    );
    path
}

fn run_python(name: &str, size: &str, children: &str) -> Value {
    let out = tempfile::tempdir().unwrap();
    let python = venv_python();
    let (code, result) = run_scenario(
        name,
        &["--size", size, "--children", children, "--python", &python],
        out.path(),
    );
    assert_eq!(
        result["status"], "completed",
        "{name} was skipped: {}",
        result["skip"]
    );
    assert_eq!(code, 0, "{name}: {}", result["claims"]);
    assert!(
        result["machine"]["python_version"]
            .as_str()
            .unwrap()
            .starts_with('3')
    );
    result
}

/// Bytes the child gained privately between `forked` and `operated`, by page truth.
fn truth_growth(result: &Value, index: u64) -> (u64, u64) {
    let private = |phase: &Value| {
        let child = phase["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["child_index"] == index)
            .unwrap();
        let total = &child["page_truth"]["total"];
        (total["copied_pages"].as_u64().unwrap() + total["child_only_pages"].as_u64().unwrap())
            * 4096
    };
    let phases = result["phases"].as_array().unwrap();
    let phase = |name: &str| phases.iter().find(|p| p["name"] == name).unwrap();
    let operated = phase("operated")["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["child_index"] == index)
        .unwrap();
    (
        private(phase("operated")) - private(phase("forked")),
        operated["private_dirty_growth_bytes"].as_u64().unwrap(),
    )
}

#[test]
fn py_list_sum_copies_the_int_objects_not_the_pointer_array() {
    let result = run_python("py-list-sum", "32MiB", "2");
    assert_eq!(claim(&result, "objects-copied")["holds"], true);
    assert_eq!(claim(&result, "pointers-shared")["holds"], true);
    for child in 1..=2 {
        assert_eq!(region_copied_pages(&result, child, "pointers"), 0);
        // Page truth agrees with an independent measure, the child's Private_Dirty growth.
        let (truth, private_dirty) = truth_growth(&result, child);
        let ratio = truth as f64 / private_dirty as f64;
        assert!(
            (ratio - 1.0).abs() <= 0.05,
            "child {child}: truth {truth} vs Private_Dirty {private_dirty}"
        );
    }
    // Document 001's own figure is recorded beside the truth.
    assert_eq!(
        result["facts"]["doc001_free_bytes_in_children"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn py_numpy_sum_leaves_the_array_shared() {
    let result = run_python("py-numpy-sum", "32MiB", "2");
    assert_eq!(claim(&result, "data-shared")["holds"], true);
    let data_pages = result["data_bytes"].as_u64().unwrap() / 4096;
    for child in 1..=2 {
        assert!(
            region_copied_pages(&result, child, "data") * 50 <= data_pages,
            "under 2%"
        );
    }
    assert!(result["facts"]["doc001_free_bytes_after_allocating"].is_number());
}

#[test]
fn py_same_list_copies_nothing() {
    let result = run_python("py-same-list", "32MiB", "2");
    assert_eq!(claim(&result, "pointers-shared")["holds"], true);
}

#[test]
fn py_pool_self_gives_every_worker_a_private_copy() {
    let result = run_python("py-pool-self", "32MiB", "2");
    let data = result["data_bytes"].as_f64().unwrap();
    for private in result["summary"]["private_bytes_per_child"]
        .as_array()
        .unwrap()
    {
        assert!(
            private.as_f64().unwrap() >= 0.9 * data,
            "{}",
            result["summary"]
        );
    }
    assert_eq!(claim(&result, "private-copy-per-child")["holds"], true);
}

#[test]
fn py_pool_global_shares_the_array() {
    let result = run_python("py-pool-global", "32MiB", "2");
    assert_eq!(claim(&result, "data-shared")["holds"], true);
    for child in 1..=2 {
        assert_eq!(region_copied_pages(&result, child, "data"), 0);
        assert_eq!(child_truth(&result, child)["exact"], true);
    }
}

#[test]
fn py_gc_freeze_prevents_the_collection_copies_that_gc_collect_makes() {
    let collected = run_python("py-gc-collect", "64MiB", "2");
    assert_eq!(claim(&collected, "objects-copied")["holds"], true);
    let frozen = run_python("py-gc-freeze", "64MiB", "2");
    assert_eq!(claim(&frozen, "objects-shared")["holds"], true);
    assert_eq!(frozen["facts"]["gc_frozen"], true);
}

#[test]
fn a_missing_dependency_is_a_skip_with_the_install_command() {
    // A bare interpreter without numpy: the scenario is reported skipped, exit 0, not dropped.
    let bare = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists() && !has_numpy(p));
    let Some(bare) = bare else {
        eprintln!("skipped: no interpreter without numpy on this machine");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "py-numpy-sum",
        &["--size", "16MiB", "--python", bare],
        out.path(),
    );
    assert_eq!(code, 0);
    assert_eq!(result["status"], "skipped");
    assert!(result["skip"]["reason"].as_str().unwrap().contains("numpy"));
    assert!(
        result["skip"]["install"]
            .as_str()
            .unwrap()
            .contains("make venv")
    );
    assert!(result["claims"].as_array().unwrap().is_empty());
}

fn has_numpy(python: &str) -> bool {
    std::process::Command::new(python)
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
fn a_killed_python_worker_fails_the_run_naming_the_signal_and_leaves_nothing() {
    for scenario in ["py-numpy-sum", "py-pool-global"] {
        let python = venv_python();
        let (mut memlab, workload, children, mut stderr) = start_paused(
            scenario,
            &["--size", "16MiB", "--children", "2", "--python", &python],
            "forked",
        );
        assert_eq!(children.len(), 2);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(children[0]),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        std::io::Write::write_all(memlab.stdin.as_mut().unwrap(), b"\n").unwrap();
        let status = memlab.wait().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        assert_eq!(status.code(), Some(1), "{scenario}: {text}");
        assert!(text.contains("SIGKILL"), "{scenario}: {text}");
        let mut everyone = children.clone();
        everyone.push(workload);
        assert!(
            all_gone_within(&everyone, 5.0),
            "{scenario}: left behind {everyone:?}"
        );
    }
}

/// The census of child `index`'s copied pages in declared region `region`, at the summary phase.
fn region_census(result: &Value, index: u64, region: &str) -> Vec<Value> {
    child_truth(result, index)["python_types_by_region"]
        .as_array()
        .unwrap_or_else(|| panic!("no census: {}", child_truth(result, index)))
        .iter()
        .find(|r| r["region"] == region)
        .unwrap_or_else(|| panic!("no census of region {region}"))["types"]
        .as_array()
        .unwrap()
        .clone()
}

fn census_objects(types: &[Value], type_name: &str) -> u64 {
    types
        .iter()
        .filter(|t| t["type"] == type_name)
        .map(|t| t["objects"].as_u64().unwrap())
        .sum()
}

#[test]
fn the_census_names_what_each_child_copied() {
    // py-list-sum: the children copied the pages of the list's ints, and the census counts
    // those ints — all of them, to within the interpreter's own few.
    let result = run_python("py-list-sum", "32MiB", "2");
    let placed = result["facts"]["objects_count"].as_u64().unwrap();
    for child in 1..=2 {
        let ints = census_objects(&region_census(&result, child, "objects"), "int");
        assert!(
            ints.abs_diff(placed) <= 2000,
            "child {child}: census {ints} ints, the workload placed {placed}"
        );
        let truth = child_truth(&result, child);
        assert!(
            truth["python_interpreter"]
                .as_str()
                .unwrap()
                .starts_with("CPython 3.")
        );
        // The whole census lists int first, and the three entries that are not types.
        let types = truth["python_types"].as_array().unwrap();
        assert_eq!(types[0]["type"], "int", "{types:?}");
        for special in ["<free>", "<unidentified>", "<not pymalloc>"] {
            assert!(types.iter().any(|t| t["type"] == special), "{special}");
        }
    }
    assert_eq!(claim(&result, "copied-objects-are-ints")["holds"], true);

    // py-gc-collect: what the collection copied are GC-tracked lists.
    let collected = run_python("py-gc-collect", "32MiB", "2");
    assert_eq!(
        claim(&collected, "copied-objects-are-containers")["holds"],
        true
    );
    let types = region_census(&collected, 1, "objects");
    assert_eq!(types[0]["type"], "list", "{types:?}");
    assert_eq!(types[0]["gc_tracked"], true);

    // py-pool-self: each worker's own pages hold the unpickled instance and its buffer.
    let self_pool = run_python("py-pool-self", "32MiB", "2");
    assert_eq!(claim(&self_pool, "own-copy-is-the-instance")["holds"], true);
}
