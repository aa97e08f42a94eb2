//! Suite files (`experiments/suites/NAME.json`): found by name or path, parsed, and every
//! entry validated as a scenario run and given its result file before any runs.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::scenario::scenario_request;
use super::{resolve_scenario, usage};
use crate::batch::Planned;
use crate::cli::{ScenarioArgs, ScenarioParamArgs, SuiteArgs};
use crate::error::MemlabError;
use crate::result::files::{fraction_label, param_stem, result_path, size_label};
use crate::units::ByteSize;

/// A suite file: `{"description": …, "defaults": {…}, "scenarios": [{"scenario": NAME, …}]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    #[serde(default)]
    pub description: Option<String>,
    /// Values for the entries that do not set them.
    #[serde(default)]
    pub defaults: SuiteDefaults,
    pub scenarios: Vec<SuiteEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteDefaults {
    #[serde(default, deserialize_with = "size_value")]
    pub size: Option<ByteSize>,
    pub children: Option<usize>,
    pub repeat: Option<usize>,
}

/// One scenario run of a suite. Sizes are a number of bytes or a string such as `"16MiB"`.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteEntry {
    pub scenario: String,
    #[serde(default, deserialize_with = "size_value")]
    pub size: Option<ByteSize>,
    pub children: Option<usize>,
    pub op: Option<String>,
    pub fraction: Option<f64>,
    #[serde(default, deserialize_with = "size_value")]
    pub object_size: Option<ByteSize>,
    pub repeat: Option<usize>,
}

fn size_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<ByteSize>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map(|bytes| Some(ByteSize(bytes)))
            .ok_or_else(|| D::Error::custom(format!("{n} is not a number of bytes"))),
        Some(serde_json::Value::String(text)) => text.parse().map(Some).map_err(D::Error::custom),
        Some(other) => Err(D::Error::custom(format!(
            "{other} is not a size (a number of bytes or a string like \"16MiB\")"
        ))),
    }
}

impl SuiteEntry {
    /// The entry's own parameters, in file-name order (size, children, op, fraction,
    /// object-size, repeat), as `(key, value)` labels.
    pub fn param_labels(&self) -> Vec<(&'static str, String)> {
        let mut labels = Vec::new();
        if let Some(size) = self.size {
            labels.push(("size", size_label(size.0)));
        }
        if let Some(children) = self.children {
            labels.push(("children", children.to_string()));
        }
        if let Some(op) = &self.op {
            labels.push(("op", op.clone()));
        }
        if let Some(fraction) = self.fraction {
            labels.push(("fraction", fraction_label(fraction)));
        }
        if let Some(size) = self.object_size {
            labels.push(("object-size", size_label(size.0)));
        }
        if let Some(repeat) = self.repeat {
            labels.push(("repeat", repeat.to_string()));
        }
        labels
    }
}

/// Where the named suites live.
pub fn suites_dir() -> Option<PathBuf> {
    crate::python::experiments_dir().map(|dir| dir.join("suites"))
}

/// Finds a suite by name (`experiments/suites/NAME.json`) or path.
pub fn resolve_suite(suite: &str) -> Result<PathBuf, MemlabError> {
    let as_path = Path::new(suite);
    if suite.contains('/') || suite.ends_with(".json") || as_path.is_file() {
        return if as_path.is_file() {
            Ok(as_path.to_path_buf())
        } else {
            Err(usage(format!("suite file '{suite}' does not exist")))
        };
    }
    let Some(dir) = suites_dir() else {
        return Err(usage(format!(
            "cannot find experiments/suites/ for suite '{suite}' (run from the checkout, set \
             MEMLAB_EXPERIMENTS_DIR, or give the suite file's path)"
        )));
    };
    let path = dir.join(format!("{suite}.json"));
    if path.is_file() {
        return Ok(path);
    }
    let mut known: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    known.sort();
    Err(usage(format!(
        "unknown suite '{suite}' (in {}: {})",
        dir.display(),
        known.join(", ")
    )))
}

/// Reads and parses a suite file; any problem is one usage line.
pub fn load_suite(path: &Path) -> Result<SuiteFile, MemlabError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read suite {}: {e}", path.display())))?;
    let suite: SuiteFile =
        serde_json::from_str(&text).map_err(|e| usage(format!("suite {}: {e}", path.display())))?;
    if suite.scenarios.is_empty() {
        return Err(usage(format!(
            "suite {} lists no scenarios",
            path.display()
        )));
    }
    Ok(suite)
}

