//! Physical footprint of a set of processes: the distinct frames behind all
//! their present pages, and which of them are also mapped outside the set.

use procfs::KPageCount;
use procfs::process::{MMapPath, MemoryPageFlags, PageInfo, Pfn, Process};

use super::compare::{CHUNK_PAGES, chunks};
use super::probe::probe_own_page;
use super::reader::PagemapReader;
use super::regions::{live_maps, page_range};
use super::{PageTruthError, TreeFootprint, on_pid};

/// Distinct PFNs this close together are fetched from /proc/kpagecount in one
/// read: procfs refills an 8 KiB (1024-entry) buffer after every seek, so
/// reading through a smaller gap costs nothing extra.
const KPAGECOUNT_MAX_GAP: u64 = 1024;

/// Physical footprint of a process tree: every present page of every mapping
/// of `pids`, each physical frame counted once.
pub fn tree_footprint(pids: &[i32]) -> Result<TreeFootprint, PageTruthError> {
    tree_footprint_with(pids, probe_own_page()?.pfn_visible)
}

/// [`tree_footprint`] without `outside_shared_bytes` (left `None`): it skips the
/// /proc/kpagecount look-ups, which are most of the cost (e.g. 300 of 340 ms for five
/// processes sharing 256 MiB of THP-backed data), for callers that measure a tree often.
pub fn tree_unique_footprint(pids: &[i32]) -> Result<TreeFootprint, PageTruthError> {
    footprint(pids, probe_own_page()?.pfn_visible, false)
}

pub(super) fn tree_footprint_with(
    pids: &[i32],
    pfns_visible: bool,
) -> Result<TreeFootprint, PageTruthError> {
    footprint(pids, pfns_visible, true)
}

fn footprint(
    pids: &[i32],
    pfns_visible: bool,
    with_outside: bool,
) -> Result<TreeFootprint, PageTruthError> {
    let mut pids = pids.to_vec();
    pids.sort_unstable();
    pids.dedup();

    let page_size = procfs::page_size();
    // The mappings per frame are needed only to find frames mapped outside the tree.
    let mut frames = FrameCounts::new(if with_outside {
        Keep::Mappings
    } else {
        Keep::Presence
    });
    let mut pages_examined = 0;
    let mut swapped_pages = 0;
    let mut entries: Vec<PageInfo> = Vec::with_capacity(CHUNK_PAGES);
    for &pid in &pids {
        let process = Process::new(pid).map_err(on_pid(pid))?;
        let pagemap = PagemapReader::open(pid, &process)?;
        for map in live_maps(pid, &process)? {
            if map.pathname == MMapPath::Vsyscall {
                continue;
            }
            for chunk in chunks(page_range(&map, page_size)) {
                entries.clear();
                entries.resize(chunk.len(), PageInfo::MemoryPage(MemoryPageFlags::empty()));
                pagemap.read_into(chunk.start, &mut entries)?;
                for &entry in &entries {
                    match entry {
                        PageInfo::MemoryPage(flags) if flags.contains(MemoryPageFlags::PRESENT) => {
                            pages_examined += 1;
                            if pfns_visible {
                                frames.add(flags.get_page_frame_number().0);
                            }
                        }
                        PageInfo::SwapPage(_) => swapped_pages += 1,
                        PageInfo::MemoryPage(_) => {}
                    }
                }
            }
        }
    }
    if !pfns_visible {
        return Ok(TreeFootprint {
            exact: false,
            unique_bytes: None,
            outside_shared_bytes: None,
            pages_examined,
            swapped_pages,
        });
    }

    let outside_frames = if with_outside {
        Some(count_frames_mapped_outside(&frames)?)
    } else {
        None
    };
    Ok(TreeFootprint {
        exact: true,
        unique_bytes: Some(frames.distinct() * page_size),
        outside_shared_bytes: outside_frames.map(|frames| frames * page_size),
        pages_examined,
        swapped_pages,
    })
}

/// Frames per block of [`FrameCounts`]: 64 Ki frames, 256 MiB of physical memory.
const FRAME_BLOCK_BITS: u32 = 16;

/// What [`FrameCounts`] keeps of each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// How many in-tree mappings it has (a byte per frame).
    Mappings,
    /// Only whether the tree maps it (a bit per frame: 8x less memory to touch, and the
    /// counters' loads were most of the counting's cost).
    Presence,
}

/// How many in-tree mappings each physical frame has, in blocks allocated on first use.
/// memlab's own memory then follows the physical span the tree touches (at most
/// RAM / page size bytes: 6 MiB for 24 GiB), not the tree's size, which a list of
/// one PFN per mapped page would (8 bytes per page: 40 MiB for 1 GiB and 4 children).
/// Counts saturate at 255: such a frame is never counted as mapped outside the tree.
struct FrameCounts {
    keep: Keep,
    /// Block number → its index in `blocks`.
    index: std::collections::BTreeMap<u64, usize>,
    blocks: Vec<Box<[u8]>>,
    /// The block of the last frame added: a mapping's neighbouring pages mostly have frames
    /// in the same block, so most pages skip the map look-up (which cost more than reading
    /// the pagemap itself).
    last: Option<(u64, usize)>,
    distinct: u64,
}

