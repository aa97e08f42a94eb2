//! Everything memlab reads from the kernel, as typed values with units in their names.
//! This is the only place that touches `/proc` and `/sys`.

pub mod machine;
pub mod meminfo;
pub mod pagemap;
pub mod rollup;
pub mod tree;

/// Why a per-process read failed: a process that exited between two reads is expected
/// (the sample is marked missing), anything else is an error.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("process {pid} has exited")]
    Vanished { pid: i32 },
    #[error("reading {what} of process {pid}: {source}")]
    Proc {
        pid: i32,
        what: &'static str,
        #[source]
        source: procfs::ProcError,
    },
}

impl ReadError {
    pub(crate) fn from_proc(pid: i32, what: &'static str, error: procfs::ProcError) -> Self {
        match error {
            procfs::ProcError::NotFound(_) => ReadError::Vanished { pid },
            procfs::ProcError::Io(ref io, _) if io.raw_os_error() == Some(libc::ESRCH) => {
                ReadError::Vanished { pid }
            }
            other => ReadError::Proc {
                pid,
                what,
                source: other,
            },
        }
    }
}

/// CPU time the calling thread has used (nanosecond resolution).
pub fn thread_cpu() -> std::time::Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time) } != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// The kernel's base page size in bytes.
pub fn page_size_bytes() -> u64 {
    procfs::page_size()
}
