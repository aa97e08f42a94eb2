//! Suite files and the suite's verdict, from the stored suites and result fixtures (no run).

use std::path::{Path, PathBuf};

use memlab::batch::Outcome;
use memlab::batch::account::account;
use memlab::cli::{RunSettingsArgs, SuiteArgs};
use memlab::error::exit_code;
use memlab::options::suite::{SuiteEntry, SuiteFile, load_suite, plan_suite};

fn args() -> SuiteArgs {
    SuiteArgs {
        suite: "test".into(),
        check: false,
        size: None,
        children: None,
        repeat: None,
        python: None,
        settings: RunSettingsArgs {
            out: PathBuf::from("out"),
            timeout: 300,
        },
    }
}

fn fixture(path: &str) -> Outcome {
    let path = format!(
        "{}/tests/fixtures/compare/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    Outcome::Done(Box::new(
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap(),
    ))
}

#[test]
fn check_fails_on_a_broken_claim_not_on_a_skip() {
    let stems: Vec<String> = ["array-write", "refcount-list", "py-numpy-sum"]
        .map(String::from)
        .to_vec();
    let good = [
        fixture("baseline/array-write.json"),
        fixture("baseline/refcount-list.json"),
        fixture("skipped/py-numpy-sum.json"),
    ];
    let checked = account(&stems, &good, true);
    assert_eq!(checked.exit_code, exit_code::OK, "{}", checked.text);
    assert_eq!(checked.skipped, ["py-numpy-sum"]);
    assert!(
        checked.text.contains("check: every claim holds"),
        "{}",
        checked.text
    );
    assert!(
        checked.text.contains("numpy is not importable"),
        "{}",
        checked.text
    );

    let flipped = [
        fixture("baseline/array-write.json"),
        fixture("claim-flipped/refcount-list.json"),
        fixture("skipped/py-numpy-sum.json"),
    ];
    let checked = account(&stems, &flipped, true);
    assert_eq!(checked.exit_code, exit_code::CLAIM_BROKEN);
    assert_eq!(checked.broken.len(), 1);
    assert!(
        checked
            .text
            .contains("BROKEN refcount-list/objects-copied (refcount-list.json)"),
        "{}",
        checked.text
    );
    // Without --check the claims are listed, and the suite still succeeds.
    let unchecked = account(&stems, &flipped, false);
    assert_eq!(unchecked.exit_code, exit_code::OK);
    assert!(unchecked.text.contains("claims that do not hold"));
    // A failed scenario is not hidden behind the check.
    let failed = [
        fixture("baseline/array-write.json"),
        Outcome::Failed("workload died".into()),
        fixture("skipped/py-numpy-sum.json"),
    ];
    assert_eq!(account(&stems, &failed, true).failed, ["refcount-list"]);
}

fn suite_file(name: &str) -> SuiteFile {
    let path = format!(
        "{}/experiments/suites/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    load_suite(Path::new(&path)).unwrap()
}

#[test]
fn the_all_suite_lists_every_scenario_at_its_defaults() {
    let all = suite_file("all");
    let names: Vec<&str> = all.scenarios.iter().map(|e| e.scenario.as_str()).collect();
    let known: Vec<&str> = memlab::scenario::all().iter().map(|s| s.name).collect();
    assert_eq!(names, known);
    assert!(all.scenarios.iter().all(|e| *e
        == SuiteEntry {
            scenario: e.scenario.clone(),
            ..Default::default()
        }));
    assert!(all.defaults.size.is_none() && all.defaults.children.is_none());
    plan_suite(&all, &args(), 24 << 30).unwrap();
}

#[test]
fn the_quick_suite_is_small_and_valid() {
    let quick = suite_file("quick");
    let planned = plan_suite(&quick, &args(), 24 << 30).unwrap();
    assert!(
        planned
            .iter()
            .all(|p| p.request.params.workload.size_bytes <= 32 << 20)
    );
    assert!(planned.iter().any(|p| p.request.scenario.is_python()));
    assert!(planned.iter().any(|p| !p.request.scenario.is_python()));
}
