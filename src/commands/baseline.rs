//! `memlab baseline save DIR [RESULTS…]`: results stored as a baseline for `memlab compare`.

use crate::cli::BaselineCommand;

pub fn baseline(command: &BaselineCommand) -> anyhow::Result<i32> {
    match command {
        BaselineCommand::Save(args) => {
            crate::compare::baseline::save(&args.dir, &args.results, args.replace)
        }
    }
}
