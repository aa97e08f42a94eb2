//! Matching baseline results with current ones: by file name first, then by scenario and
//! parameters when that is unambiguous.

use super::differences::param_fields;
use super::load::Loaded;
use crate::result::ScenarioResult;

/// The scenario and parameters that identify a result when file names do not match.
fn identity(result: &ScenarioResult) -> String {
    let mut identity = result.scenario.clone();
    for (_, value) in param_fields(result) {
        identity.push('|');
        identity.push_str(&value);
    }
    identity
}

/// Whether each side was given as one file (rather than a directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Given {
    pub baseline_file: bool,
    pub current_file: bool,
}

impl Given {
    /// Both sides are directories.
    pub const DIRECTORIES: Given = Given {
        baseline_file: false,
        current_file: false,
    };
}

/// Pairs baseline and current results: two files are paired whatever their names; otherwise by
/// file name, then the rest by scenario and parameters when that is unambiguous. When one side
/// is a single file, the other side's results that do not pair with it are left out.
pub fn pair<'a>(
    baseline: &'a [Loaded],
    current: &'a [Loaded],
    given: Given,
) -> Vec<(Option<&'a Loaded>, Option<&'a Loaded>)> {
    if given.baseline_file && given.current_file && baseline.len() == 1 && current.len() == 1 {
        return vec![(Some(&baseline[0]), Some(&current[0]))];
    }
    let mut pairs: Vec<(Option<&Loaded>, Option<&Loaded>)> = Vec::new();
    let mut used_current = vec![false; current.len()];
    let mut unpaired_baseline = Vec::new();
    for b in baseline {
        match current.iter().position(|c| c.file == b.file) {
            Some(i) if !used_current[i] => {
                used_current[i] = true;
                pairs.push((Some(b), Some(&current[i])));
            }
            _ => unpaired_baseline.push(b),
        }
    }
    for b in unpaired_baseline {
        let key = identity(&b.result);
        let candidates: Vec<usize> = (0..current.len())
            .filter(|i| !used_current[*i] && identity(&current[*i].result) == key)
            .collect();
        let same_key_in_baseline = baseline
            .iter()
            .filter(|other| identity(&other.result) == key)
            .count();
        if candidates.len() == 1 && same_key_in_baseline == 1 {
            used_current[candidates[0]] = true;
            pairs.push((Some(b), Some(&current[candidates[0]])));
        } else {
            pairs.push((Some(b), None));
        }
    }
    for (i, c) in current.iter().enumerate() {
        if !used_current[i] {
            pairs.push((None, Some(c)));
        }
    }
    pairs.retain(|pair| match pair {
        (Some(_), None) => !given.current_file,
        (None, Some(_)) => !given.baseline_file,
        _ => true,
    });
    pairs
}
