//! `memlab compare`: the thresholds of the comparison rule, from the command line.

use super::usage;
use crate::cli::ThresholdArgs;
use crate::compare::rule::Thresholds;
use crate::error::MemlabError;

/// The rule's thresholds, checked to make sense together.
pub fn thresholds(args: &ThresholdArgs) -> Result<Thresholds, MemlabError> {
    let thresholds = Thresholds {
        warn_pages: args.warn_pages,
        fail_pages: args.fail_pages,
        warn_pct: args.warn_pct,
        fail_pct: args.fail_pct,
        noise_warn_pct: args.noise_warn_pct,
        noise_fail_pct: args.noise_fail_pct,
        noise_floor_bytes: args.noise_floor_bytes,
        noise_floor_seconds: args.noise_floor_seconds,
        alpha: args.alpha,
    };
    thresholds.validate().map_err(usage)?;
    Ok(thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Commands};
    use clap::Parser;

    #[test]
    fn the_command_lines_defaults_are_the_rules_defaults() {
        let Commands::Compare(args) = Cli::try_parse_from(["memlab", "compare", "a", "b"])
            .unwrap()
            .command
        else {
            panic!("not a compare");
        };
        assert_eq!(thresholds(&args.thresholds).unwrap(), Thresholds::default());
    }
}
