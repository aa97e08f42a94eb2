//! Starting the command `memlab run` follows: in its own process group, dying with memlab, with
//! the write end of the marker pipe.

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// Starts the command in its own process group, dying with memlab (PR_SET_PDEATHSIG). The
/// command inherits `marker_write` (close-on-exec everywhere else) and finds it, with memlab's
/// pid, in MEMLAB_MARKER_FD and MEMLAB_MARKER_PID.
pub fn spawn(
    argv: &[String],
    json: bool,
    marker_write: Option<&OwnedFd>,
) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]).process_group(0);
    crate::measure::containment::contain(&mut command);
    // In its own process group the command cannot read the terminal (it would be stopped by
    // SIGTTIN): it reads nothing from a terminal, but a pipe or file is passed through.
    // SAFETY: isatty only looks at the descriptor.
    if unsafe { libc::isatty(0) } == 1 {
        command.stdin(Stdio::null());
    }
    if json {
        // stdout holds only the result.
        command.stdout(Stdio::from(std::io::stderr()));
    }
    let memlab = std::process::id() as i32;
    let marker_fd = marker_write.map(|fd| fd.as_raw_fd());
    match marker_fd {
        Some(fd) => {
            command
                .env("MEMLAB_MARKER_FD", fd.to_string())
                .env("MEMLAB_MARKER_PID", memlab.to_string());
        }
        None => {
            command
                .env_remove("MEMLAB_MARKER_FD")
                .env_remove("MEMLAB_MARKER_PID");
        }
    }
    // SAFETY: prctl, getppid, raise and fcntl are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // memlab died between the fork and the prctl: die now.
            if libc::getppid() != memlab {
                libc::raise(libc::SIGKILL);
            }
            // The marker pipe's write end is the one descriptor of memlab's the command keeps.
            if let Some(fd) = marker_fd
                && libc::fcntl(fd, libc::F_SETFD, 0) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()
}
