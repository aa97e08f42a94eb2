//! Writing what memlab produces — result files, reports, baselines — so that a reader never
//! sees a half-written file.

/// Writes `contents` to `path` atomically: a temporary file in the same directory, renamed.
/// Readers never see a half-written result.
pub fn write_atomically(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("result");
    let temporary = directory.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let outcome = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    outcome.with_context(|| format!("writing {}", path.display()))
}
