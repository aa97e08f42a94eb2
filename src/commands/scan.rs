//! `memlab scan NAME --param KEY=V1,V2,…`: one run per value, and a table of how the figures
//! move with it.

use std::io::Write;

use crate::batch::{Outcome, run_planned};
use crate::cli::ScanArgs;
use crate::error::exit_code;
use crate::kernel::meminfo::total_ram_bytes;
use crate::options::scan::plan_scan;
use crate::render::table::{Cell, Table, terminal};
use crate::render::text::{bytes_or_dash, percent};
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
    let mut table = Table::new(&[key, "copied", "tree unique", "ΣRSS", "verdict"]);
    let mut broken = false;
    let mut failed = 0;
    let dashes = || std::iter::repeat_n(Cell::Empty, 3);
    for (label, outcome) in param.labels().iter().zip(&outcomes) {
        let mut row = vec![Cell::number(label)];
        match outcome {
            Outcome::Done(result) if result.status == RunStatus::Skipped => {
                row.extend(dashes());
                row.push(Cell::text("skipped"));
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
                let summary = &result.summary;
                row.push(Cell::number(percent(summary.copied_fraction)));
                row.push(Cell::number(bytes_or_dash(summary.tree_unique_bytes)));
                row.push(Cell::number(format_bytes(summary.tree_rss_bytes)));
                row.push(Cell::text(verdict));
            }
            Outcome::Failed(message) => {
                failed += 1;
                row.extend(dashes());
                row.push(Cell::text(format!("ERROR {message}")));
            }
        }
        table.push(row);
    }
    out.write_all(terminal(&table).as_bytes())?;
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
