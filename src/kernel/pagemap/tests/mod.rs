//! Tests of page truth. `tally` checks the pure classification on synthetic
//! entries; the others fork real processes and assert on what they measure,
//! using the helpers below.

mod compare;
mod footprint;
mod frames;
mod lists;
mod reader;
mod shared;
mod sighting;
mod tally;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, getpid, pipe2};
use procfs::process::Process;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use super::{DeclaredRegion, pfn_visible};

/// These tests measure this very process (its pagemap, its footprint): other tests of the
/// module running at the same time would move the numbers, so they run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const PAGE: usize = 4096;
const HUGE_PAGE: usize = 2 << 20;
const DATA_BYTES: usize = 64 << 20;
const DATA_PAGES: u64 = (DATA_BYTES / PAGE) as u64;

/// An anonymous mapping (private unless made with [`Region::shared`]), unmapped on drop.
struct Region {
    ptr: *mut u8,
    len: usize,
}

impl Region {
    /// `len` bytes of 4 KiB pages, THP disabled so each page is its own frame.
    fn small_pages(len: usize) -> Region {
        let region = Region::map(len, 0);
        region.madvise(libc::MADV_NOHUGEPAGE);
        region
    }

    /// [`DATA_BYTES`] of 4 KiB pages, every page written (so present) by this process.
    fn filled_data() -> Region {
        let data = Region::small_pages(DATA_BYTES);
        data.fill(0x5A);
        data
    }

    /// `len` bytes aligned to 2 MiB with THP requested.
    fn huge_pages(len: usize) -> Region {
        let region = Region::map(len, HUGE_PAGE);
        region.madvise(libc::MADV_HUGEPAGE);
        region
    }

    /// `len` bytes of MAP_SHARED anonymous memory (shmem): a fork shares it, writes and all.
    fn shared(len: usize) -> Region {
        Region::map_with(len, 0, libc::MAP_SHARED)
    }

    fn map(len: usize, align: usize) -> Region {
        Region::map_with(len, align, libc::MAP_PRIVATE)
    }

    fn map_with(len: usize, align: usize, sharing: libc::c_int) -> Region {
        let padded = len + align;
        // SAFETY: fresh anonymous mapping; trimmed to the aligned part below.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                padded,
                libc::PROT_READ | libc::PROT_WRITE,
                sharing | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(raw, libc::MAP_FAILED, "mmap failed");
        let raw = raw as usize;
        let start = if align == 0 {
            raw
        } else {
            raw.next_multiple_of(align)
        };
        // SAFETY: both pieces lie inside the mapping we just created.
        unsafe {
            if start > raw {
                libc::munmap(raw as *mut _, start - raw);
            }
            let tail = raw + padded - (start + len);
            if tail > 0 {
                libc::munmap((start + len) as *mut _, tail);
            }
        }
        Region {
            ptr: start as *mut u8,
            len,
        }
    }

    fn madvise(&self, advice: libc::c_int) {
        // SAFETY: the range is our own mapping.
        let rc = unsafe { libc::madvise(self.ptr as *mut _, self.len, advice) };
        assert_eq!(rc, 0, "madvise({advice}) failed");
    }

    fn fill(&self, byte: u8) {
        // SAFETY: writable mapping of `len` bytes.
        unsafe { std::ptr::write_bytes(self.ptr, byte, self.len) };
    }

    fn start(&self) -> u64 {
        self.ptr as u64
    }

    fn declared(&self, name: &str) -> DeclaredRegion {
        DeclaredRegion {
            name: name.to_string(),
            start: self.start(),
            end: self.start() + self.len as u64,
        }
    }

    fn pages(&self) -> usize {
        self.len / PAGE
    }

    /// Raw pointer to page `i`; usable in a forked child (no allocation).
    fn page_ptr(&self, i: usize) -> *mut u8 {
        assert!(i < self.pages());
        self.ptr.wrapping_add(i * PAGE)
    }

