//! Reading the measured process's memory from outside, without changing a single page of it.
//!
//! - Through `/proc/PID/mem`, unless the page is mapped by this process alone:
//!   `process_vm_readv` pins the pages it reads (`pin_user_pages_remote`, FOLL_PIN), and since
//!   Linux 5.19 a read-only pin of an anonymous page still shared copy-on-write makes the
//!   kernel unshare it first (`gup_must_unshare`): the child would get its own copy of every
//!   shared page read, the very thing memlab measures. `/proc/PID/mem` takes plain references
//!   (FOLL_GET | FOLL_FORCE, no write), but copies each page twice (through a kernel page).
//!   A page the pagemap shows mapped exclusively (`MMAP_EXCLUSIVE`: one mapping, this
//!   process's) has no one to share it with: the pin finds it exclusive already (a copy the
//!   child made), or marks it so and keeps the frame (the kernel reuses a page only its pinner
//!   maps). Those, most of what a census reads, go through `process_vm_readv`: one copy.
//! - Only pages the pagemap shows present: reading an absent page would fault it in (the zero
//!   page, or a file page), reading a swapped one would swap it in. An absent page holds what
//!   it would be faulted in with: zeros in an anonymous mapping, the file's bytes in a
//!   file-backed one (a written private page is anonymous, so present or swapped), and is read
//!   from there. Swapped pages are reported unreadable.
//!
//! The census test `the_census_leaves_the_childs_pages_as_they_were` checks this page for page.

use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, IoSliceMut};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;
use procfs::process::{MemoryPageFlags, PageInfo};

use super::types::RemoteMemory;

/// Why the process cannot be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFailure {
    /// Not allowed to read this process (another user, no CAP_SYS_PTRACE).
    NotPermitted,
    /// The process has exited.
    Vanished,
}

/// What the pagemap says of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Residence {
    /// Present, and perhaps mapped by another process too.
    Present,
    /// Present and mapped by this process alone (`MMAP_EXCLUSIVE`).
    Exclusive,
    Swapped,
    /// Never touched (or dropped): reads as zeros.
    Absent,
}

impl Residence {
    pub(crate) fn is_present(self) -> bool {
        matches!(self, Residence::Present | Residence::Exclusive)
    }
}

fn residence(entry: u64) -> Residence {
    match PageInfo::parse_info(entry) {
        PageInfo::SwapPage(_) => Residence::Swapped,
        PageInfo::MemoryPage(flags)
            if flags.contains(MemoryPageFlags::PRESENT | MemoryPageFlags::MMAP_EXCLUSIVE) =>
        {
            Residence::Exclusive
        }
        PageInfo::MemoryPage(flags) if flags.contains(MemoryPageFlags::PRESENT) => {
            Residence::Present
        }
        PageInfo::MemoryPage(_) => Residence::Absent,
    }
}

/// Bytes of present pages to read into a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub address: u64,
    pub length: usize,
    /// Where in the buffer.
    pub offset: usize,
    /// Every page of it is [`Residence::Exclusive`]: read with `process_vm_readv`.
    pub exclusive: bool,
}

/// Remote pieces per `process_vm_readv` (the kernel's `IOV_MAX`).
const MAX_IOVECS: usize = 1024;

/// A mapping of the process, and where its absent pages' bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MappedRegion {
    pub range: Range<u64>,
    /// The file behind it: `(offset in the file of range.start, path)`, the path opened
    /// through `/proc/PID/root` so other mount namespaces resolve right. None: anonymous.
    pub file: Option<(u64, PathBuf)>,
}

/// A process whose memory is read.
pub(crate) struct RemoteProcess {
    pid: i32,
    memory: File,
    pagemap: File,
    page_size_bytes: u64,
    entries: Vec<u8>,
    /// Sorted by address.
    regions: Vec<MappedRegion>,
    files: HashMap<PathBuf, Option<File>>,
}

