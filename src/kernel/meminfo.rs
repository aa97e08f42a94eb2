//! System-wide memory from `/proc/meminfo` (through procfs).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeminfoSnapshot {
    pub mem_total_bytes: u64,
    pub mem_free_bytes: u64,
    pub mem_available_bytes: u64,
    pub buffers_bytes: u64,
    pub cached_bytes: u64,
    pub anon_pages_bytes: u64,
    pub shmem_bytes: u64,
    pub page_tables_bytes: u64,
    pub committed_as_bytes: u64,
    pub swap_total_bytes: u64,
    /// Document 001's "free memory": MemFree + Buffers + Cached.
    pub doc001_free_bytes: u64,
}

pub fn read_meminfo() -> anyhow::Result<MeminfoSnapshot> {
    use anyhow::Context;
    use procfs::Current;
    let info = procfs::Meminfo::current().context("reading /proc/meminfo")?;
    Ok(MeminfoSnapshot {
        mem_total_bytes: info.mem_total,
        mem_free_bytes: info.mem_free,
        mem_available_bytes: info.mem_available.unwrap_or(info.mem_free),
        buffers_bytes: info.buffers,
        cached_bytes: info.cached,
        anon_pages_bytes: info.anon_pages.unwrap_or(0),
        shmem_bytes: info.shmem.unwrap_or(0),
        page_tables_bytes: info.page_tables.unwrap_or(0),
        committed_as_bytes: info.committed_as,
        swap_total_bytes: info.swap_total,
        doc001_free_bytes: info.mem_free + info.buffers + info.cached,
    })
}

/// The machine's memory, for sanity checks of sizes (0 when it cannot be read).
pub fn total_ram_bytes() -> u64 {
    read_meminfo().map(|m| m.mem_total_bytes).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn meminfo_is_plausible() {
        let info = super::read_meminfo().unwrap();
        assert!(info.mem_total_bytes > info.mem_free_bytes);
        assert!(info.mem_available_bytes > 0);
        assert_eq!(
            info.doc001_free_bytes,
            info.mem_free_bytes + info.buffers_bytes + info.cached_bytes
        );
    }
}
