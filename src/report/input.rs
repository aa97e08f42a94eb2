//! The result files a report is made of: found on disk, read, and sorted into scenario results,
//! scan points (`scans/NAME--KEY-VALUE.json`) and version-matrix cells
//! (`matrix/NAME@pythonX.Y.Z.json`).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::error::MemlabError;
use crate::result::ScenarioResult;
use crate::result::files::{FileKind, MATRIX_DIR, SCANS_DIR, classify, result_files};
use crate::result::load::load_result;

/// One result file and what it holds.
#[derive(Debug, Clone)]
pub struct ResultFile {
    pub path: PathBuf,
    pub result: ScenarioResult,
}

/// One point of a scan: the scanned parameter and its value in this file.
#[derive(Debug, Clone)]
pub struct ScanPoint {
    pub file: ResultFile,
    /// The parameter as the file name spells it: `children`, `object-size`, `size`…
    pub key: String,
    /// Its value, from the result's own parameters when it has the parameter.
    pub value: f64,
}

/// One cell of the Python version matrix.
#[derive(Debug, Clone)]
pub struct MatrixCell {
    pub file: ResultFile,
    /// `3.12.1`: the interpreter's version.
    pub python: String,
}

/// Everything a report shows.
#[derive(Debug, Clone, Default)]
pub struct ReportInput {
    /// Scenario results, in `memlab list` order.
    pub scenarios: Vec<ResultFile>,
    pub scans: Vec<ScanPoint>,
    pub matrix: Vec<MatrixCell>,
    /// JSON files that are not results of this schema, with the reason (listed, not fatal).
    pub unread: Vec<(PathBuf, String)>,
    /// Directories a batch did not finish writing (their marker), with the stale and missing
    /// files the marker lists.
    pub incomplete: Vec<(
        PathBuf,
        Vec<(String, crate::result::incomplete::EntryState)>,
    )>,
}

impl ReportInput {
    pub fn is_empty(&self) -> bool {
        self.scenarios.is_empty() && self.scans.is_empty() && self.matrix.is_empty()
    }

    /// Scan keys in first-seen order, object size first.
    pub fn scan_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for point in &self.scans {
            if !keys.contains(&point.key) {
                keys.push(point.key.clone());
            }
        }
        keys.sort_by_key(|k| (k != "object-size", k != "children", k.clone()));
        keys
    }

    /// The scan points of one key, grouped by scenario (in `memlab list` order), each group
    /// sorted by value.
    pub fn scan_series(&self, key: &str) -> Vec<(String, Vec<&ScanPoint>)> {
        let mut groups: Vec<(String, Vec<&ScanPoint>)> = Vec::new();
        for point in self.scans.iter().filter(|p| p.key == key) {
            let name = &point.file.result.scenario;
            match groups.iter_mut().find(|(n, _)| n == name) {
                Some((_, points)) => points.push(point),
                None => groups.push((name.clone(), vec![point])),
            }
        }
        for (_, points) in &mut groups {
            points.sort_by(|a, b| a.value.total_cmp(&b.value));
        }
        groups.sort_by_key(|(name, _)| scenario_rank(name));
        groups
    }

    /// The matrix's interpreters, oldest first.
    pub fn matrix_pythons(&self) -> Vec<String> {
        let mut versions: Vec<String> = Vec::new();
        for cell in &self.matrix {
            if !versions.contains(&cell.python) {
                versions.push(cell.python.clone());
            }
        }
        versions.sort_by_key(|v| version_key(v));
        versions
    }

    /// The matrix's scenarios, in `memlab list` order.
    pub fn matrix_scenarios(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for cell in &self.matrix {
            if !names.contains(&cell.file.result.scenario) {
                names.push(cell.file.result.scenario.clone());
            }
        }
        names.sort_by_key(|n| scenario_rank(n));
        names
    }

    pub fn matrix_cell(&self, scenario: &str, python: &str) -> Option<&MatrixCell> {
        self.matrix
            .iter()
            .find(|c| c.file.result.scenario == scenario && c.python == python)
    }
}

/// Position in `memlab list`, unknown names last (then by name).
pub fn scenario_rank(name: &str) -> (usize, String) {
    let index = crate::scenario::all()
        .iter()
        .position(|s| s.name == name)
        .unwrap_or(usize::MAX);
    (index, name.to_string())
}

fn version_key(version: &str) -> Vec<u64> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().unwrap_or(0))
        .collect()
}

