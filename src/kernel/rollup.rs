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

/// RSS, PSS and USS of a process, from `smaps_rollup` alone: what the timeline sampler needs,
/// without the extra `status` read [`read_rollup`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryTriple {
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub uss_bytes: u64,
}

/// The `smaps_rollup` fields of a process, in bytes. It is empty for a zombie: that counts as
/// vanished.
fn rollup_fields(
    process: &procfs::process::Process,
    pid: i32,
) -> Result<std::collections::HashMap<String, u64>, ReadError> {
    let rollup = process
        .smaps_rollup()
        .map_err(|e| ReadError::from_proc(pid, "smaps_rollup", e))?;
    rollup
        .memory_map_rollup
        .0
        .into_iter()
        .next()
        .map(|entry| entry.extension.map)
        .ok_or(ReadError::Vanished { pid })
}

fn open(pid: i32) -> Result<procfs::process::Process, ReadError> {
    procfs::process::Process::new(pid).map_err(|e| ReadError::from_proc(pid, "process", e))
}

/// Reads RSS, PSS and USS only (one file), for sampling often.
pub fn read_memory_triple(pid: i32) -> Result<MemoryTriple, ReadError> {
    let map = rollup_fields(&open(pid)?, pid)?;
    let field = |key: &str| map.get(key).copied().unwrap_or(0);
    Ok(MemoryTriple {
        rss_bytes: field("Rss"),
        pss_bytes: field("Pss"),
        uss_bytes: field("Private_Clean") + field("Private_Dirty"),
    })
}

/// Reads a process's full rollup, plus RssShmem from `status`.
pub fn read_rollup(pid: i32) -> Result<Rollup, ReadError> {
    let process = open(pid)?;
    let map = rollup_fields(&process, pid)?;
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
    fn the_sampling_triple_agrees_with_the_full_rollup() {
        // A quiet process: this test binary's other threads allocate between the two reads.
        let mut quiet = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = quiet.id() as i32;
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (triple, full) = (read_memory_triple(pid).unwrap(), read_rollup(pid).unwrap());
        let _ = quiet.kill();
        let _ = quiet.wait();
        // Read one after the other from a live process: equal give or take a few pages.
        assert!(triple.rss_bytes.abs_diff(full.rss_bytes) < 1 << 20);
        assert!(triple.uss_bytes.abs_diff(full.uss_bytes) < 1 << 20);
        assert!(triple.pss_bytes > 0 && triple.pss_bytes <= triple.rss_bytes);
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
