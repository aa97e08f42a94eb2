//! The one way a result file is read back: regular files only, the schema version checked,
//! version-1 files brought up to date. `report`, `compare` and `baseline save` all use it.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::one_line;

use super::{OLDEST_SCHEMA_VERSION, SCHEMA_VERSION, ScenarioResult, run::VERSION_1_FACTS};

/// Larger files are refused: a result with a full timeline is a few MiB.
pub const MAX_RESULT_BYTES: u64 = 256 << 20;

/// Why a file is not a result this memlab can use. Each is one line.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Unreadable(std::io::Error),
    #[error("not a regular file (a FIFO, a device or a directory): results are files")]
    NotRegular,
    #[error("{bytes} bytes: larger than any result ({MAX_RESULT_BYTES} bytes at most)")]
    TooLarge { bytes: u64 },
    #[error("not JSON ({}): a corrupt result file", one_line(&.0.to_string()))]
    NotJson(serde_json::Error),
    #[error("not a memlab result (no schema_version)")]
    NoSchemaVersion,
    #[error(
        "result schema version {found}, this memlab reads versions {OLDEST_SCHEMA_VERSION} to \
         {SCHEMA_VERSION}: re-create it with this memlab"
    )]
    OtherVersion { found: serde_json::Value },
    #[error("not a valid memlab result ({})", one_line(&.0.to_string()))]
    Invalid(serde_json::Error),
}

/// A result as read from its file.
#[derive(Debug, Clone)]
pub struct StoredResult {
    pub path: PathBuf,
    /// The file's text, as read (saved verbatim by `baseline save`).
    pub text: String,
    pub result: ScenarioResult,
}

impl StoredResult {
    /// The file name, e.g. `refcount-list--op-read.json`.
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Reads a regular file of at most `limit` bytes. A FIFO or device is refused without blocking:
/// it is opened non-blocking and checked before anything is read.
pub fn read_regular_file(path: &Path, limit: u64) -> Result<String, LoadError> {
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(LoadError::Unreadable)?;
    let metadata = file.metadata().map_err(LoadError::Unreadable)?;
    if !metadata.is_file() {
        return Err(LoadError::NotRegular);
    }
    if metadata.len() > limit {
        return Err(LoadError::TooLarge {
            bytes: metadata.len(),
        });
    }
    let mut text = String::new();
    file.by_ref()
        .take(limit + 1)
        .read_to_string(&mut text)
        .map_err(LoadError::Unreadable)?;
    if text.len() as u64 > limit {
        return Err(LoadError::TooLarge {
            bytes: text.len() as u64,
        });
    }
    Ok(text)
}

/// Reads one result file.
pub fn load_result(path: &Path) -> Result<StoredResult, LoadError> {
    let text = read_regular_file(path, MAX_RESULT_BYTES)?;
    let result = parse_result(&text)?;
    Ok(StoredResult {
        path: path.to_path_buf(),
        text,
        result,
    })
}

/// Parses a result's text, checking its schema version first.
pub fn parse_result(text: &str) -> Result<ScenarioResult, LoadError> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(LoadError::NotJson)?;
    let Some(version) = value.get("schema_version") else {
        return Err(LoadError::NoSchemaVersion);
    };
    match version.as_u64() {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(1) => upgrade_from_version_1(&mut value),
        _ => {
            return Err(LoadError::OtherVersion {
                found: version.clone(),
            });
        }
    }
    serde_json::from_value(value).map_err(LoadError::Invalid)
}

/// Version 1 `memlab run` results kept their records in `facts` and placeholder `params`:
/// move the records into the `run` body and drop the placeholders. Scenario results are
/// unchanged.
fn upgrade_from_version_1(value: &mut serde_json::Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    let is_run = object.get("scenario").and_then(|s| s.as_str()) == Some("run")
        && object
            .get("facts")
            .and_then(|f| f.get("processes"))
            .is_some();
    if is_run {
        let mut body = serde_json::Map::new();
        if let Some(facts) = object.get_mut("facts").and_then(|f| f.as_object_mut()) {
            for key in VERSION_1_FACTS {
                if let Some(record) = facts.remove(key) {
                    body.insert(key.to_string(), record);
                }
            }
        }
        body.entry("truth_passes")
            .or_insert_with(|| serde_json::json!({}));
        body.entry("checks")
            .or_insert_with(|| serde_json::json!([]));
        object.insert("run".into(), serde_json::Value::Object(body));
        object.remove("params");
    }
    object.insert("schema_version".into(), SCHEMA_VERSION.into());
}