impl FrameCounts {
    fn new(keep: Keep) -> Self {
        FrameCounts {
            keep,
            index: Default::default(),
            blocks: Vec::new(),
            last: None,
            distinct: 0,
        }
    }

    fn add(&mut self, pfn: u64) {
        let block_number = pfn >> FRAME_BLOCK_BITS;
        let block = match self.last {
            Some((number, block)) if number == block_number => block,
            _ => {
                let next = self.blocks.len();
                let block = *self.index.entry(block_number).or_insert(next);
                if block == next {
                    let bytes = match self.keep {
                        Keep::Mappings => 1 << FRAME_BLOCK_BITS,
                        Keep::Presence => 1 << (FRAME_BLOCK_BITS - 3),
                    };
                    self.blocks.push(vec![0u8; bytes].into_boxed_slice());
                }
                self.last = Some((block_number, block));
                block
            }
        };
        let offset = (pfn & ((1 << FRAME_BLOCK_BITS) - 1)) as usize;
        let block = &mut self.blocks[block];
        match self.keep {
            Keep::Mappings => {
                let count = &mut block[offset];
                if *count == 0 {
                    self.distinct += 1;
                }
                *count = count.saturating_add(1);
            }
            Keep::Presence => {
                let (byte, bit) = (&mut block[offset >> 3], 1u8 << (offset & 7));
                if *byte & bit == 0 {
                    self.distinct += 1;
                    *byte |= bit;
                }
            }
        }
    }

    fn distinct(&self) -> u64 {
        self.distinct
    }

    /// Each block of mapping counts with its number, by block number.
    fn blocks(&self) -> impl Iterator<Item = (u64, &[u8])> {
        assert_eq!(self.keep, Keep::Mappings, "only counts are kept per frame");
        self.index
            .iter()
            .map(|(number, block)| (*number, &*self.blocks[*block]))
    }
}

/// Frames whose kernel mapcount exceeds their in-tree mappings. Reads
/// /proc/kpagecount in batches of nearby frames rather than one seek each.
fn count_frames_mapped_outside(frames: &FrameCounts) -> Result<u64, PageTruthError> {
    let kpagecount_err = |e| PageTruthError::from_proc_unchecked(None, e);
    let mut kpagecount = KPageCount::new().map_err(kpagecount_err)?;
    let mut outside = 0;
    for (block_number, block) in frames.blocks() {
        let base = block_number << FRAME_BLOCK_BITS;
        // The block's mapped frames, as offsets: at most 64 Ki of them (256 KiB).
        let present: Vec<u32> = (0..block.len() as u32)
            .filter(|i| block[*i as usize] > 0)
            .collect();
        let mut first = 0;
        while first < present.len() {
            let batch_start = present[first];
            let mut past_last = first + 1;
            while past_last < present.len()
                && u64::from(present[past_last] - present[past_last - 1]) <= KPAGECOUNT_MAX_GAP
            {
                past_last += 1;
            }
            let batch_end = present[past_last - 1] + 1;
            let mapcounts = kpagecount
                .get_count_in_range(
                    Pfn(base + u64::from(batch_start)),
                    Pfn(base + u64::from(batch_end)),
                )
                .map_err(kpagecount_err)?;
            for &offset in &present[first..past_last] {
                let in_tree = block[offset as usize];
                if in_tree < u8::MAX
                    && mapcounts[(offset - batch_start) as usize] > u64::from(in_tree)
                {
                    outside += 1;
                }
            }
            first = past_last;
        }
    }
    Ok(outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_counts_count_each_frame_once_across_blocks_and_keep_the_mappings_per_frame() {
        let mut frames = FrameCounts::new(Keep::Mappings);
        let far = 5 << FRAME_BLOCK_BITS;
        // Two blocks visited back and forth, a frame added twice, one added 300 times.
        for pfn in [7, far + 1, 7, 8, far + 1, far + 2] {
            frames.add(pfn);
        }
        for _ in 0..300 {
            frames.add(9);
        }
        assert_eq!(frames.distinct(), 5);
        let blocks: Vec<(u64, Vec<(usize, u8)>)> = frames
            .blocks()
            .map(|(number, block)| {
                let used = (0..block.len())
                    .filter(|i| block[*i] > 0)
                    .map(|i| (i, block[i]))
                    .collect();
                (number, used)
            })
            .collect();
        assert_eq!(
            blocks,
            vec![
                (0, vec![(7, 2), (8, 1), (9, 255)]),
                (5, vec![(1, 2), (2, 1)]),
            ]
        );
    }

    #[test]
    fn frame_presence_counts_the_same_distinct_frames() {
        let far = 5 << FRAME_BLOCK_BITS;
        let pfns = [7, far + 1, 7, 8, far + 1, far + 2, 9, 9, far + 65535, 0];
        let mut counts = FrameCounts::new(Keep::Mappings);
        let mut presence = FrameCounts::new(Keep::Presence);
        for pfn in pfns {
            counts.add(pfn);
            presence.add(pfn);
        }
        assert_eq!(presence.distinct(), 7);
        assert_eq!(presence.distinct(), counts.distinct());
    }
}