/// Validates every entry and names its result file: `NAME.json`, or when the suite has several
/// entries of one scenario, `NAME--KEY-VALUE….json` from each entry's own parameters.
pub fn plan_suite(
    suite: &SuiteFile,
    args: &SuiteArgs,
    total_ram_bytes: u64,
) -> Result<Vec<Planned>, MemlabError> {
    let mut planned: Vec<Planned> = Vec::new();
    for (index, entry) in suite.scenarios.iter().enumerate() {
        let at = |e: MemlabError| {
            usage(format!(
                "suite entry {} ({}): {e}",
                index + 1,
                entry.scenario
            ))
        };
        let def = resolve_scenario(&entry.scenario).map_err(at)?;
        let several = suite
            .scenarios
            .iter()
            .filter(|other| other.scenario == entry.scenario)
            .count()
            > 1;
        let stem = if several {
            param_stem(def.name, &entry.param_labels())
        } else {
            def.name.to_string()
        };
        if let Some(twin) = planned.iter().find(|p| p.stem == stem) {
            return Err(at(usage(format!(
                "same parameters as another entry: both would write {}.json",
                twin.stem
            ))));
        }
        let params = ScenarioParamArgs {
            size: args.size.or(entry.size).or(suite.defaults.size),
            children: args.children.or(entry.children).or(suite.defaults.children),
            op: entry.op.clone(),
            fraction: entry.fraction,
            object_size: entry.object_size,
            python: args.python.clone().filter(|_| def.is_python()),
            repeat: args
                .repeat
                .or(entry.repeat)
                .or(suite.defaults.repeat)
                .unwrap_or(1),
        };
        let scenario_args = ScenarioArgs::batch(def.name, params, args.settings.clone());
        let request = scenario_request(&scenario_args, total_ram_bytes).map_err(at)?;
        planned.push(Planned {
            path: result_path(&args.settings.out, &stem),
            stem,
            request,
        });
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(text: &str) -> Result<SuiteFile, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    fn args() -> SuiteArgs {
        SuiteArgs {
            suite: "test".into(),
            check: false,
            size: None,
            children: None,
            repeat: None,
            python: None,
            settings: crate::cli::RunSettingsArgs {
                out: PathBuf::from("out"),
                timeout: 300,
            },
        }
    }

    #[test]
    fn names_results_by_scenario_and_own_params() {
        let file = suite(
            r#"{"defaults": {"size": "16MiB", "children": 2},
                "scenarios": [
                  {"scenario": "array-read"},
                  {"scenario": "refcount-list"},
                  {"scenario": "refcount-list", "op": "read"},
                  {"scenario": "refcount-objsize", "object_size": 16},
                  {"scenario": "refcount-objsize", "object_size": "1MiB", "size": 33554432}
                ]}"#,
        )
        .unwrap();
        let planned = plan_suite(&file, &args(), 24 << 30).unwrap();
        let stems: Vec<&str> = planned.iter().map(|p| p.stem.as_str()).collect();
        assert_eq!(
            stems,
            [
                "array-read",
                "refcount-list",
                "refcount-list--op-read",
                "refcount-objsize--object-size-16",
                "refcount-objsize--size-32MiB--object-size-1MiB"
            ]
        );
        assert_eq!(planned[0].path, Path::new("out/array-read.json"));
        assert_eq!(planned[0].request.params.workload.size_bytes, 16 << 20);
        assert_eq!(planned[0].request.params.workload.children, 2);
        assert_eq!(planned[4].request.params.workload.size_bytes, 32 << 20);
        assert_eq!(
            planned[4].request.params.workload.object_size_bytes,
            Some(1 << 20)
        );
    }

    #[test]
    fn the_command_line_overrides_the_suite() {
        let file = suite(r#"{"defaults": {"size": "16MiB"}, "scenarios": [{"scenario": "array-read", "children": 3, "size": "8MiB"}]}"#).unwrap();
        let mut overriding = args();
        overriding.size = Some(ByteSize(4 << 20));
        overriding.children = Some(1);
        overriding.repeat = Some(3);
        let planned = plan_suite(&file, &overriding, 24 << 30).unwrap();
        assert_eq!(planned[0].request.params.workload.size_bytes, 4 << 20);
        assert_eq!(planned[0].request.params.workload.children, 1);
        assert_eq!(planned[0].request.params.repeat, 3);
    }

    fn plan_error(text: &str) -> String {
        let file = suite(text).unwrap();
        match plan_suite(&file, &args(), 24 << 30) {
            Err(MemlabError::Usage(message)) => message,
            Err(other) => panic!("not a usage error: {other}"),
            Ok(_) => panic!("accepted: {text}"),
        }
    }

    #[test]
    fn bad_entries_are_one_usage_line_naming_the_entry() {
        let message = plan_error(
            r#"{"scenarios": [{"scenario": "array-read"}, {"scenario": "refcount-lst"}]}"#,
        );
        assert!(
            message.starts_with("suite entry 2 (refcount-lst)"),
            "{message}"
        );
        assert!(
            message.contains("did you mean 'refcount-list'"),
            "{message}"
        );
        let message = plan_error(r#"{"scenarios": [{"scenario": "array-write", "fraction": 3}]}"#);
        assert!(message.contains("between 0 and 1"), "{message}");
        let message = plan_error(
            r#"{"scenarios": [{"scenario": "array-read", "children": 2}, {"scenario": "array-read", "children": 2}]}"#,
        );
        assert!(message.contains("array-read--children-2.json"), "{message}");
        assert!(
            suite(r#"{"scenarios": [{"scenario": "array-read", "sise": 1}]}"#)
                .unwrap_err()
                .contains("unknown field `sise`")
        );
        assert!(
            suite(r#"{"scenarios": [{"scenario": "array-read", "size": "12parsecs"}]}"#)
                .unwrap_err()
                .contains("unknown size unit")
        );
    }
}
