//! Reading pagemap entries with large `pread`s. procfs's `PageMap::get_range_info`
//! reads each 8-byte entry through an 8 KiB buffered reader; one `pread` per batch of
//! entries, decoded with procfs's `PageInfo::parse_info`, gives the same entries for
//! fewer system calls and less copying.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use procfs::ProcError;
use procfs::process::{PageInfo, Process};

use super::{PageTruthError, on_pid};

/// Entries read per `pread`: 32 KiB of entries, 16 MiB of address space.
/// (examples/bench_pagemap_reader.rs times 512 to 65536.)
pub(super) const READ_BATCH_ENTRIES: usize = 4096;

const ENTRY_BYTES: usize = std::mem::size_of::<u64>();

/// One process's `/proc/PID/pagemap`, opened through its /proc directory.
pub(super) struct PagemapReader {
    pid: i32,
    file: File,
}

impl PagemapReader {
    pub(super) fn open(pid: i32, process: &Process) -> Result<Self, PageTruthError> {
        let file = process.open_relative("pagemap").map_err(on_pid(pid))?;
        Ok(PagemapReader { pid, file })
    }

    /// Fills `entries` with the entries of pages `first_page..first_page + entries.len()`.
    /// A read that ends early means the process's memory is gone (it is exiting) or the
    /// pages lie beyond the user address space.
    pub(super) fn read_into(
        &self,
        first_page: usize,
        entries: &mut [PageInfo],
    ) -> Result<(), PageTruthError> {
        // On the stack: reused by every read, and no heap pages dirtied in a measuring
        // process that shares its heap with children.
        let mut raw = [0u8; READ_BATCH_ENTRIES * ENTRY_BYTES];
        for (batch_index, batch) in entries.chunks_mut(READ_BATCH_ENTRIES).enumerate() {
            let page = first_page + batch_index * READ_BATCH_ENTRIES;
            let bytes = &mut raw[..batch.len() * ENTRY_BYTES];
            self.read_exact_at(bytes, (page * ENTRY_BYTES) as u64)?;
            for (entry, word) in batch.iter_mut().zip(bytes.chunks_exact(ENTRY_BYTES)) {
                let word = u64::from_ne_bytes(word.try_into().expect("8-byte chunk"));
                *entry = PageInfo::parse_info(word);
            }
        }
        Ok(())
    }

    fn read_exact_at(&self, mut bytes: &mut [u8], mut offset: u64) -> Result<(), PageTruthError> {
        while !bytes.is_empty() {
            match self.file.read_at(bytes, offset) {
                Ok(0) => return Err(self.error(ErrorKind::UnexpectedEof.into())),
                Ok(read) => {
                    bytes = &mut bytes[read..];
                    offset += read as u64;
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(self.error(err)),
            }
        }
        Ok(())
    }

    /// As procfs reports errors, so that [`PageTruthError::from_proc`] classifies them
    /// the same way (vanished, permission denied, other).
    fn error(&self, err: std::io::Error) -> PageTruthError {
        let path = PathBuf::from(format!("/proc/{}/pagemap", self.pid));
        let err = match err.kind() {
            ErrorKind::PermissionDenied => ProcError::PermissionDenied(Some(path)),
            _ => ProcError::Io(err, Some(path)),
        };
        PageTruthError::from_proc(self.pid, err)
    }
}
