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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::result::load::parse_result;

    const ARRAY_WRITE: &str =
        include_str!("../../tests/fixtures/compare/baseline/array-write.json");
    const REFCOUNT_LIST: &str =
        include_str!("../../tests/fixtures/compare/baseline/refcount-list.json");

    fn loaded(file: &str, text: &str) -> Loaded {
        Loaded {
            file: file.to_string(),
            path: PathBuf::from(file),
            result: parse_result(text).unwrap(),
            text: text.to_string(),
        }
    }

    /// `array-write` with `children` changed: the same scenario, other parameters.
    fn array_write_with_children(file: &str, children: usize) -> Loaded {
        let mut result = loaded(file, ARRAY_WRITE);
        result.result.params.as_mut().unwrap().workload.children = children;
        result
    }

    /// The pairs as file names, for assertions.
    fn files<'a>(
        pairs: &[(Option<&'a Loaded>, Option<&'a Loaded>)],
    ) -> Vec<(Option<&'a str>, Option<&'a str>)> {
        pairs
            .iter()
            .map(|(b, c)| (b.map(|l| l.file.as_str()), c.map(|l| l.file.as_str())))
            .collect()
    }

    #[test]
    fn identity_is_the_scenario_and_the_parameters_that_give_figures_meaning() {
        let mut result = loaded("array-write.json", ARRAY_WRITE).result;
        assert_eq!(identity(&result), "array-write|16777216|2|-|0.25|-|-");
        // `repeat` and the interpreter do not change what the figures mean.
        result.params.as_mut().unwrap().repeat = 5;
        result.params.as_mut().unwrap().python = Some("/usr/bin/python3".into());
        assert_eq!(identity(&result), "array-write|16777216|2|-|0.25|-|-");
        // A result without parameters (`memlab run`) has none to match on.
        result.params = None;
        assert_eq!(identity(&result), "array-write|-|-|-|-|-|-");
    }

    #[test]
    fn same_file_names_pair_whatever_the_parameters_in_baseline_order() {
        let baseline = [
            loaded("array-write.json", ARRAY_WRITE),
            loaded("refcount-list.json", REFCOUNT_LIST),
        ];
        // Paired by name even with other parameters: the comparison flags those itself.
        let current = [
            loaded("refcount-list.json", REFCOUNT_LIST),
            array_write_with_children("array-write.json", 3),
        ];
        let pairs = pair(&baseline, &current, Given::DIRECTORIES);
        assert_eq!(
            files(&pairs),
            [
                (Some("array-write.json"), Some("array-write.json")),
                (Some("refcount-list.json"), Some("refcount-list.json")),
            ]
        );
        assert_eq!(
            pairs[0]
                .1
                .unwrap()
                .result
                .params
                .as_ref()
                .unwrap()
                .workload
                .children,
            3
        );
    }

    #[test]
    fn a_renamed_result_pairs_by_scenario_and_parameters() {
        let baseline = [
            loaded("array-write.json", ARRAY_WRITE),
            loaded("refcount-list.json", REFCOUNT_LIST),
        ];
        let current = [
            loaded("refcount-list.json", REFCOUNT_LIST),
            loaded("array-write--size-16m.json", ARRAY_WRITE),
        ];
        let pairs = pair(&baseline, &current, Given::DIRECTORIES);
        // Name matches come first, then the rest by identity.
        assert_eq!(
            files(&pairs),
            [
                (Some("refcount-list.json"), Some("refcount-list.json")),
                (Some("array-write.json"), Some("array-write--size-16m.json")),
            ]
        );
    }

    #[test]
    fn other_parameters_under_another_name_do_not_pair() {
        let baseline = [loaded("array-write.json", ARRAY_WRITE)];
        let current = [array_write_with_children("array-write--children-3.json", 3)];
        let pairs = pair(&baseline, &current, Given::DIRECTORIES);
        assert_eq!(
            files(&pairs),
            [
                (Some("array-write.json"), None),
                (None, Some("array-write--children-3.json")),
            ]
        );
    }

    #[test]
    fn an_ambiguous_identity_pairs_nothing() {
        // Two current results could be the baseline's: neither is chosen.
        let baseline = [loaded("array-write.json", ARRAY_WRITE)];
        let current = [
            loaded("array-write-a.json", ARRAY_WRITE),
            loaded("array-write-b.json", ARRAY_WRITE),
        ];
        assert_eq!(
            files(&pair(&baseline, &current, Given::DIRECTORIES)),
            [
                (Some("array-write.json"), None),
                (None, Some("array-write-a.json")),
                (None, Some("array-write-b.json")),
            ]
        );
        // Two baseline results could be the current one's: neither is chosen.
        let baseline = [
            loaded("array-write-a.json", ARRAY_WRITE),
            loaded("array-write-b.json", ARRAY_WRITE),
        ];
        let current = [loaded("array-write.json", ARRAY_WRITE)];
        assert_eq!(
            files(&pair(&baseline, &current, Given::DIRECTORIES)),
            [
                (Some("array-write-a.json"), None),
                (Some("array-write-b.json"), None),
                (None, Some("array-write.json")),
            ]
        );
    }

    #[test]
    fn a_result_paired_by_name_is_not_paired_again_by_identity() {
        // The current result pairs by name with a baseline of other parameters; the baseline
        // whose identity it shares is left unpaired rather than given the same result twice.
        let baseline = [
            array_write_with_children("array-write.json", 3),
            loaded("array-write-old.json", ARRAY_WRITE),
        ];
        let current = [loaded("array-write.json", ARRAY_WRITE)];
        assert_eq!(
            files(&pair(&baseline, &current, Given::DIRECTORIES)),
            [
                (Some("array-write.json"), Some("array-write.json")),
                (Some("array-write-old.json"), None),
            ]
        );
    }

    #[test]
    fn two_given_files_pair_whatever_their_names_and_scenarios() {
        let baseline = [loaded("before.json", ARRAY_WRITE)];
        let current = [loaded("after.json", REFCOUNT_LIST)];
        let both_files = Given {
            baseline_file: true,
            current_file: true,
        };
        assert_eq!(
            files(&pair(&baseline, &current, both_files)),
            [(Some("before.json"), Some("after.json"))]
        );
        assert_eq!(
            files(&pair(&baseline, &current, Given::DIRECTORIES)),
            [(Some("before.json"), None), (None, Some("after.json"))]
        );
    }

    #[test]
    fn one_given_file_leaves_out_the_other_sides_unpaired_results() {
        let directory = [
            loaded("array-write.json", ARRAY_WRITE),
            loaded("refcount-list.json", REFCOUNT_LIST),
        ];
        let file = [loaded("refcount-list--again.json", REFCOUNT_LIST)];
        let current_file = Given {
            baseline_file: false,
            current_file: true,
        };
        assert_eq!(
            files(&pair(&directory, &file, current_file)),
            [(
                Some("refcount-list.json"),
                Some("refcount-list--again.json")
            )]
        );
        let baseline_file = Given {
            baseline_file: true,
            current_file: false,
        };
        assert_eq!(
            files(&pair(&file, &directory, baseline_file)),
            [(
                Some("refcount-list--again.json"),
                Some("refcount-list.json")
            )]
        );
        // A file that pairs with nothing is still reported, as missing or new.
        let unrelated = [array_write_with_children("array-write--children-3.json", 3)];
        assert_eq!(
            files(&pair(&directory, &unrelated, current_file)),
            [(None, Some("array-write--children-3.json"))]
        );
    }
}
