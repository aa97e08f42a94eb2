//! Pure decoding of one pymalloc pool: its bytes, its address, the layout and a type resolver
//! in; a category per block (a type, free, or unidentified) and a category per page out.
//!
//! Allocation state comes from the pool header and the free list alone (Objects/obmalloc.c,
//! `pymalloc_alloc` / `pymalloc_free`): blocks below `nextoffset` have been handed out at least
//! once and are either allocated or on the `freeblock` chain; blocks at or beyond `nextoffset`
//! were never used. So a block is "<free>" when it is on the chain or virgin, and otherwise
//! holds a live allocation; a stale object header left in a free block is never read.
//!
//! A block belongs to the page holding its first byte, and is counted there only: a block
//! straddling a page boundary inside a pool (e.g. the 32-byte block at offset 4080 of a 16 KiB
//! pool) is counted once, for the page it starts on, and votes with its whole size there.

use super::layout::{
    ALIGNMENT_BYTES, Layout, OB_TYPE_OFFSET, POOL_OVERHEAD_BYTES, SIZE_CLASSES, plausible_refcount,
    pool_header,
};
use super::tally::{Category, FREE, Tally, UNIDENTIFIED};

/// Most blocks a pool can hold: 16 KiB pools of 16-byte blocks hold 1021.
const MAX_BLOCKS: usize = 1024;

/// Most pages one pool spans: a 16 KiB pool over 4 KiB pages.
pub(crate) const MAX_PAGES_PER_POOL: usize = 4;

/// `arenaindex` indexes obmalloc's `arenas` vector; a million arenas (1 TiB of 1 MiB arenas)
/// is far beyond any real process, so larger values mean "not a pool header".
const MAX_ARENA_INDEX: u32 = 1 << 20;

/// A type the resolver recognised: its category and where its object header sits in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResolvedType {
    pub category: Category,
    pub header_offset: u32,
}

/// Tells whether an address is a valid type object of the measured process.
pub(crate) trait TypeResolver {
    fn resolve(&mut self, type_address: u64) -> Option<ResolvedType>;
}

/// The fields of a pool header that passed every consistency check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolHeader {
    pub allocated_blocks: u64,
    pub freeblock: u64,
    pub block_size_bytes: u64,
    pub nextoffset: u64,
}

impl PoolHeader {
    /// Blocks ever handed out: those below `nextoffset`.
    fn carved_blocks(&self) -> u64 {
        (self.nextoffset - POOL_OVERHEAD_BYTES) / self.block_size_bytes
    }
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
}

/// Parses the header at the start of `header` (at least [`POOL_OVERHEAD_BYTES`] bytes) of the
/// pool at `pool_address`; None unless it is consistent with a live pymalloc pool.
pub(crate) fn parse_pool_header(
    header: &[u8],
    pool_address: u64,
    layout: &Layout,
) -> Option<PoolHeader> {
    if header.len() < POOL_OVERHEAD_BYTES as usize {
        return None;
    }
    let pool_size = layout.pool_size_bytes;
    let szidx = u32_at(header, pool_header::SZIDX) as u64;
    if szidx >= SIZE_CLASSES {
        return None; // includes DUMMY_SIZE_IDX (0xffff) and zeroed memory is caught below
    }
    let block_size_bytes = (szidx + 1) * ALIGNMENT_BYTES;
    // Set once when the pool is initialised for its size class: `POOL_SIZE - size`.
    if u32_at(header, pool_header::MAXNEXTOFFSET) as u64 != pool_size - block_size_bytes {
        return None;
    }
    // Starts at `POOL_OVERHEAD + 2 * size` and grows one block at a time up to POOL_SIZE.
    let nextoffset = u32_at(header, pool_header::NEXTOFFSET) as u64;
    if nextoffset < POOL_OVERHEAD_BYTES + 2 * block_size_bytes
        || nextoffset > pool_size
        || !(nextoffset - POOL_OVERHEAD_BYTES).is_multiple_of(block_size_bytes)
    {
        return None;
    }
    if u32_at(header, pool_header::ARENAINDEX) >= MAX_ARENA_INDEX {
        return None;
    }
    let parsed = PoolHeader {
        allocated_blocks: u32_at(header, pool_header::COUNT) as u64,
        freeblock: u64_at(header, pool_header::FREEBLOCK),
        block_size_bytes,
        nextoffset,
    };
    if parsed.allocated_blocks > parsed.carved_blocks() {
        return None;
    }
    if parsed.freeblock != 0
        && carved_block_index(parsed.freeblock, pool_address, &parsed).is_none()
    {
        return None;
    }
    Some(parsed)
}

/// Index of the block starting at `address` if it is one of the pool's carved blocks (at or
/// after the header, below `nextoffset`, on a block boundary).
fn carved_block_index(address: u64, pool_address: u64, header: &PoolHeader) -> Option<usize> {
    let offset = address.checked_sub(pool_address)?;
    if offset < POOL_OVERHEAD_BYTES || offset >= header.nextoffset {
        return None;
    }
    let relative = offset - POOL_OVERHEAD_BYTES;
    relative
        .is_multiple_of(header.block_size_bytes)
        .then_some((relative / header.block_size_bytes) as usize)
}

/// The pool's free blocks, one bit per carved block.
struct FreeBlocks {
    bits: [u64; MAX_BLOCKS / 64],
}

impl FreeBlocks {
    fn contains(&self, index: usize) -> bool {
        self.bits[index / 64] & (1 << (index % 64)) != 0
    }
}

