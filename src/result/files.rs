//! The one place result files are named, and their names read back: `NAME.json` for a
//! scenario, `NAME--KEY-VALUE….json` for a parameter set (suites, `scans/`), and
//! `matrix/NAME@pythonVERSION.json` for a matrix cell.

use std::path::{Path, PathBuf};

use crate::units::{GIB, KIB, MIB};

/// Subdirectory of a results directory holding scan points.
pub const SCANS_DIR: &str = "scans";
/// Subdirectory holding the Python version matrix.
pub const MATRIX_DIR: &str = "matrix";

/// A size as it appears in file names: the largest binary unit that divides it exactly
/// (`16MiB`, `4KiB`, `1GiB`), else bytes (`4000`). It parses back as the same size.
pub fn size_label(bytes: u64) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// A fraction as it appears in file names: Rust's shortest form (`0.25`, `1`, `0.1`).
pub fn fraction_label(fraction: f64) -> String {
    format!("{fraction}")
}

/// `NAME--KEY-VALUE--KEY-VALUE…`: the file stem of a result run with these parameters.
pub fn param_stem(scenario: &str, labels: &[(&str, String)]) -> String {
    let mut stem = scenario.to_string();
    for (key, value) in labels {
        stem.push_str(&format!("--{key}-{value}"));
    }
    stem
}

/// `DIR/STEM.json`.
pub fn result_path(directory: &Path, stem: &str) -> PathBuf {
    directory.join(format!("{stem}.json"))
}

/// `DIR/scans/NAME--KEY-VALUE.json`.
pub fn scan_path(directory: &Path, scenario: &str, key: &str, value_label: &str) -> PathBuf {
    let stem = param_stem(scenario, &[(key, value_label.to_string())]);
    result_path(&directory.join(SCANS_DIR), &stem)
}

/// `DIR/matrix/NAME@pythonVERSION.json`.
pub fn matrix_path(directory: &Path, scenario: &str, python_version: &str) -> PathBuf {
    directory
        .join(MATRIX_DIR)
        .join(format!("{scenario}@python{python_version}.json"))
}

/// What a file name says a result file is.
#[derive(Debug, Clone, PartialEq)]
pub enum FileKind {
    Scenario,
    /// A point of a scan (or a suite entry with its own parameters): the last `--KEY-VALUE`.
    Scan {
        key: String,
        value: String,
    },
    Matrix {
        python: String,
    },
}

/// Reads back what [`scan_path`], [`matrix_path`] and [`param_stem`] wrote.
pub fn classify(path: &Path) -> FileKind {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if let Some((_, python)) = stem.split_once("@python") {
        return FileKind::Matrix {
            python: python.to_string(),
        };
    }
    if let Some((_, parameter)) = stem.split_once("--")
        && let Some((key, value)) = parameter.rsplit_once('-')
        && !key.is_empty()
        && !value.is_empty()
    {
        return FileKind::Scan {
            key: key.to_string(),
            value: value.to_string(),
        };
    }
    FileKind::Scenario
}

/// Whether memlab reads this directory entry as a result: `*.json`, not hidden (temporary
/// files being written are hidden), a regular file.
pub fn is_result_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    !hidden && path.extension().is_some_and(|e| e == "json") && path.is_file()
}

/// The result files of one directory (not its subdirectories), sorted.
pub fn result_files(directory: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| is_result_file(p))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::ByteSize;

    #[test]
    fn labels_parse_back_as_the_same_values() {
        for bytes in [16, 4000, 4096, 64 << 20, 3 << 30, (1 << 20) + 4096] {
            let label = size_label(bytes);
            assert_eq!(label.parse::<ByteSize>(), Ok(ByteSize(bytes)), "{label}");
        }
        assert_eq!(size_label(64 << 20), "64MiB");
        assert_eq!(size_label((1 << 20) + 4096), "1028KiB");
        assert_eq!(fraction_label(0.25), "0.25");
        assert_eq!(fraction_label(1.0), "1");
        assert_eq!(
            param_stem("array-write", &[("fraction", "0.5".into())]),
            "array-write--fraction-0.5"
        );
    }

    #[test]
    fn names_written_are_read_back() {
        let dir = Path::new("out");
        let scan = scan_path(dir, "refcount-objsize", "object-size", "4KiB");
        assert_eq!(
            scan,
            Path::new("out/scans/refcount-objsize--object-size-4KiB.json")
        );
        assert_eq!(
            classify(&scan),
            FileKind::Scan {
                key: "object-size".into(),
                value: "4KiB".into()
            }
        );
        let cell = matrix_path(dir, "py-list-sum", "3.12.1");
        assert_eq!(cell, Path::new("out/matrix/py-list-sum@python3.12.1.json"));
        assert_eq!(
            classify(&cell),
            FileKind::Matrix {
                python: "3.12.1".into()
            }
        );
        assert_eq!(
            classify(&result_path(dir, "array-read")),
            FileKind::Scenario
        );
    }

    #[test]
    fn file_names_say_what_a_result_is() {
        assert_eq!(
            classify(Path::new("results/array-read.json")),
            FileKind::Scenario
        );
        assert_eq!(
            classify(Path::new(
                "results/scans/refcount-objsize--object-size-4096.json"
            )),
            FileKind::Scan {
                key: "object-size".into(),
                value: "4096".into()
            }
        );
        assert_eq!(
            classify(Path::new("results/scans/array-read--children-8.json")),
            FileKind::Scan {
                key: "children".into(),
                value: "8".into()
            }
        );
        assert_eq!(
            classify(Path::new("results/matrix/py-list-sum@python3.12.1.json")),
            FileKind::Matrix {
                python: "3.12.1".into()
            }
        );
    }
}
