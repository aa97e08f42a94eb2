//! `memlab scan NAME --param KEY=V1,V2,…`: one run per value, and a table of how the figures
//! move with it.

use std::io::Write;

use crate::batch::{Outcome, run_planned};
use crate::cli::ScanArgs;
use crate::error::exit_code;
use crate::kernel::meminfo::total_ram_bytes;
use crate::options::scan::plan_scan;
use crate::result::files::SCANS_DIR;
use crate::result::{RunStatus, Verdict};
use crate::units::format_bytes;

pub fn scan(args: &ScanArgs) -> anyhow::Result<i32> {
    let (param, planned) = plan_scan(args, total_ram_bytes())?;
    let scans_dir = args.settings.out.join(SCANS_DIR);
    let key = param.key();
    eprintln!(
        "scan {} over {key}: {} points → {}",
        args.name,
        planned.len(),
        scans_dir.display()
    );
    let outcomes = run_planned(&planned, "scan")?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "scan {} over {key} (results in {})",
        args.name,
        scans_dir.display()
    )?;
    writeln!(
        out,
        "{key:>12} {:>9} {:>13} {:>13}  verdict",
        "copied", "tree unique", "ΣRSS"
    )?;
    let mut broken = false;
    let mut failed = 0;
    for (label, outcome) in param.labels().iter().zip(&outcomes) {
        match outcome {
            Outcome::Done(result) if result.status == RunStatus::Skipped => {
                writeln!(
                    out,
                    "{label:>12} {:>9} {:>13} {:>13}  skipped",
                    "-", "-", "-"
                )?;
            }
            Outcome::Done(result) => {
                let failing: Vec<&str> = result
                    .claims
                    .iter()
                    .filter(|c| c.verdict.is_broken())
                    .map(|c| c.id.as_str())
                    .collect();
                broken |= !failing.is_empty();
                let verdict = if !failing.is_empty() {
                    format!("BROKEN: {}", failing.join(", "))
                } else if result.claims.iter().any(|c| c.verdict == Verdict::Holds) {
                    "holds".to_string()
                } else {
                    "n/a".to_string()
                };
                writeln!(
                    out,
                    "{label:>12} {:>8.2}% {:>13} {:>13}  {verdict}",
                    result.summary.copied_fraction * 100.0,
                    result
                        .summary
                        .tree_unique_bytes
                        .map(format_bytes)
                        .unwrap_or_else(|| "-".into()),
                    format_bytes(result.summary.tree_rss_bytes)
                )?;
            }
            Outcome::Failed(message) => {
                failed += 1;
                writeln!(
                    out,
                    "{label:>12} {:>9} {:>13} {:>13}  ERROR {message}",
                    "-", "-", "-"
                )?;
            }
        }
    }
    if failed > 0 {
        return Err(anyhow::anyhow!(
            "{failed} of {} scan points failed",
            planned.len()
        ));
    }
    Ok(if broken {
        exit_code::CLAIM_BROKEN
    } else {
        exit_code::OK
    })
}
