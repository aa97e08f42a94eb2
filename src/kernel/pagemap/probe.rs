//! What pagemap shows this process: PFNs (CAP_SYS_ADMIN) and the exclusive bit.

use procfs::process::{MemoryPageFlags, PageInfo, Process};

use super::{PageTruthError, TruthMethod};

/// True when this process can see physical frame numbers in pagemap.
pub fn pfn_visible() -> bool {
    probe_own_page().is_ok_and(|p| p.pfn_visible)
}

/// Picks the best method this process can use.
pub fn best_method() -> Result<TruthMethod, PageTruthError> {
    let probe = probe_own_page()?;
    if probe.pfn_visible {
        Ok(TruthMethod::Pfn)
    } else if probe.exclusive_bit_visible {
        Ok(TruthMethod::ExclusiveBit)
    } else {
        Err(PageTruthError::NoPageTruth)
    }
}

pub(super) struct OwnPageProbe {
    pub(super) pfn_visible: bool,
    pub(super) exclusive_bit_visible: bool,
}

/// Reads the pagemap entry of a page we just wrote: it must be present and,
/// having been written, mapped only by us. PFN 0 there means PFNs are hidden;
/// a missing exclusive bit means the kernel does not report it.
pub(super) fn probe_own_page() -> Result<OwnPageProbe, PageTruthError> {
    let page_size = procfs::page_size() as usize;
    let me = Process::myself().map_err(|e| PageTruthError::from_proc_unchecked(None, e))?;
    let mut pagemap = me
        .pagemap()
        .map_err(|e| PageTruthError::from_proc_unchecked(None, e))?;
    let mut buf = vec![0u8; 2 * page_size];
    // Reclaim could in principle steal the page between the write and the read.
    for _ in 0..3 {
        buf.fill(0xA5);
        std::hint::black_box(&mut buf);
        let page_index = (buf.as_ptr() as usize).div_ceil(page_size);
        let info = pagemap
            .get_info(page_index)
            .map_err(|e| PageTruthError::from_proc_unchecked(None, e))?;
        if let PageInfo::MemoryPage(flags) = info
            && flags.contains(MemoryPageFlags::PRESENT)
        {
            return Ok(OwnPageProbe {
                pfn_visible: flags.get_page_frame_number().0 != 0,
                exclusive_bit_visible: flags.contains(MemoryPageFlags::MMAP_EXCLUSIVE),
            });
        }
    }
    Err(PageTruthError::NoPageTruth)
}
