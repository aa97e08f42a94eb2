//! Anonymous mappings owned by a workload, with the advice the scenarios need.

use std::num::NonZeroUsize;
use std::ptr::NonNull;

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, munmap};

pub const HUGE_PAGE_BYTES: usize = 2 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Private anonymous memory in 4 KiB pages (THP disabled for determinism).
    PrivateSmallPages,
    /// Private anonymous memory, 2 MiB aligned, with MADV_HUGEPAGE.
    PrivateHugePages,
    /// MAP_SHARED anonymous memory: writes are seen by every process that inherited it.
    Shared,
}

/// An mmap'd region, unmapped on drop.
pub struct Mapping {
    mapping: NonNull<libc::c_void>,
    mapping_len: usize,
    /// Start of the usable (possibly aligned) part.
    start: *mut u8,
    len: usize,
}

impl Mapping {
    pub fn new(len: usize, backing: Backing) -> nix::Result<Mapping> {
        let flags = match backing {
            Backing::Shared => MapFlags::MAP_SHARED | MapFlags::MAP_ANONYMOUS,
            _ => MapFlags::MAP_PRIVATE | MapFlags::MAP_ANONYMOUS,
        };
        let len = len.max(1);
        // Over-allocate so the huge-page case can start on a 2 MiB boundary.
        let mapping_len = match backing {
            Backing::PrivateHugePages => len + HUGE_PAGE_BYTES,
            _ => len,
        };
        let length = NonZeroUsize::new(mapping_len).expect("non-zero");
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let mapping = unsafe {
            mmap_anonymous(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                flags,
            )?
        };
        let base = mapping.as_ptr() as usize;
        let start = match backing {
            Backing::PrivateHugePages => base.next_multiple_of(HUGE_PAGE_BYTES),
            _ => base,
        };
        let region = Mapping {
            mapping,
            mapping_len,
            start: start as *mut u8,
            len,
        };
        let advice = match backing {
            Backing::PrivateSmallPages => Some(MmapAdvise::MADV_NOHUGEPAGE),
            Backing::PrivateHugePages => Some(MmapAdvise::MADV_HUGEPAGE),
            Backing::Shared => None,
        };
        if let Some(advice) = advice {
            // SAFETY: the range lies inside our mapping.
            let target = NonNull::new(start as *mut libc::c_void).expect("non-null");
            unsafe { madvise(target, len, advice)? };
        }
        Ok(region)
    }

    pub fn start_address(&self) -> u64 {
        self.start as u64
    }

    pub fn end_address(&self) -> u64 {
        self.start as u64 + self.len as u64
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is readable for `len` bytes while self lives.
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self makes the access exclusive in this process.
        unsafe { std::slice::from_raw_parts_mut(self.start, self.len) }
    }

    /// The region as u64 words (its start is page aligned, its length rounded down).
    pub fn as_words(&self) -> &[u64] {
        unsafe { std::slice::from_raw_parts(self.start as *const u64, self.len / 8) }
    }

    pub fn as_mut_words(&mut self) -> &mut [u64] {
        unsafe { std::slice::from_raw_parts_mut(self.start as *mut u64, self.len / 8) }
    }

    /// Writes a non-zero pattern into every word so every page is really resident
    /// (never the shared zero page).
    pub fn fill(&mut self, pattern: u64) {
        for (index, word) in self.as_mut_words().iter_mut().enumerate() {
            *word = pattern ^ index as u64;
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we own the mapping and nothing borrows it any more.
        unsafe {
            let _ = munmap(self.mapping, self.mapping_len);
        }
    }
}
