//! Writing the incomplete-batch marker (`result::incomplete`) beside the results of a batch:
//! before the first run, after each result, and removed when all were written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::output::write_atomically;
use crate::result::incomplete::{EntryState, MARKER_FILE, render};

/// The planned result files of each output directory, with where each stands.
pub struct IncompleteMarker {
    what: String,
    started_utc: String,
    by_directory: BTreeMap<PathBuf, Vec<(String, EntryState)>>,
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl IncompleteMarker {
    /// Writes the marker of every directory the batch writes to: every planned file stale
    /// (when one exists from an earlier run) or missing.
    pub fn begin(what: &str, paths: &[&Path]) -> anyhow::Result<IncompleteMarker> {
        let mut by_directory: BTreeMap<PathBuf, Vec<(String, EntryState)>> = BTreeMap::new();
        for path in paths {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let state = if path.exists() {
                EntryState::Stale
            } else {
                EntryState::Missing
            };
            by_directory
                .entry(directory_of(path))
                .or_default()
                .push((name, state));
        }
        let marker = IncompleteMarker {
            what: what.to_string(),
            started_utc: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
            by_directory,
        };
        for directory in marker.by_directory.keys() {
            marker.write(directory)?;
        }
        Ok(marker)
    }

    fn write(&self, directory: &Path) -> anyhow::Result<()> {
        let entries = &self.by_directory[directory];
        write_atomically(
            &directory.join(MARKER_FILE),
            &render(&self.what, &self.started_utc, entries),
        )
    }

    /// `path` was written by this run: the marker says so, or goes when all are written.
    pub fn written(&mut self, path: &Path) -> anyhow::Result<()> {
        let directory = directory_of(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(entries) = self.by_directory.get_mut(&directory) else {
            return Ok(());
        };
        for entry in entries.iter_mut().filter(|(n, _)| *n == name) {
            entry.1 = EntryState::Written;
        }
        if entries
            .iter()
            .all(|(_, state)| *state == EntryState::Written)
        {
            match std::fs::remove_file(directory.join(MARKER_FILE)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => return Ok(()),
            }
        }
        self.write(&directory)
    }
}
