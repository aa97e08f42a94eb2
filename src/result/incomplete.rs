//! The marker a batch (suite, scan) leaves in its output directory while it runs and when it
//! did not write every result it planned: which files are this run's, which are stale (from
//! an earlier run) and which are missing. Removed when every planned result was written.
//! Plain text, one file per line, so that a person reads it as easily as memlab does.

use std::path::Path;

/// The marker's file name (not `*.json`: never read as a result).
pub const MARKER_FILE: &str = "memlab-incomplete.txt";

/// Where a planned result file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Written by this run.
    Written,
    /// Not (yet) written by this run; a file from an earlier run is at its name.
    Stale,
    /// Not written by this run, and no file at its name.
    Missing,
}

impl EntryState {
    fn word(self) -> &'static str {
        match self {
            EntryState::Written => "written",
            EntryState::Stale => "stale",
            EntryState::Missing => "missing",
        }
    }

    fn from_word(word: &str) -> Option<EntryState> {
        [EntryState::Written, EntryState::Stale, EntryState::Missing]
            .into_iter()
            .find(|state| state.word() == word)
    }
}

/// The marker's text: a header saying what happened, then `STATE FILE` lines.
pub fn render(what: &str, started_utc: &str, entries: &[(String, EntryState)]) -> String {
    let mut text = format!(
        "# memlab {what} started {started_utc} did not write every result it planned (interrupted,\n\
         # failed, or still running). 'stale' files are from an earlier run, 'missing' were never\n\
         # written; this file is removed when a run writes them all.\n"
    );
    for (file, state) in entries {
        text.push_str(&format!("{} {file}\n", state.word()));
    }
    text
}

/// The stale and missing file names of a marker's text (comments and unknown lines skipped).
pub fn not_current(text: &str) -> Vec<(String, EntryState)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (word, file) = line.split_once(' ')?;
            let state = EntryState::from_word(word)?;
            (state != EntryState::Written).then(|| (file.to_string(), state))
        })
        .collect()
}

/// The marker of `dir`, read: its stale and missing files, or None when there is none.
pub fn read_marker(dir: &Path) -> Option<Vec<(String, EntryState)>> {
    let path = dir.join(MARKER_FILE);
    let text = super::load::read_regular_file(&path, 1 << 20).ok()?;
    Some(not_current(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_reads_back_what_is_not_current() {
        let text = render(
            "suite default",
            "2026-11-29T10:00:00Z",
            &[
                ("a.json".into(), EntryState::Written),
                ("b c.json".into(), EntryState::Stale),
                ("d.json".into(), EntryState::Missing),
            ],
        );
        assert!(text.starts_with("# memlab suite default started 2026-11-29T10:00:00Z"));
        assert_eq!(
            not_current(&text),
            vec![
                ("b c.json".to_string(), EntryState::Stale),
                ("d.json".to_string(), EntryState::Missing)
            ]
        );
        assert!(not_current("garbage\nstale\n# stale x.json\n").is_empty());
    }
}
