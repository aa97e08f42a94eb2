//! What `memlab run` says following cost (`run.truth_passes.cpu_seconds`: polls, passes,
//! footprints, captures and censuses; `timeline.cost.cpu_seconds`: the sampler) is what its
//! process used, as the kernel counts it from outside: every thread of memlab's, the census's
//! reading threads included (they went uncounted, a third of memlab's CPU time on this run).
//!
//! The tree: the pool_list example (4 workers summing a list of ints, each copying its pages),
//! 128 MiB, so that the censuses of the workers' copied pages are a large part of the cost.
//! memlab's own CPU time is read from `/proc/PID/stat` every 2 ms until it exits (clock ticks:
//! 10 ms); what it spends starting and writing its result is not a following cost.
//!
//! Its own peak memory (`memlab_peak_rss_bytes`, VmHWM when it stopped following) is read the
//! same way, from `/proc/PID/status`.
//!
//! A test binary of its own with a single test: no other test's memlab runs meanwhile.

mod common;

use std::time::Duration;

use common::{memlab, skip_unless_root, venv_python};

/// memlab's peak resident memory so far (VmHWM), in bytes.
fn peak_rss_bytes(pid: i32) -> Option<u64> {
    let status = procfs::process::Process::new(pid).ok()?.status().ok()?;
    Some(status.vmhwm? * 1024)
}

/// memlab's CPU time so far (all its threads, live and ended), in seconds.
fn cpu_seconds(pid: i32) -> Option<f64> {
    let stat = procfs::process::Process::new(pid).ok()?.stat().ok()?;
    Some((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

#[test]
fn the_cost_memlab_reports_is_the_cpu_time_its_process_used() {
    if skip_unless_root("the census reads the workers' pages") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let mut child = memlab()
        .args(["run", "--out"])
        .arg(out.path())
        .args(["--", &venv_python(), "experiments/examples/pool_list.py"])
        .args(["--size-mib", "128", "--hold", "0.5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (mut used, mut peak) = (0.0, 0);
    while child.try_wait().unwrap().is_none() {
        used = cpu_seconds(pid).unwrap_or(used);
        peak = peak_rss_bytes(pid).unwrap_or(peak).max(peak);
        std::thread::sleep(Duration::from_millis(2));
    }
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("run.json")).unwrap())
            .unwrap();
    let seconds = |pointer: &str| result.pointer(pointer).and_then(|v| v.as_f64()).unwrap();
    let following = seconds("/run/truth_passes/cpu_seconds");
    let sampler = seconds("/timeline/cost/cpu_seconds");
    let censuses = seconds("/run/truth_passes/censuses");
    let reported = following + sampler;
    let described = format!(
        "memlab used {used:.3} s of CPU; it reports {reported:.3} s ({following:.3} s following, \
         {censuses} censuses among them, and {sampler:.3} s sampling)"
    );
    assert!(censuses >= 4.0, "{described}");
    assert!(used > 0.1, "too little to compare: {described}");
    // Never more than it used (within two clock ticks: the reading is truncated to one, and
    // the last 2 ms go unread), and not much less: starting and writing the result are all it
    // leaves out. Without the reading threads it reported 0.62 – 0.66 of it.
    assert!(reported <= used + 0.02, "{described}");
    assert!(reported >= 0.85 * used - 0.01, "{described}");

    // Its peak memory at the end of following: what the kernel's high-water mark said from
    // outside, less what writing the result added (0.13 MiB here), within the 2 ms unread.
    let reported_peak = seconds("/run/truth_passes/memlab_peak_rss_bytes") as u64;
    let peaks =
        format!("memlab reports a peak RSS of {reported_peak} B; read from outside: {peak} B");
    assert!(peak > 1 << 20, "{peaks}");
    assert!(reported_peak <= peak + (256 << 10), "{peaks}");
    assert!(reported_peak + (1 << 20) >= peak, "{peaks}");
}