fn open_proc(pid: i32, name: &str) -> Result<File, ReadFailure> {
    File::open(format!("/proc/{pid}/{name}")).map_err(|error| match error.kind() {
        ErrorKind::PermissionDenied => ReadFailure::NotPermitted,
        _ => ReadFailure::Vanished,
    })
}

impl RemoteProcess {
    /// Opens `/proc/PID/mem` and `/proc/PID/pagemap` (both need ptrace access).
    pub(crate) fn open(
        pid: i32,
        page_size_bytes: u64,
        mut regions: Vec<MappedRegion>,
    ) -> Result<Self, ReadFailure> {
        regions.sort_by_key(|m| m.range.start);
        Ok(RemoteProcess {
            pid,
            memory: open_proc(pid, "mem")?,
            pagemap: open_proc(pid, "pagemap")?,
            page_size_bytes,
            entries: Vec::new(),
            regions,
            files: HashMap::new(),
        })
    }

    /// Fills `buffer` with the bytes an absent page at `address` would be faulted in with;
    /// false outside every mapping.
    fn read_absent(&mut self, address: u64, buffer: &mut [u8]) -> bool {
        let index = self.regions.partition_point(|m| m.range.end <= address);
        let Some(region) = self.regions.get(index).filter(|m| m.range.start <= address) else {
            return false;
        };
        let Some((offset, path)) = &region.file else {
            buffer.fill(0);
            return true;
        };
        let file_offset = offset + (address - region.range.start);
        let file = self
            .files
            .entry(path.clone())
            .or_insert_with(|| File::open(path).ok());
        let Some(file) = file else {
            return false;
        };
        // Past the end of the file a mapping reads as zeros.
        buffer.fill(0);
        let mut done = 0;
        while done < buffer.len() {
            match file.read_at(&mut buffer[done..], file_offset + done as u64) {
                Ok(0) => break,
                Ok(read) => done += read,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// The residence of `pages` pages from the page at `address`, appended to `out`;
    /// unreadable entries count as swapped (not to be read).
    pub(crate) fn residences(&mut self, address: u64, pages: usize, out: &mut Vec<Residence>) {
        self.entries.resize(pages * 8, 0);
        let offset = address / self.page_size_bytes * 8;
        let complete = self
            .pagemap
            .read_exact_at(&mut self.entries, offset)
            .is_ok();
        out.extend(self.entries.chunks_exact(8).map(|entry| {
            if complete {
                residence(u64::from_le_bytes(entry.try_into().unwrap()))
            } else {
                Residence::Swapped
            }
        }));
    }

    /// Reads `buffer.len()` bytes at `address`, which the caller found present; false when
    /// any of them is unreadable (unmapped since, or the process has exited).
    fn read_exact(&self, address: u64, buffer: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buffer.len() {
            match self
                .memory
                .read_at(&mut buffer[done..], address + done as u64)
            {
                Ok(0) => return false,
                Ok(read) => done += read,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Reads each span of present pages into `buffer` and sets `readable[i]` for span `i`; a
    /// span is readable only whole. Spans must not overlap in `buffer`.
    pub(crate) fn read_spans(&self, spans: &[Span], buffer: &mut [u8], readable: &mut Vec<bool>) {
        readable.clear();
        readable.resize(spans.len(), false);
        let mut exclusive: Vec<usize> = (0..spans.len()).filter(|i| spans[*i].exclusive).collect();
        exclusive.sort_by_key(|i| spans[*i].offset);
        for group in exclusive.chunks(MAX_IOVECS) {
            self.read_exclusive(spans, group, buffer, readable);
        }
        // The rest, and any exclusive span the kernel would not read that way.
        for (span, ok) in spans.iter().zip(readable.iter_mut()) {
            if !*ok {
                *ok = self.read_exact(
                    span.address,
                    &mut buffer[span.offset..span.offset + span.length],
                );
            }
        }
    }

    /// One `process_vm_readv` of the spans `group` (sorted by offset) names; marks those read
    /// whole. It stops at the first piece it cannot read: later ones are left to `pread`.
    fn read_exclusive(
        &self,
        spans: &[Span],
        group: &[usize],
        buffer: &mut [u8],
        readable: &mut [bool],
    ) {
        let remote: Vec<RemoteIoVec> = group
            .iter()
            .map(|i| RemoteIoVec {
                base: spans[*i].address as usize,
                len: spans[*i].length,
            })
            .collect();
        let mut local: Vec<IoSliceMut> = Vec::with_capacity(group.len());
        let mut rest = buffer;
        let mut at = 0;
        for i in group {
            let span = spans[*i];
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(span.offset - at);
            let (piece, tail) = tail.split_at_mut(span.length);
            local.push(IoSliceMut::new(piece));
            rest = tail;
            at = span.offset + span.length;
        }
        let Ok(mut read) = process_vm_readv(Pid::from_raw(self.pid), &mut local, &remote) else {
            return;
        };
        for i in group {
            if read < spans[*i].length {
                break;
            }
            read -= spans[*i].length;
            readable[*i] = true;
        }
    }
}

impl RemoteMemory for RemoteProcess {
    /// Reads present pages from the process, absent ones from where they would come from;
    /// fails on a swapped page.
    fn read(&mut self, address: u64, buffer: &mut [u8]) -> bool {
        let page = self.page_size_bytes;
        let first = address / page * page;
        let end = address + buffer.len() as u64;
        let pages = (end.div_ceil(page) - first / page) as usize;
        let mut residences = Vec::with_capacity(pages);
        self.residences(first, pages, &mut residences);
        for (index, residence) in residences.into_iter().enumerate() {
            let page_start = first + index as u64 * page;
            let from = page_start.max(address);
            let to = (page_start + page).min(end);
            let part = &mut buffer[(from - address) as usize..(to - address) as usize];
            let ok = match residence {
                // One page at a time: /proc/PID/mem, whatever its mappings.
                Residence::Present | Residence::Exclusive => self.read_exact(from, part),
                Residence::Absent => self.read_absent(from, part),
                Residence::Swapped => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A private anonymous mapping of this process, unmapped on drop.
    struct Mapping {
        base: *mut u8,
        length: usize,
    }

    impl Mapping {
        fn new(length: usize) -> Self {
            // SAFETY: a fresh private anonymous mapping, owned by this value.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    length,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(base, libc::MAP_FAILED);
            Mapping {
                base: base as *mut u8,
                length,
            }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: unmapping what `new` mapped (munmap of an already unmapped part is fine).
            unsafe { libc::munmap(self.base as *mut libc::c_void, self.length) };
        }
    }

    /// Reads this very process: a present page, a hole, a present page, an untouched page.
    #[test]
    fn present_pages_are_read_holes_fail_and_untouched_pages_are_left_untouched() {
        let page = 4096usize;
        let mapping = Mapping::new(4 * page);
        // SAFETY: writing inside the mapping, then unmapping its second page.
        unsafe {
            std::ptr::write_bytes(mapping.base, 0xAB, page);
            std::ptr::write_bytes(mapping.base.add(2 * page), 0xCD, page);
            assert_eq!(
                libc::munmap(mapping.base.add(page) as *mut libc::c_void, page),
                0
            );
        }
        let base = mapping.base as u64;
        let regions = vec![
            MappedRegion {
                range: base..base + page as u64,
                file: None,
            },
            MappedRegion {
                range: base + 2 * page as u64..base + 4 * page as u64,
                file: None,
            },
        ];
        let mut process =
            RemoteProcess::open(std::process::id() as i32, page as u64, regions).unwrap();
        let mut residences = Vec::new();
        process.residences(base, 4, &mut residences);
        assert_eq!(
            residences,
            vec![
                // Written by this process alone.
                Residence::Exclusive,
                Residence::Absent, // unmapped reads as not present
                Residence::Exclusive,
                Residence::Absent,
            ]
        );

        // The same spans read through /proc/PID/mem and through process_vm_readv, where a
        // span that cannot be read (into the hole) leaves the later ones to /proc/PID/mem.
        for exclusive in [false, true] {
            let span = |address: u64, length: usize, offset: usize| Span {
                address,
                length,
                offset,
                exclusive,
            };
            let spans = [
                span(base, page, 0),
                span(base + page as u64, page, page),
                span(base + 2 * page as u64, 16, 2 * page),
                span(base + 8, 8, 2 * page + 16),
                span(base + page as u64 - 8, 16, 2 * page + 24), // runs into the hole
                span(base + 2 * page as u64 + 16, 8, 2 * page + 40),
            ];
            let mut buffer = vec![0u8; 2 * page + 48];
            let mut readable = Vec::new();
            process.read_spans(&spans, &mut buffer, &mut readable);
            assert_eq!(
                readable,
                vec![true, false, true, true, false, true],
                "exclusive: {exclusive}"
            );
            assert!(buffer[..page].iter().all(|b| *b == 0xAB));
            assert!(buffer[2 * page..2 * page + 16].iter().all(|b| *b == 0xCD));
            assert!(
                buffer[2 * page + 16..2 * page + 24]
                    .iter()
                    .all(|b| *b == 0xAB)
            );
            assert!(buffer[2 * page + 40..].iter().all(|b| *b == 0xCD));
        }

        let mut word = [0u8; 8];
        assert!(process.read(base, &mut word));
        assert_eq!(word, [0xAB; 8]);
        assert!(!process.read(base + page as u64, &mut word), "hole");
        assert!(
            !process.read(base + page as u64 - 4, &mut word),
            "straddles the hole"
        );
        word = [1; 8];
        assert!(process.read(base + 3 * page as u64, &mut word), "untouched");
        assert_eq!(word, [0; 8], "an untouched anonymous page holds zeros");
        residences.clear();
        process.residences(base + 3 * page as u64, 1, &mut residences);
        assert_eq!(residences, vec![Residence::Absent], "still untouched");
    }

    /// An untouched page of a file mapping is read from the file, and stays untouched.
    #[test]
    fn an_untouched_file_page_is_read_from_the_file() {
        let page = 4096usize;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let mut bytes = vec![0x11u8; page];
        bytes.extend(vec![0x22u8; page / 2]); // the second page is half past the end
        std::fs::write(&path, &bytes).unwrap();
        let file = File::open(&path).unwrap();
        // SAFETY: a read-only private mapping of the file, unmapped below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let base = base as u64;
        let regions = vec![MappedRegion {
            range: base..base + 2 * page as u64,
            file: Some((0, path.clone())),
        }];
        let mut process =
            RemoteProcess::open(std::process::id() as i32, page as u64, regions).unwrap();
        let mut residences = Vec::new();
        process.residences(base, 2, &mut residences);
        assert_eq!(residences, vec![Residence::Absent, Residence::Absent]);
        let mut buffer = vec![0u8; page];
        assert!(process.read(base + page as u64 / 2, &mut buffer));
        assert!(buffer[..page / 2].iter().all(|b| *b == 0x11));
        assert!(buffer[page / 2..page].iter().all(|b| *b == 0x22));
        let mut tail = [9u8; 16];
        assert!(process.read(base + 2 * page as u64 - 16, &mut tail));
        assert_eq!(tail, [0; 16], "past the end of the file");
        residences.clear();
        process.residences(base, 2, &mut residences);
        assert_eq!(
            residences,
            vec![Residence::Absent, Residence::Absent],
            "not faulted in"
        );
        // SAFETY: unmapping the mapping made above.
        unsafe { libc::munmap(base as *mut libc::c_void, 2 * page) };
    }

    #[test]
    fn a_process_that_does_not_exist_cannot_be_opened() {
        assert_eq!(
            RemoteProcess::open(i32::MAX, 4096, Vec::new()).err(),
            Some(ReadFailure::Vanished)
        );
    }
}
