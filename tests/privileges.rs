//! Without CAP_SYS_ADMIN the kernel hides frame numbers: memlab must fall back to the pagemap
//! exclusive bit, say so once, and mark every such figure approximate — never print zeros as
//! truth. Run for real as an unprivileged user.

mod common;

use std::process::Command;

use common::is_root;

#[test]
fn an_unprivileged_run_is_marked_approximate_and_still_right_for_small_pages() {
    let out = tempfile::tempdir().unwrap();
    let memlab = assert_cmd::cargo::cargo_bin!("memlab");
    let mut command = if is_root() {
        // Drop to nobody for real; setpriv is util-linux, present on any Debian.
        let Ok(setpriv) = which_setpriv() else {
            eprintln!("skipped: setpriv not found, cannot drop privileges");
            return;
        };
        std::fs::set_permissions(
            out.path(),
            // World-writable for nobody, sticky as /tmp: memlab refuses a directory anyone could
            // rename its results in.
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
        let mut command = Command::new(setpriv);
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(memlab);
        command
    } else {
        Command::new(memlab)
    };
    let output = command
        .args([
            "scenario",
            "array-write",
            "--size",
            "16MiB",
            "--children",
            "2",
            "--fraction",
            "0.5",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // One explanation, in the table.
    assert_eq!(stdout.matches("need CAP_SYS_ADMIN").count(), 1, "{stdout}");

    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("array-write.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(result["machine"]["pfn_visible"], false);
    assert_eq!(
        result["summary"]["copied_method"],
        "page-truth-exclusive-bit"
    );
    assert_eq!(result["summary"]["copied_exact"], false);
    // No frame numbers, no unique footprint: absent, not zero.
    assert!(result["summary"]["tree_unique_bytes"].is_null());
    for child in 1..=2 {
        let truth = common::child_truth(&result, child);
        assert_eq!(truth["exact"], false);
        assert_eq!(truth["method"], "exclusive-bit");
        // For 4 KiB pages the exclusive bit is right: half of 4096 pages.
        assert_eq!(common::region_copied_pages(&result, child, "data"), 2048);
    }
    let claim = &result["claims"][0];
    assert_eq!(claim["holds"], true);
    assert!(
        claim["note"].as_str().unwrap().contains("exclusive bit"),
        "{claim}"
    );
}

fn which_setpriv() -> Result<std::path::PathBuf, ()> {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .ok_or(())
}
