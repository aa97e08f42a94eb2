//! Reading the two sides of a comparison (and the results `baseline save` stores) through the
//! one result loader, with each failure named by its side and path.

use std::path::{Path, PathBuf};

use crate::error::MemlabError;
use crate::result::ScenarioResult;
use crate::result::load::load_result;

/// Which side of the comparison a file is on, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Baseline,
    Current,
    /// Results being saved as a baseline.
    Results,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Current => "current",
            Side::Results => "result",
        }
    }
}

/// A result read from a file, with the name it is matched by.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// File name, e.g. `refcount-list--op-read.json`.
    pub file: String,
    pub path: PathBuf,
    pub result: ScenarioResult,
    /// The file's text, as read (saved verbatim by `baseline save`).
    pub text: String,
}

fn bad(side: Side, path: &Path, detail: impl std::fmt::Display) -> MemlabError {
    let message = format!("{} {}: {detail}", side.name(), path.display());
    MemlabError::BadResult(crate::error::one_line(&message))
}

/// Reads one result file: not JSON, not a memlab result, another schema version, or a result
/// that does not parse are each one clear line.
pub fn load_file(path: &Path, side: Side) -> Result<Loaded, MemlabError> {
    let stored = load_result(path).map_err(|e| bad(side, path, e))?;
    Ok(Loaded {
        file: stored.file_name(),
        path: stored.path,
        result: stored.result,
        text: stored.text,
    })
}

/// Reads a side: one file, or every result file of a directory (an empty one is an error).
pub fn load_side(path: &Path, side: Side) -> Result<Vec<Loaded>, MemlabError> {
    if path.is_dir() {
        let files = crate::result::files::result_files(path).map_err(|e| bad(side, path, e))?;
        if files.is_empty() {
            return Err(bad(
                side,
                path,
                "no result files (*.json) in this directory",
            ));
        }
        files.iter().map(|f| load_file(f, side)).collect()
    } else if path.exists() {
        Ok(vec![load_file(path, side)?])
    } else {
        Err(bad(side, path, "no such file or directory"))
    }
}
