//! Finding the Python side: the `experiments/` directory and the CPython interpreters on this
//! machine (PATH, `python3.X`, `$PYENV_ROOT/versions/*`). Nothing here hard-codes a path.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Where the Python workloads live: `$MEMLAB_EXPERIMENTS_DIR`, `./experiments`, or the
/// `experiments/` of the checkout the memlab binary was built in. Each must have the `memlab`
/// package's source beside it (see [`package_source_dir`]).
pub fn experiments_dir() -> Option<PathBuf> {
    let has_client = |dir: &Path| package_source_dir(dir).is_some();
    if let Some(dir) = std::env::var_os("MEMLAB_EXPERIMENTS_DIR").map(PathBuf::from) {
        return has_client(&dir).then_some(dir);
    }
    let cwd = std::env::current_dir().ok().map(|d| d.join("experiments"));
    let exe = std::env::current_exe().ok();
    let from_exe = exe
        .iter()
        .flat_map(|e| e.ancestors().skip(1))
        .map(|d| d.join("experiments"));
    cwd.into_iter().chain(from_exe).find(|d| has_client(d))
}

/// The checkout's `python/` folder beside `experiments/`: the source of the `memlab` package
/// whose `memlab.workload` is the workloads' protocol client.
pub fn package_source_dir(experiments: &Path) -> Option<PathBuf> {
    let source = experiments.parent()?.join("python");
    source
        .join("memlab/workload.py")
        .is_file()
        .then_some(source)
}

/// `PYTHONPATH` for a workload: the package source first, then any existing entries, so that
/// `import memlab.workload` works under interpreters that do not have the package installed.
/// None when the path cannot be put in the list (it contains `:`).
pub fn pythonpath_with(source: &Path, existing: Option<OsString>) -> Option<OsString> {
    let existing = existing.filter(|value| !value.is_empty());
    let rest = existing.iter().flat_map(std::env::split_paths);
    std::env::join_paths(std::iter::once(source.to_path_buf()).chain(rest)).ok()
}

/// The interpreter used when `--python` is not given: the project's `.venv` (which has numpy),
/// else `python3` on PATH.
pub fn default_interpreter(experiments: &Path) -> PathBuf {
    let venv = experiments
        .parent()
        .map(|root| root.join(".venv/bin/python"));
    match venv {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from("python3"),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interpreter {
    pub path: PathBuf,
    /// `3.12.1`
    pub version: String,
    pub implementation: String,
}

impl Interpreter {
    /// (major, minor)
    pub fn major_minor(&self) -> Option<(u32, u32)> {
        let mut parts = self.version.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }
}

/// The oldest CPython the workloads support.
pub const MIN_VERSION: (u32, u32) = (3, 8);

/// Asks an interpreter what it is. None when it does not run.
pub fn probe(path: &Path) -> Option<Interpreter> {
    let output = Command::new(path)
        .args(["-c", "import platform,sys; print(platform.python_implementation()); print(platform.python_version())"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let mut lines = text.lines();
    Some(Interpreter {
        implementation: lines.next()?.trim().to_string(),
        version: lines.next()?.trim().to_string(),
        path: path.to_path_buf(),
    })
}

/// Candidate paths: `python3` and `python3.X` on PATH, then `$PYENV_ROOT/versions/*/bin/python3`.
fn candidates() -> Vec<PathBuf> {
    let mut found = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| {
                    name == "python3"
                        || name.strip_prefix("python3.").is_some_and(|minor| {
                            !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit())
                        })
                })
                .collect();
            names.sort();
            found.extend(names.into_iter().map(|name| dir.join(name)));
        }
    }
    let pyenv_root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".pyenv")));
    if let Some(versions) = pyenv_root.map(|root| root.join("versions"))
        && let Ok(entries) = std::fs::read_dir(versions)
    {
        let mut dirs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("bin/python3"))
            .collect();
        dirs.sort();
        found.extend(dirs.into_iter().filter(|p| p.is_file()));
    }
    found
}

/// Every CPython ≥ 3.8 on this machine, one per version (the first found wins), oldest first.
/// Also returns the interpreters skipped, with the reason.
pub fn discover() -> (Vec<Interpreter>, Vec<(PathBuf, String)>) {
    // One interpreter per minor version (the matrix compares versions, not installations): the
    // first found wins, so PATH's python3 is preferred over another build of the same version.
    let mut per_minor: BTreeMap<(u32, u32), Interpreter> = BTreeMap::new();
    let mut skipped = Vec::new();
    for path in candidates() {
        let Some(interpreter) = probe(&path) else {
            skipped.push((path, "does not run".to_string()));
            continue;
        };
        if interpreter.implementation != "CPython" {
            skipped.push((
                path,
                format!("{} is not CPython", interpreter.implementation),
            ));
            continue;
        }
        let Some((major, minor)) = interpreter.major_minor() else {
            continue;
        };
        if (major, minor) < MIN_VERSION {
            skipped.push((
                path,
                format!("Python {} is older than 3.8", interpreter.version),
            ));
            continue;
        }
        per_minor.entry((major, minor)).or_insert(interpreter);
    }
    (per_minor.into_values().collect(), skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_at_least_the_python3_on_path() {
        let (found, _) = discover();
        assert!(!found.is_empty(), "no CPython >= 3.8 found");
        let mut minors: Vec<(u32, u32)> = found.iter().filter_map(|i| i.major_minor()).collect();
        let before = minors.len();
        minors.dedup();
        assert_eq!(minors.len(), before, "one interpreter per minor version");
        assert!(found.iter().all(|i| i.implementation == "CPython"));
    }

    #[test]
    fn the_package_source_goes_first_on_pythonpath() {
        let source = Path::new("/checkout/python");
        assert_eq!(
            pythonpath_with(source, None),
            Some("/checkout/python".into())
        );
        assert_eq!(
            pythonpath_with(source, Some("".into())),
            Some("/checkout/python".into())
        );
        assert_eq!(
            pythonpath_with(source, Some("/a:/b".into())),
            Some("/checkout/python:/a:/b".into())
        );
        assert_eq!(pythonpath_with(Path::new("/odd:dir"), None), None);
    }

    #[test]
    fn the_checkout_has_the_package_source_beside_experiments() {
        let experiments = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
        assert_eq!(
            package_source_dir(&experiments),
            Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("python"))
        );
        assert_eq!(
            package_source_dir(Path::new("/nonexistent/experiments")),
            None
        );
    }

    #[test]
    fn probing_a_non_interpreter_gives_nothing() {
        assert!(probe(Path::new("/bin/false")).is_none());
        assert!(probe(Path::new("/nonexistent/python")).is_none());
    }
}
