//! Every native scenario at a small size, asserting on the numbers memlab measured from real
//! forked processes.

mod common;

use common::{claim, copied_per_child, fact, is_root, region_copied_pages, run_scenario};

const PAGE: u64 = 4096;

#[test]
fn array_write_copies_exactly_the_written_quarter() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "array-write",
        &["--size", "64MiB", "--fraction", "0.25"],
        out.path(),
    );
    assert_eq!(code, 0, "{}", result["claims"]);
    let data = result["data_bytes"].as_u64().unwrap();
    // The measured data is the 64 MiB asked for, give or take the workload's own bookkeeping
    // (data_bytes is the tree's growth in distinct frames: a few hundred KiB move with it).
    assert!(data.abs_diff(64 << 20) <= 256 * PAGE, "data_bytes {data}");
    assert_eq!(
        fact(&result, "expected_copied_pages") as u64,
        (64 << 20) / PAGE / 4
    );
    let copied = copied_per_child(&result);
    assert_eq!(copied.len(), 4);
    for bytes in copied {
        let fraction = bytes as f64 / data as f64;
        assert!(
            (fraction - 0.25).abs() <= 0.01,
            "child copied {bytes} bytes = {fraction} of data"
        );
    }
    assert_eq!(claim(&result, "copied-pages-exact")["holds"], true);
    // Page truth: every child copied exactly the pages it wrote, to the page.
    assert!(
        is_root(),
        "the exact figures need CAP_SYS_ADMIN: run the tests as root"
    );
    assert_eq!(result["summary"]["copied_method"], "page-truth-pfn");
    assert_eq!(result["summary"]["copied_exact"], true);
    for child in 1..=4 {
        assert_eq!(
            region_copied_pages(&result, child, "data"),
            (64 << 20) / PAGE / 4,
            "child {child}"
        );
    }
    // The result file is written, and is what stdout held.
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("array-write.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stored, result);
    assert_eq!(result["schema_version"], memlab::result::SCHEMA_VERSION);
}

#[test]
fn array_read_copies_nothing() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "array-read",
        &["--size", "32MiB", "--children", "3"],
        out.path(),
    );
    assert_eq!(code, 0);
    assert!(result["summary"]["copied_fraction"].as_f64().unwrap() <= 0.02);
    assert_eq!(copied_per_child(&result).len(), 3);
    assert_eq!(claim(&result, "data-shared")["holds"], true);
}

#[test]
fn refcount_list_clone_copies_the_objects_and_read_does_not() {
    let out = tempfile::tempdir().unwrap();
    let (code, cloned) = run_scenario(
        "refcount-list",
        &["--size", "48MiB", "--children", "2"],
        out.path(),
    );
    assert_eq!(code, 0, "{}", cloned["claims"]);
    assert!(
        cloned["summary"]["copied_fraction"].as_f64().unwrap() >= 0.5,
        "{}",
        cloned["summary"]
    );
    assert_eq!(claim(&cloned, "objects-copied")["holds"], true);

    let (code, read) = run_scenario(
        "refcount-list",
        &["--size", "48MiB", "--children", "2", "--op", "read"],
        out.path(),
    );
    assert_eq!(code, 0);
    assert!(
        read["summary"]["copied_fraction"].as_f64().unwrap() <= 0.02,
        "{}",
        read["summary"]
    );
    assert_eq!(claim(&read, "objects-shared")["holds"], true);
}

#[test]
fn refcount_same_copies_one_page() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "refcount-same",
        &["--size", "32MiB", "--children", "2"],
        out.path(),
    );
    assert_eq!(code, 0);
    assert!(result["summary"]["copied_fraction"].as_f64().unwrap() <= 0.02);
}

#[test]
fn refcount_objsize_copied_fraction_falls_as_objects_grow() {
    let out = tempfile::tempdir().unwrap();
    let mut fractions = Vec::new();
    for object_size in ["64", "16KiB", "256KiB"] {
        let (code, result) = run_scenario(
            "refcount-objsize",
            &[
                "--size",
                "32MiB",
                "--children",
                "2",
                "--object-size",
                object_size,
            ],
            out.path(),
        );
        assert_eq!(code, 0, "{object_size}: {}", result["claims"]);
        fractions.push(result["summary"]["copied_fraction"].as_f64().unwrap());
    }
    assert!(fractions[0] >= 0.5, "{fractions:?}");
    assert!(
        fractions[0] > fractions[1] && fractions[1] > fractions[2],
        "{fractions:?}"
    );
    // One header page per 256 KiB object: about 1/64 of the data.
    assert!(fractions[2] < 0.05, "{fractions:?}");
}

#[test]
fn serialized_copy_gives_every_child_a_private_copy() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "serialized-copy",
        &["--size", "32MiB", "--children", "3"],
        out.path(),
    );
    assert_eq!(code, 0);
    let data = result["data_bytes"].as_f64().unwrap();
    for private in result["summary"]["private_bytes_per_child"]
        .as_array()
        .unwrap()
    {
        assert!(
            private.as_f64().unwrap() / data >= 0.9,
            "{}",
            result["summary"]
        );
    }
}

#[test]
fn shared_mapping_writes_are_seen_and_not_copied() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario(
        "shared-mapping",
        &["--size", "32MiB", "--children", "4"],
        out.path(),
    );
    assert_eq!(code, 0);
    assert!(result["summary"]["copied_fraction"].as_f64().unwrap() <= 0.02);
    assert_eq!(result["facts"]["writes_visible_to_parent"], true);
    assert_eq!(
        fact(&result, "pages_showing_child_writes"),
        ((32 << 20) / PAGE) as f64
    );
    // data_bytes counts MAP_SHARED memory too.
    assert!(result["data_bytes"].as_u64().unwrap() >= 32 << 20);
}

#[test]
fn thp_copies_a_small_page_per_huge_page() {
    let out = tempfile::tempdir().unwrap();
    let (code, result) = run_scenario("thp", &["--size", "32MiB", "--children", "2"], out.path());
    let thp_claim = claim(&result, "small-copy-per-huge-page");
    if thp_claim["holds"].is_null() {
        eprintln!("skipped: {}", thp_claim["note"]);
        return;
    }
    assert_eq!(code, 0, "{thp_claim}");
    assert_eq!(thp_claim["holds"], true);
    assert_eq!(fact(&result, "huge_pages_touched"), 16.0);
    // 4 KiB per touched huge page, exactly: 16 small pages of data, not 16 huge ones.
    assert_eq!(thp_claim["measured"], 4096.0);
    for child in 1..=2 {
        assert_eq!(region_copied_pages(&result, child, "data"), 16);
    }
}