    /// Writes one byte of each page in `pages` (without allocating: usable in a forked child).
    fn write_pages(&self, pages: impl IntoIterator<Item = usize>) {
        for page in pages {
            // SAFETY: `page_ptr` checks the page lies inside this mapping.
            unsafe { page_write(self.page_ptr(page)) };
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: we own this mapping.
        unsafe { libc::munmap(self.ptr as *mut _, self.len) };
    }
}

/// A forked child blocked until released; killed and reaped on drop, so
/// a failed assertion never leaves it behind.
struct Child {
    pid: Pid,
    reaped: bool,
    _release: OwnedFd,
}

impl Child {
    fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    fn reap(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
            self.reaped = true;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.reap();
    }
}

/// Forks a child that runs `work` (which must not allocate or lock: the
/// test binary is multithreaded), sends its u64 result over a pipe, then
/// blocks until released. Returns once `work` is done. The child dies with
/// this process, however the test ends.
fn spawn_child(work: impl FnOnce() -> u64) -> (Child, u64) {
    let (child, mut ready) = fork_child(work);
    (child, read_result(&mut ready))
}

/// [`spawn_child`] without waiting: returns the pipe the result will come on.
fn fork_child(work: impl FnOnce() -> u64) -> (Child, File) {
    let (ready_read, ready_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (release_read, release_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    // SAFETY: the child only touches memory and calls prctl/write/read/_exit.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            // SAFETY: async-signal-safe syscall.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            let message = work().to_ne_bytes();
            let mut byte = 0u8;
            // SAFETY: async-signal-safe syscalls on inherited fds.
            unsafe {
                libc::write(
                    ready_write.as_raw_fd(),
                    message.as_ptr().cast(),
                    message.len(),
                );
                libc::read(release_read.as_raw_fd(), (&raw mut byte).cast(), 1);
                libc::_exit(0);
            }
        }
        ForkResult::Parent { child } => {
            let guard = Child {
                pid: child,
                reaped: false,
                _release: release_write,
            };
            drop(ready_write);
            drop(release_read);
            (guard, File::from(ready_read))
        }
    }
}

fn read_result(ready: &mut File) -> u64 {
    let mut message = [0u8; 8];
    ready
        .read_exact(&mut message)
        .expect("child died before reporting");
    u64::from_ne_bytes(message)
}

/// A forked child that does its work only when told to, so that the test can act
/// between the fork and the child's work.
struct GatedChild {
    child: Child,
    go: File,
    ready: File,
}

impl GatedChild {
    /// Forks a child that waits for [`GatedChild::run`], then runs `work` (as in
    /// [`spawn_child`]).
    fn spawn(work: impl FnOnce() -> u64) -> GatedChild {
        let (go_read, go_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (child, ready) = fork_child(move || {
            let mut byte = 0u8;
            // SAFETY: async-signal-safe syscall on an inherited fd.
            unsafe { libc::read(go_read.as_raw_fd(), (&raw mut byte).cast(), 1) };
            work()
        });
        GatedChild {
            child,
            go: File::from(go_write),
            ready,
        }
    }

    /// Lets the child run its work, and returns its result once done.
    fn run(&mut self) -> u64 {
        self.go.write_all(&[1]).expect("child gone before its work");
        read_result(&mut self.ready)
    }

    fn pid(&self) -> i32 {
        self.child.pid()
    }
}

/// Forks a child that writes one byte of each page of `data` in `pages`, and waits until
/// it has: the set-up most tests share.
fn spawn_writer(data: &Region, pages: impl IntoIterator<Item = usize>) -> Child {
    spawn_child(|| {
        data.write_pages(pages);
        0
    })
    .0
}

/// Writes one byte without the compiler eliding it.
unsafe fn page_write(ptr: *mut u8) {
    unsafe { std::ptr::write_volatile(ptr, std::ptr::read_volatile(ptr).wrapping_add(1)) };
}

fn me() -> i32 {
    getpid().as_raw()
}

fn require_pfns() {
    assert!(pfn_visible(), "these tests need root: PFNs are not visible");
}

/// AnonHugePages (bytes) of our mapping starting at `start`.
fn anon_huge_bytes(start: u64) -> u64 {
    let smaps = Process::myself().unwrap().smaps().unwrap();
    let map = smaps
        .iter()
        .find(|m| m.address.0 == start)
        .expect("mapping in smaps");
    map.extension.map.get("AnonHugePages").copied().unwrap_or(0)
}
