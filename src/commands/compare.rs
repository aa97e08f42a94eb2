//! `memlab compare BASELINE CURRENT`: figure by figure, exit 3 on a regression (docs/ci.md).

use std::io::Write;

use crate::cli::CompareArgs;
use crate::compare::{Given, Side, compare as compare_sets, load_side, report};
use crate::error::{MemlabError, exit_code};
use crate::options::compare::thresholds;
use crate::output::{check_writable, write_atomically};

pub fn compare(args: &CompareArgs) -> anyhow::Result<i32> {
    let thresholds = thresholds(&args.thresholds)?;
    if let Some(path) = &args.markdown {
        check_writable(path)?;
    }
    let baseline = load_side(&args.baseline, Side::Baseline)?;
    let current = load_side(&args.current, Side::Current)?;
    let given = Given {
        baseline_file: !args.baseline.is_dir(),
        current_file: !args.current.is_dir(),
    };
    let labels = (
        args.baseline.display().to_string(),
        args.current.display().to_string(),
    );
    let comparison = compare_sets(
        &baseline,
        &current,
        given,
        (&labels.0, &labels.1),
        &thresholds,
    );
    if let Some(path) = &args.markdown {
        write_atomically(path, &report::markdown(&comparison))?;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        out.write_all(report::json(&comparison)?.as_bytes())?;
    } else {
        out.write_all(report::terminal(&comparison).as_bytes())?;
    }
    out.flush()?;
    if comparison.regressions() > 0 {
        return Ok(exit_code::CLAIM_BROKEN);
    }
    if comparison.counts.compared == 0 {
        return Err(MemlabError::BadResult(format!(
            "nothing to compare: no result of {} could be compared with {} (see the report)",
            labels.1, labels.0
        ))
        .into());
    }
    if args.strict {
        let mismatches = comparison.mismatches();
        if !mismatches.is_empty() {
            return Err(
                MemlabError::BadResult(format!("--strict: {}", mismatches.join("; "))).into(),
            );
        }
    }
    Ok(exit_code::OK)
}