/// Follows the `freeblock` chain (each free block's first word points to the next, NULL ends
/// it). None when the chain leaves the pool's carved blocks, loops, or leaves a number of
/// allocated blocks different from the header's `ref.count`: a pool changing while it was
/// read, or bytes that only looked like a header.
fn free_blocks(pool: &[u8], pool_address: u64, header: &PoolHeader) -> Option<FreeBlocks> {
    let mut free = FreeBlocks {
        bits: [0; MAX_BLOCKS / 64],
    };
    let mut free_count = 0u64;
    let mut next = header.freeblock;
    while next != 0 {
        let index = carved_block_index(next, pool_address, header)?;
        if free.contains(index) {
            return None;
        }
        free.bits[index / 64] |= 1 << (index % 64);
        free_count += 1;
        next = u64_at(pool, (next - pool_address) as usize);
    }
    (header.carved_blocks() - free_count == header.allocated_blocks).then_some(free)
}

/// Finds the object header in an allocated block: at offset 0, after a GC header, or after a
/// pre-header and a GC header, whichever holds a plausible reference count and a valid type
/// whose flags put the header exactly there. Other blocks are raw allocations (dict key
/// tables, small list item arrays, interpreter buffers) or objects parked on an interpreter
/// free list (reference count 0): "<unidentified>".
#[inline]
fn classify_block(block: &[u8], layout: &Layout, resolver: &mut impl TypeResolver) -> Category {
    let last_offset = layout.max_header_offset() as usize;
    let mut offset = 0usize;
    while offset <= last_offset && offset + 16 <= block.len() {
        if plausible_refcount(u64_at(block, offset))
            && let Some(found) = resolver.resolve(u64_at(block, offset + OB_TYPE_OFFSET))
            && found.header_offset as usize == offset
        {
            return found.category;
        }
        offset += 16;
    }
    UNIDENTIFIED
}

/// Reusable per-pool buffers: the bytes of each category on each page of the pool.
#[derive(Default)]
pub(crate) struct PoolScratch {
    votes: [Vec<(Category, u64)>; MAX_PAGES_PER_POOL],
}

#[inline]
fn vote(votes: &mut Vec<(Category, u64)>, category: Category, bytes: u64) {
    // Neighbouring blocks mostly hold the same type: try the last category first.
    if let Some((last, total)) = votes.last_mut()
        && *last == category
    {
        *total += bytes;
        return;
    }
    match votes.iter_mut().find(|(c, _)| *c == category) {
        Some((_, total)) => *total += bytes,
        None => votes.push((category, bytes)),
    }
}

/// The category holding most bytes of a page; ties go to the lower category (free first,
/// then unidentified, then types in the order first seen). A page on which no block starts
/// counts as free.
fn winner(votes: &[(Category, u64)]) -> Category {
    votes
        .iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map_or(FREE, |(category, _)| *category)
}

/// What became of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolOutcome {
    /// No consistent pool header: the pages are not pymalloc memory.
    NotPool,
    /// The header is consistent but its free list is not (the pool changed while read).
    Inconsistent,
    /// Every block starting on a selected page was counted, and each selected page voted.
    Decoded,
}

/// Decodes one pool. `pool` holds the whole pool read from `pool_address`; bit `i` of
/// `page_mask` selects the pool's `i`-th page of `page_size_bytes`. Only blocks starting on
/// selected pages are counted, and only selected pages vote.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_pool(
    pool: &[u8],
    pool_address: u64,
    page_mask: u8,
    page_size_bytes: u64,
    layout: &Layout,
    resolver: &mut impl TypeResolver,
    scratch: &mut PoolScratch,
    tally: &mut Tally,
) -> PoolOutcome {
    debug_assert_eq!(pool.len() as u64, layout.pool_size_bytes);
    let Some(header) = parse_pool_header(pool, pool_address, layout) else {
        return PoolOutcome::NotPool;
    };
    let Some(free) = free_blocks(pool, pool_address, &header) else {
        return PoolOutcome::Inconsistent;
    };
    let size = header.block_size_bytes as usize;
    let carved = header.carved_blocks() as usize;
    let page_size = page_size_bytes as usize;
    for votes in scratch.votes.iter_mut() {
        votes.clear();
    }
    // The hot loop: the blocks starting on each selected page, the bytes of each category
    // summed per page (blocks are counted from those sums once per pool).
    let blocks = layout.blocks_per_pool(size as u64) as usize;
    let first_block_at = |page: usize| {
        (page * page_size)
            .saturating_sub(POOL_OVERHEAD_BYTES as usize)
            .div_ceil(size)
    };
    for page in 0..(layout.pool_size_bytes / page_size_bytes) as usize {
        if page_mask & (1 << page) == 0 {
            continue;
        }
        let votes = &mut scratch.votes[page];
        for index in first_block_at(page)..first_block_at(page + 1).min(blocks) {
            let category = if index >= carved || free.contains(index) {
                FREE
            } else {
                let offset = POOL_OVERHEAD_BYTES as usize + index * size;
                classify_block(&pool[offset..offset + size], layout, resolver)
            };
            vote(votes, category, size as u64);
        }
    }
    let pages = (layout.pool_size_bytes / page_size_bytes) as usize;
    for (page, votes) in scratch.votes.iter().enumerate().take(pages) {
        if page_mask & (1 << page) != 0 {
            for &(category, bytes) in votes {
                tally.add_blocks(category, bytes / size as u64, size as u64);
            }
            tally.add_page(winner(votes));
        }
    }
    PoolOutcome::Decoded
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
