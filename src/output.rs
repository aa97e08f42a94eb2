//! Writing what memlab produces — result files, reports, baselines — so that a reader never
//! sees a half-written file and nothing is ever written through a link someone planted.
//!
//! - The temporary file has a random name and is created with `O_CREAT|O_EXCL|O_NOFOLLOW`: a
//!   symlink or file planted at that name makes the create fail, it is never followed.
//! - `rename(2)` then replaces the final name itself: a symlink there is replaced, its target
//!   untouched. The directory is fsynced after the rename, so the new name survives a crash.
//! - A world-writable directory without the sticky bit is refused: there anyone could rename or
//!   delete a finished result. With the sticky bit (as `/tmp`) only the owner can, so it is safe.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// `S_ISVTX`: in a sticky directory only a file's owner may rename or delete it.
const STICKY: u32 = 0o1000;
/// Write permission for others.
const OTHERS_WRITE: u32 = 0o002;

/// Why a directory is no place for memlab's output.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UnsafeDirectory {
    #[error(
        "{0} is writable by every user and has no sticky bit: anyone could replace a result \
         written there (use a directory of your own, or `chmod +t` it)"
    )]
    WorldWritable(PathBuf),
    #[error("{0} is not a directory")]
    NotADirectory(PathBuf),
}

/// The directory a file at `path` is written in.
fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Checks that files can be written safely in `directory` (creating it if needed).
pub fn check_directory(directory: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let metadata =
        std::fs::metadata(directory).with_context(|| format!("reading {}", directory.display()))?;
    if !metadata.is_dir() {
        return Err(UnsafeDirectory::NotADirectory(directory.to_path_buf()).into());
    }
    let mode = metadata.permissions().mode();
    if mode & OTHERS_WRITE != 0 && mode & STICKY == 0 {
        return Err(UnsafeDirectory::WorldWritable(directory.to_path_buf()).into());
    }
    Ok(())
}

/// Checks, before a long run, that its result can be written to `path`: the directory is safe
/// and a file can be created in it (then removed). The measurement is not lost at the end to
/// a directory memlab cannot write.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    let directory = directory_of(path);
    check_directory(directory)?;
    let (probe, file) = create_temporary(directory, ".memlab-probe")
        .with_context(|| format!("{} is not writable", directory.display()))?;
    drop(file);
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Before a run: its result can be written at `path`, and no other memlab is writing it. The
/// lock is held until the returned value is dropped.
pub fn claim_result(path: &Path) -> anyhow::Result<ResultLock> {
    check_writable(path)?;
    Ok(ResultLock::acquire(path)?)
}

/// A new file in `directory` under a random hidden name: created exclusively, never through a
/// link. Retries a few names if one is taken.
fn create_temporary(directory: &Path, stem: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    let mut last_error = None;
    for _ in 0..8 {
        let name = format!("{stem}.{:016x}.tmp", random_u64());
        let path = directory.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                last_error = Some(error)
            }
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// 64 random bits from the kernel (getrandom), for names nobody can guess in advance.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer it is given.
    let filled = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if filled != bytes.len() as isize {
        // No entropy source: the time and pid still differ between runs; O_EXCL keeps it safe.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return now ^ ((std::process::id() as u64) << 32);
    }
    u64::from_ne_bytes(bytes)
}

/// While held, no other memlab writes the same result file: a second run aiming at the same
/// name fails at once, naming the first, rather than one result silently replacing the other.
/// An advisory `flock` on a hidden file beside the result, released however memlab ends.
#[derive(Debug)]
pub struct ResultLock {
    path: PathBuf,
    _file: std::fs::File,
}

/// Why a result file cannot be claimed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another memlab (pid {holder}) is writing {result} right now: wait for it, or give this \
         run another --out or --name"
    )]
    Busy { result: PathBuf, holder: String },
    #[error("cannot lock {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

impl ResultLock {
    /// Claims `result` (a result file's final path) for this process.
    pub fn acquire(result: &Path) -> Result<ResultLock, LockError> {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let name = result
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = directory_of(result).join(format!(".{name}.lock"));
        let io = |error| LockError::Io(path.clone(), error);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(LockError::Busy {
                    result: result.to_path_buf(),
                    holder: holder.trim().to_string(),
                });
            }
            return Err(io(error));
        }
        file.set_len(0).map_err(io)?;
        file.write_all(std::process::id().to_string().as_bytes())
            .map_err(io)?;
        Ok(ResultLock { path, _file: file })
    }
}

impl Drop for ResultLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `contents` to `path` atomically and safely (see the module's comment).
pub fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let directory = directory_of(path);
    check_directory(directory)?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("result");
    let (temporary, mut file) = create_temporary(directory, &format!(".{file_name}"))
        .with_context(|| format!("writing {}", path.display()))?;
    let outcome = (|| -> std::io::Result<()> {
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        // The rename is in the directory: make it durable too.
        std::fs::File::open(directory)?.sync_all()
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    outcome.with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_at_the_final_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let result = dir.path().join("run.json");
        std::os::unix::fs::symlink(&target, &result).unwrap();
        write_atomically(&result, "{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert!(!std::fs::symlink_metadata(&result).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&result).unwrap(), "{}\n");
        // Nothing else was left in the directory.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_world_writable_directory_without_the_sticky_bit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = write_atomically(&open.join("x.json"), "{}").unwrap_err();
        assert!(
            error.to_string().contains("writable by every user"),
            "{error}"
        );
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        write_atomically(&open.join("x.json"), "{}").unwrap();
    }

    #[test]
    fn a_second_writer_of_the_same_result_is_refused_until_the_first_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let result = dir.path().join("run.json");
        let first = ResultLock::acquire(&result).unwrap();
        // flock is per open file: a second open in this process conflicts like another process.
        let busy = ResultLock::acquire(&result).unwrap_err();
        assert!(
            busy.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{busy}"
        );
        drop(first);
        ResultLock::acquire(&result).unwrap();
    }

    #[test]
    fn temporary_names_are_not_guessable_from_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = create_temporary(dir.path(), ".x").unwrap();
        let (b, _) = create_temporary(dir.path(), ".x").unwrap();
        assert_ne!(a, b);
        assert!(
            !a.to_string_lossy()
                .contains(&format!(".{}.", std::process::id()))
        );
    }
}
