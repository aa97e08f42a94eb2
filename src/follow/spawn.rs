//! Starting the command `memlab run` follows: in its own process group, dying with memlab.

use std::process::{Command, Stdio};

/// Starts the command in its own process group, dying with memlab (PR_SET_PDEATHSIG).
pub fn spawn(argv: &[String], json: bool) -> std::io::Result<std::process::Child> {
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
    // SAFETY: prctl, getppid and raise are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // memlab died between the fork and the prctl: die now.
            if libc::getppid() != memlab {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
    command.spawn()
}
