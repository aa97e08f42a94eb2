//! The CPython object census: which Python objects lie on given pages of a process (typically
//! the pages a forked child copied from its parent), read from outside the process.
//!
//! - [`interpreter`]: which CPython the process runs (maps, executable, ELF symbols,
//!   environment), and so which [`layout`] applies; builds it cannot decode are a
//!   [`CensusSkip`] with the reason.
//! - [`scan`]: the input pages, grouped into pymalloc pools in address order, read in batches
//!   from `/proc/PID/mem` ([`remote`]).
//! - [`pool`]: pure decoding of one pool: header, free list, the object in each used block.
//! - [`types`]: validating type objects found in blocks, cached by address.
//! - [`tally`]: totals per type, and the final sorted list.
//!
//! Nothing runs inside the measured process and nothing is written to it: reading its memory
//! through `/proc/PID/mem` copies none of its pages (`process_vm_readv` would: see [`remote`]).

mod elf;
mod interpreter;
mod layout;
mod pool;
mod remote;
mod scan;
mod tally;
mod types;

use std::ops::Range;

use procfs::ProcError;
use std::path::Path;

use procfs::process::{MMPermissions, MMapPath, Process};
use serde::{Deserialize, Serialize};

use remote::{MappedRegion, ReadFailure, RemoteProcess};
use scan::{Mapping, PoolsOf, Scanner};
use tally::Tally;
use types::TypeTable;

pub use crate::result::census::{
    FREE_TYPE, NOT_PYMALLOC_TYPE, PythonCensus, RegionLabel, RegionPages, TypeCount,
    UNIDENTIFIED_TYPE,
};
pub use scan::readers_cpu;

/// Why no census was taken, in one line (shown as the result's `python_types_note`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{reason}")]
pub struct CensusSkip {
    pub reason: String,
}

impl CensusSkip {
    fn new(reason: impl Into<String>) -> Self {
        CensusSkip {
            reason: reason.into(),
        }
    }

    fn no_permission(pid: i32) -> Self {
        CensusSkip::new(format!(
            "no permission to read the memory of process {pid}: the census needs the process's user or CAP_SYS_PTRACE"
        ))
    }

    fn from_proc(pid: i32, error: ProcError) -> Self {
        match error {
            ProcError::PermissionDenied(_) => CensusSkip::no_permission(pid),
            ProcError::NotFound(_) => CensusSkip::new(format!("process {pid} has exited")),
            ProcError::Io(ref io, _) if io.raw_os_error() == Some(libc::EACCES) => {
                CensusSkip::no_permission(pid)
            }
            ProcError::Io(ref io, _) if io.raw_os_error() == Some(libc::ESRCH) => {
                CensusSkip::new(format!("process {pid} has exited"))
            }
            other => CensusSkip::new(format!("cannot read /proc of process {pid}: {other}")),
        }
    }

    fn from_read(pid: i32, failure: ReadFailure) -> Self {
        match failure {
            ReadFailure::NotPermitted => CensusSkip::no_permission(pid),
            ReadFailure::Vanished => CensusSkip::new(format!("process {pid} has exited")),
        }
    }
}

/// Whether `pid` still has its memory (exists and is not a zombie).
fn alive(pid: i32) -> bool {
    Process::new(pid)
        .and_then(|p| p.stat())
        .is_ok_and(|stat| !matches!(stat.state, 'Z' | 'X'))
}

/// Takes the census of the Python objects on `pages` of process `pid`: page-aligned virtual
/// address runs, grouped by the region they belong to. Reads the process from outside and
/// streams: memory stays bounded (a few MiB) whatever the number of pages.
pub fn take_census(
    pid: i32,
    pages: &[(RegionLabel, Vec<Range<u64>>)],
) -> Result<PythonCensus, CensusSkip> {
    let proc_skip = |error| CensusSkip::from_proc(pid, error);
    let process = Process::new(pid).map_err(proc_skip)?;
    let executable = process.exe().map_err(proc_skip)?;
    let maps = process.maps().map_err(proc_skip)?.0;
    let command_line = process.cmdline().map_err(proc_skip)?;
    let environment = process.environ().map_err(proc_skip)?;
    let interpreter = interpreter::detect(pid, &executable, &maps, &command_line, &environment)?;
    let layout = interpreter.layout;

    let page_size_bytes = crate::kernel::page_size_bytes();
    let pages_per_pool = layout.pool_size_bytes / page_size_bytes.max(1);
    if !(1..=pool::MAX_PAGES_PER_POOL as u64).contains(&pages_per_pool) {
        return Err(CensusSkip::new(format!(
            "pages of {page_size_bytes} bytes do not divide {}'s {}-byte pools",
            interpreter.description, layout.pool_size_bytes
        )));
    }

    let mut mappings: Vec<Mapping> = maps
        .iter()
        .map(|m| Mapping {
            range: m.address.0..m.address.1,
            private_writable: m.perms.contains(MMPermissions::PRIVATE)
                && m.perms.contains(MMPermissions::WRITE),
        })
        .collect();
    mappings.sort_by_key(|m| m.range.start);
    let readable: Vec<Range<u64>> = maps
        .iter()
        .filter(|m| m.perms.contains(MMPermissions::READ))
        .map(|m| m.address.0..m.address.1)
        .collect();

    let regions: Vec<MappedRegion> = maps
        .iter()
        .map(|m| MappedRegion {
            range: m.address.0..m.address.1,
            file: match &m.pathname {
                MMapPath::Path(path) => Some((
                    m.offset,
                    Path::new(&format!("/proc/{pid}/root"))
                        .join(path.strip_prefix("/").unwrap_or(path)),
                )),
                _ => None,
            },
        })
        .collect();
    let open = || {
        RemoteProcess::open(pid, page_size_bytes, regions.clone())
            .map_err(|failure| CensusSkip::from_read(pid, failure))
    };
    let mut type_table = TypeTable::new(open()?, layout, interpreter.type_type_address, readable);
    let labels: Vec<RegionLabel> = pages.iter().map(|(label, _)| label.clone()).collect();
    let mut runs: Vec<(u64, u64, u32)> = pages
        .iter()
        .enumerate()
        .flat_map(|(region, (_, ranges))| {
            ranges.iter().map(move |r| (r.start, r.end, region as u32))
        })
        .filter(|(start, end, _)| start < end)
        .collect();
    runs.sort_unstable();

    let mut reader = open()?;
    let mut tally = Tally::default();
    let scanner = Scanner {
        mappings: &mappings,
        layout,
        page_size_bytes,
    };
    let pages_examined = scanner.scan(
        &mut reader,
        PoolsOf::new(&runs, layout.pool_size_bytes, page_size_bytes),
        &mut type_table,
        &mut tally,
    );
    // A process that exits mid-census reads as unreadable: say that it exited instead.
    if tally.pages_unreadable > 0 && !alive(pid) {
        return Err(CensusSkip::from_read(pid, ReadFailure::Vanished));
    }

    let (types, not_pymalloc_regions) = tally.finish(
        |category| type_table.describe(category),
        &labels,
        page_size_bytes,
    );
    Ok(PythonCensus {
        interpreter: interpreter.description,
        pool_size_bytes: layout.pool_size_bytes,
        types,
        not_pymalloc_regions,
        pages_examined,
        pages_unreadable: tally.pages_unreadable,
        pages_inconsistent: tally.pages_inconsistent,
    })
}
