//! `memlab suite`: the scenarios of a suite file, one result each; `--check` exits 3 when a
//! claim does not hold.

use std::io::Write;
use std::time::Instant;

use crate::batch::{account::account, run_planned};
use crate::cli::SuiteArgs;
use crate::kernel::meminfo::total_ram_bytes;
use crate::options::suite::{load_suite, plan_suite, resolve_suite};

pub fn suite(args: &SuiteArgs) -> anyhow::Result<i32> {
    let path = resolve_suite(&args.suite)?;
    let suite = load_suite(&path)?;
    let planned = plan_suite(&suite, args, total_ram_bytes())?;
    let out_dir = &args.settings.out;
    let started = Instant::now();
    let label = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| args.suite.clone());
    eprintln!(
        "suite {label}: {} scenarios → {}{}",
        planned.len(),
        out_dir.display(),
        suite
            .description
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    );
    let outcomes = run_planned(&planned, "suite")?;

    let stems: Vec<String> = planned.iter().map(|p| p.stem.clone()).collect();
    let account = account(&stems, &outcomes, args.check);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "suite {label}: {} scenarios in {:.1} s, results in {}",
        planned.len(),
        started.elapsed().as_secs_f64(),
        out_dir.display()
    )?;
    out.write_all(account.text.as_bytes())?;
    out.flush()?;
    if !account.failed.is_empty() {
        return Err(anyhow::anyhow!(
            "{} of {} scenarios failed: {}",
            account.failed.len(),
            planned.len(),
            account.failed.join(", ")
        ));
    }
    Ok(account.exit_code)
}
