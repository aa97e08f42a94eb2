//! `memlab baseline save DIR [RESULTS…]`: stores result files as a baseline for
//! `memlab compare`, after checking each one is a readable result of this schema version.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::differences::machine_differences;
use super::load::{Loaded, Side, load_file, load_side};
use crate::error::{MemlabError, exit_code};
use crate::output::write_atomically;

/// `memlab baseline save DIR [RESULTS…] [--replace]`: `results` default to `results/`.
pub fn save(dir: &Path, results: &[PathBuf], replace: bool) -> anyhow::Result<i32> {
    let sources = if results.is_empty() {
        vec![PathBuf::from("results")]
    } else {
        results.to_vec()
    };
    let mut loaded: Vec<Loaded> = Vec::new();
    for source in &sources {
        for result in load_side(source, Side::Results)? {
            if let Some(twin) = loaded.iter().find(|l| l.file == result.file) {
                return Err(MemlabError::Usage(format!(
                    "two results named {}: {} and {}",
                    result.file,
                    twin.path.display(),
                    result.path.display()
                ))
                .into());
            }
            loaded.push(result);
        }
    }
    // What DIR already holds: replaced, or kept and reported.
    let existing: Vec<Loaded> = crate::result::files::result_files(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|path| load_file(path, Side::Baseline).ok())
        .collect();
    let mut kept = Vec::new();
    for old in &existing {
        if loaded.iter().any(|l| l.file == old.file) {
            continue;
        }
        if replace {
            std::fs::remove_file(&old.path)?;
        } else {
            kept.push(old.file.clone());
        }
    }
    for result in &loaded {
        write_atomically(&dir.join(&result.file), &result.text)?;
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "baseline: saved {} results to {}",
        loaded.len(),
        dir.display()
    )?;
    if let Some(first) = loaded.first() {
        let m = &first.result.machine;
        writeln!(
            out,
            "  machine: kernel {} · page {} B · THP {} · frame numbers {}",
            m.kernel,
            m.page_size_bytes,
            m.thp_enabled.as_deref().unwrap_or("-"),
            if m.pfn_visible { "visible" } else { "hidden" }
        )?;
        let mixed = loaded
            .iter()
            .flat_map(|l| machine_differences(&first.result, &l.result))
            .filter(|d| d.what != "Python")
            .count();
        if mixed > 0 {
            writeln!(
                out,
                "  warning: these results come from more than one machine"
            )?;
        }
    }
    let skipped = loaded
        .iter()
        .filter(|l| l.result.status == crate::result::RunStatus::Skipped)
        .count();
    if skipped > 0 {
        writeln!(
            out,
            "  {skipped} skipped results saved as such (compare reports them, without figures)"
        )?;
    }
    let broken: Vec<&str> = loaded
        .iter()
        .flat_map(|l| l.result.claims.iter())
        .filter(|c| c.verdict.is_broken())
        .map(|c| c.id.as_str())
        .collect();
    if !broken.is_empty() {
        writeln!(
            out,
            "  note: claims that do not hold in this baseline: {}",
            broken.join(", ")
        )?;
    }
    if !kept.is_empty() {
        writeln!(
            out,
            "  kept {} older results not in this set ({}): they stay part of the baseline \
             (--replace removes them)",
            kept.len(),
            kept.join(", ")
        )?;
    }
    Ok(exit_code::OK)
}
