//! `/proc/PID/smaps_rollup` (through procfs) and the few `/proc/PID/status` fields it lacks.

use serde::{Deserialize, Serialize};

use super::ReadError;

/// Every `smaps_rollup` field memlab reports, in bytes, plus USS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollup {
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub pss_anon_bytes: u64,
    pub pss_file_bytes: u64,
    pub pss_shmem_bytes: u64,
    pub pss_dirty_bytes: u64,
    pub shared_clean_bytes: u64,
    pub shared_dirty_bytes: u64,
    pub private_clean_bytes: u64,
    pub private_dirty_bytes: u64,
    pub referenced_bytes: u64,
    pub anonymous_bytes: u64,
    pub anon_huge_pages_bytes: u64,
    pub swap_bytes: u64,
    pub swap_pss_bytes: u64,
    /// Unique set size: Private_Clean + Private_Dirty, what this process alone holds.
    pub uss_bytes: u64,
    /// Resident shared memory (MAP_SHARED anonymous, tmpfs, SysV shm), from `status`.
    pub rss_shmem_bytes: u64,
}

/// Reads a process's rollup. `smaps_rollup` is empty for a zombie: that counts as vanished.
pub fn read_rollup(pid: i32) -> Result<Rollup, ReadError> {
    let process =
        procfs::process::Process::new(pid).map_err(|e| ReadError::from_proc(pid, "process", e))?;
    let rollup = process
        .smaps_rollup()
        .map_err(|e| ReadError::from_proc(pid, "smaps_rollup", e))?;
    let Some(map) = rollup
        .memory_map_rollup
        .0
        .first()
        .map(|entry| &entry.extension.map)
    else {
        return Err(ReadError::Vanished { pid });
    };
    let field = |key: &str| map.get(key).copied().unwrap_or(0);
    let status = process
        .status()
        .map_err(|e| ReadError::from_proc(pid, "status", e))?;
    let private_clean = field("Private_Clean");
    let private_dirty = field("Private_Dirty");
    Ok(Rollup {
        rss_bytes: field("Rss"),
        pss_bytes: field("Pss"),
        pss_anon_bytes: field("Pss_Anon"),
        pss_file_bytes: field("Pss_File"),
        pss_shmem_bytes: field("Pss_Shmem"),
        pss_dirty_bytes: field("Pss_Dirty"),
        shared_clean_bytes: field("Shared_Clean"),
        shared_dirty_bytes: field("Shared_Dirty"),
        private_clean_bytes: private_clean,
        private_dirty_bytes: private_dirty,
        referenced_bytes: field("Referenced"),
        anonymous_bytes: field("Anonymous"),
        anon_huge_pages_bytes: field("AnonHugePages"),
        swap_bytes: field("Swap"),
        swap_pss_bytes: field("SwapPss"),
        uss_bytes: private_clean + private_dirty,
        // status reports kB; procfs leaves the number as the kernel wrote it.
        rss_shmem_bytes: status.rssshmem.unwrap_or(0) * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_rollup_with_consistent_fields() {
        let rollup = read_rollup(std::process::id() as i32).unwrap();
        assert!(rollup.rss_bytes > 0);
        assert!(rollup.pss_bytes > 0 && rollup.pss_bytes <= rollup.rss_bytes);
        assert_eq!(
            rollup.uss_bytes,
            rollup.private_clean_bytes + rollup.private_dirty_bytes
        );
        assert_eq!(
            rollup.rss_bytes,
            rollup.shared_clean_bytes
                + rollup.shared_dirty_bytes
                + rollup.private_clean_bytes
                + rollup.private_dirty_bytes
        );
    }

    #[test]
    fn a_missing_process_is_vanished_not_an_error() {
        // Pid max on Linux is at most 2^22: this one cannot exist.
        assert!(matches!(
            read_rollup(i32::MAX),
            Err(ReadError::Vanished { .. })
        ));
    }
}
