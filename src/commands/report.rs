//! `memlab report`: stored results rendered as report.html, report.md and charts.

use crate::cli::ReportArgs;
use crate::error::exit_code;
use crate::report::{ReportOptions, write_report};

pub fn report(args: &ReportArgs) -> anyhow::Result<i32> {
    let outcome = write_report(&ReportOptions {
        results: args.results.clone(),
        out: args.out.clone(),
        plots: args.plots.clone(),
    })?;
    for (path, reason) in &outcome.unread {
        eprintln!("report: skipped {}: {reason}", path.display());
    }
    for line in &outcome.incomplete {
        eprintln!("report: warning: {line}");
    }
    println!(
        "report of {} results written to {} and {}; {} charts (SVG and PNG) in {}",
        outcome.results,
        outcome.html.display(),
        outcome.markdown.display(),
        outcome.charts,
        args.plots.display()
    );
    Ok(exit_code::OK)
}