/// The scanned parameter's value: from the result's parameters, else from the file name.
fn scan_value(result: &ScenarioResult, key: &str, from_name: &str) -> Option<f64> {
    let params = result.params.as_ref();
    let workload = params.map(|p| &p.workload);
    let from_params = match key.replace('_', "-").as_str() {
        "children" => workload.map(|w| w.children as f64),
        "size" => workload.map(|w| w.size_bytes as f64),
        "object-size" => workload.and_then(|w| w.object_size_bytes.map(|b| b as f64)),
        "fraction" => workload.and_then(|w| w.fraction),
        "repeat" => params.map(|p| p.repeat as f64),
        _ => None,
    };
    from_params
        .or_else(|| from_name.parse::<f64>().ok())
        .or_else(|| {
            from_name
                .parse::<crate::units::ByteSize>()
                .ok()
                .map(|b| b.0 as f64)
        })
}

/// The result files of a results directory: its own, and those of `scans/` and `matrix/`.
fn files_of_directory(directory: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sub in [
        directory.to_path_buf(),
        directory.join(SCANS_DIR),
        directory.join(MATRIX_DIR),
    ] {
        if sub.is_dir() {
            files.extend(result_files(&sub).with_context(|| format!("reading {}", sub.display()))?);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads one result file; Err carries the reason it is not a result memlab can report.
fn read_result(path: &Path) -> Result<ScenarioResult, String> {
    load_result(path)
        .map(|stored| stored.result)
        .map_err(|e| e.to_string())
}

impl ReportInput {
    /// One sentence per directory a batch did not finish writing: its stale and missing files.
    pub fn incomplete_lines(&self) -> Vec<String> {
        use crate::result::incomplete::{EntryState, MARKER_FILE};
        self.incomplete
            .iter()
            .map(|(dir, files)| {
                let list = |state: EntryState| -> Vec<&str> {
                    files
                        .iter()
                        .filter(|(_, s)| *s == state)
                        .map(|(name, _)| name.as_str())
                        .collect()
                };
                let (stale, missing) = (list(EntryState::Stale), list(EntryState::Missing));
                let mut parts = Vec::new();
                if !stale.is_empty() {
                    parts.push(format!("stale (from an earlier run): {}", stale.join(", ")));
                }
                if !missing.is_empty() {
                    parts.push(format!("missing: {}", missing.join(", ")));
                }
                format!(
                    "{}: the batch writing here did not finish ({MARKER_FILE}); {}",
                    dir.display(),
                    parts.join("; ")
                )
            })
            .collect()
    }
}

/// Reads the results under `paths` (files, or directories as `memlab` writes them).
/// A path that does not exist is a usage error; a JSON file that is not a result is listed
/// in `unread` when it was found in a directory, and an error when named explicitly.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<ReportInput> {
    let mut input = ReportInput::default();
    let mut read = std::collections::HashSet::new();
    for path in paths {
        let (files, explicit) = if path.is_dir() {
            if let Some(not_current) = crate::result::incomplete::read_marker(path) {
                input.incomplete.push((path.clone(), not_current));
            }
            (files_of_directory(path)?, false)
        } else if path.exists() {
            // A file, or something that is not one (a FIFO): the loader says which.
            (vec![path.clone()], true)
        } else {
            return Err(MemlabError::Usage(format!(
                "{} does not exist (give result files or directories of them)",
                path.display()
            ))
            .into());
        };
        for file in files {
            // A file named twice (a directory and a file in it) is read once.
            if !read.insert(std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone())) {
                continue;
            }
            let result = match read_result(&file) {
                Ok(result) => result,
                Err(reason) if explicit => {
                    return Err(
                        MemlabError::BadResult(format!("{}: {reason}", file.display())).into(),
                    );
                }
                Err(reason) => {
                    input.unread.push((file, reason));
                    continue;
                }
            };
            let result_file = ResultFile {
                path: file.clone(),
                result,
            };
            match classify(&file) {
                FileKind::Scenario => input.scenarios.push(result_file),
                FileKind::Matrix { python } => {
                    let python = result_file
                        .result
                        .machine
                        .python_version
                        .clone()
                        .unwrap_or(python);
                    input.matrix.push(MatrixCell {
                        file: result_file,
                        python,
                    });
                }
                FileKind::Scan { key, value } => {
                    match scan_value(&result_file.result, &key, &value) {
                        Some(value) => input.scans.push(ScanPoint {
                            file: result_file,
                            key,
                            value,
                        }),
                        None => input.unread.push((
                            file,
                            format!("scan point whose {key} value '{value}' is not a number"),
                        )),
                    }
                }
            }
        }
    }
    input
        .scenarios
        .sort_by_key(|f| (scenario_rank(&f.result.scenario), f.path.clone()));
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        let mut versions = vec!["3.10.13", "3.8.18", "3.13.0", "3.9.18"];
        versions.sort_by_key(|v| version_key(v));
        assert_eq!(versions, ["3.8.18", "3.9.18", "3.10.13", "3.13.0"]);
    }
}
