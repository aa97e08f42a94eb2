//! The marker pipe's I/O: making it for a command (`memlab run -- COMMAND`), taking one over
//! (`--markers-fd`), the reader thread that turns its bytes into messages for the follow loop,
//! and the answer to a checkpoint. What the bytes mean is decided in [`super::markers`].

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::follow::markers::{LineProblem, LineSplitter, Piece, ProblemKind, Warnings, parse_line};
use crate::follow::wake::Wake;

/// Messages read but not yet taken by the follow loop. Beyond this the reader stops reading,
/// the pipe fills, and clients' non-blocking writes fail (they warn and go on): the measured
/// program never waits for memlab.
pub const QUEUE: usize = 256;
/// How often the reader looks at its stop flag while nothing arrives.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// A pipe for a command: the read end stays memlab's (close-on-exec), the write end is for the
/// command (made inheritable in the child only) and never blocks a writer.
pub fn create() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    fcntl(&write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok((read, write))
}

/// `--markers-fd FD`: whether the descriptor is open and a pipe.
pub fn check_inherited(fd: RawFd) -> Result<(), String> {
    // SAFETY: fstat only looks at the descriptor.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    if fd < 0 || unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return Err(format!("--markers-fd {fd} is not an open file descriptor"));
    }
    if stat.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return Err(format!("--markers-fd {fd} is not a pipe"));
    }
    Ok(())
}

/// `--markers-fd FD`: takes the inherited pipe over; memlab keeps it from anything it might
/// start.
pub fn take_inherited(fd: RawFd) -> Result<OwnedFd, String> {
    check_inherited(fd)?;
    // SAFETY: the descriptor is open (fstat succeeded) and memlab owns it from here on: nothing
    // else in memlab knows its number.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    fcntl(&owned, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|e| format!("--markers-fd {fd}: {e}"))?;
    Ok(owned)
}

/// The reader thread: lines in, messages to the follow loop, problems warned about.
pub struct Reader {
    stop: Arc<AtomicBool>,
    rejected: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    pub fn start(
        fd: OwnedFd,
        to_loop: SyncSender<Wake>,
        warnings: Arc<Warnings>,
    ) -> std::io::Result<Reader> {
        let stop = Arc::new(AtomicBool::new(false));
        let rejected = Arc::new(AtomicU64::new(0));
        let (thread_stop, thread_rejected) = (Arc::clone(&stop), Arc::clone(&rejected));
        let thread = std::thread::Builder::new()
            .name("memlab-markers".into())
            .spawn(move || {
                read_until_stopped(&fd, &to_loop, &warnings, &thread_stop, &thread_rejected)
            })?;
        Ok(Reader {
            stop,
            rejected,
            thread: Some(thread),
        })
    }

    /// Stops the thread; returns how many lines were not messages.
    pub fn finish(mut self) -> u64 {
        self.stop_thread();
        self.rejected.load(Ordering::SeqCst)
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn read_until_stopped(
    fd: &OwnedFd,
    to_loop: &SyncSender<Wake>,
    warnings: &Warnings,
    stop: &AtomicBool,
    rejected: &AtomicU64,
) {
    let mut splitter = LineSplitter::default();
    let mut buffer = vec![0u8; 8192];
    let mut pieces = Vec::new();
    let timeout = PollTimeout::try_from(STOP_CHECK).unwrap_or(PollTimeout::MAX);
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let read = match nix::unistd::read(fd, &mut buffer) {
            // Every writer closed it: nothing more will come.
            Ok(0) => return,
            Ok(read) => read,
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
            Err(_) => return,
        };
        pieces.clear();
        splitter.feed(&buffer[..read], &mut pieces);
        for piece in pieces.drain(..) {
            let parsed = match piece {
                Piece::Line(line) => parse_line(&line),
                Piece::TooLong => Err(LineProblem {
                    kind: ProblemKind::TooLong,
                    detail: format!(
                        "a line longer than {} bytes",
                        crate::follow::markers::MAX_LINE_BYTES
                    ),
                }),
            };
            match parsed {
                Ok(message) => {
                    if !hand_over(to_loop, Wake::Marker(message, Instant::now()), stop) {
                        return;
                    }
                }
                Err(problem) => {
                    rejected.fetch_add(1, Ordering::SeqCst);
                    warnings.warn(&problem);
                }
            }
        }
    }
}

/// Gives a message to the follow loop, waiting while its queue is full. False when the loop is
/// gone or memlab is stopping.
fn hand_over(to_loop: &SyncSender<Wake>, mut wake: Wake, stop: &AtomicBool) -> bool {
    loop {
        match to_loop.try_send(wake) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                if stop.load(Ordering::SeqCst) {
                    return false;
                }
                wake = back;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// A checkpoint's answer: `measured`, or an error with its reason.
pub enum Answer<'a> {
    Measured(&'a str),
    Error(&'a str),
}

/// Writes the answer into the sender's reply pipe, `/proc/PID/fd/REPLY_FD`: only if that is a
/// pipe (a client that gave up has closed it, and the number may name another file by then),
/// with one non-blocking write.
pub fn answer_checkpoint(pid: i32, reply_fd: i32, answer: Answer) -> Result<(), String> {
    let link = format!("/proc/{pid}/fd/{reply_fd}");
    let target = std::fs::read_link(&link).map_err(|e| format!("{link}: {e}"))?;
    let target = target.to_string_lossy();
    let inode: u64 = target
        .strip_prefix("pipe:[")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inode| inode.parse().ok())
        .ok_or_else(|| format!("{link} is {target}, not a pipe"))?;
    let mut file = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&link)
        .map_err(|e| format!("{link}: {e}"))?;
    let metadata = file.metadata().map_err(|e| format!("{link}: {e}"))?;
    if !metadata.file_type().is_fifo() || metadata.ino() != inode {
        return Err(format!("{link} changed while memlab opened it"));
    }
    let line = match answer {
        Answer::Measured(name) => serde_json::json!({"v": 1, "type": "measured", "name": name}),
        Answer::Error(message) => serde_json::json!({"v": 1, "type": "error", "message": message}),
    };
    let mut text = line.to_string();
    text.push('\n');
    let written = file
        .write(text.as_bytes())
        .map_err(|e| format!("{link}: {e}"))?;
    if written != text.len() {
        return Err(format!("{link}: the answer was cut short"));
    }
    Ok(())
}
