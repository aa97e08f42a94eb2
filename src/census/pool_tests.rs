use std::collections::HashMap;

use super::*;
use crate::census::tally::CategoryTotals;

const POOL: u64 = 0x7f00_0010_0000;
const INT: u64 = 0x5555_0000_1000;
const DICT: u64 = 0x5555_0000_2000;
const RECORD: u64 = 0x5555_0000_3000;
const INT_CATEGORY: Category = 2;
const DICT_CATEGORY: Category = 3;
const RECORD_CATEGORY: Category = 4;

/// Types by address, as a validated type table would return them; counts look-ups.
struct FakeTypes {
    types: HashMap<u64, ResolvedType>,
    lookups: usize,
}

impl FakeTypes {
    fn new() -> Self {
        let t = |category, header_offset| ResolvedType {
            category,
            header_offset,
        };
        FakeTypes {
            types: HashMap::from([
                (INT, t(INT_CATEGORY, 0)),
                (DICT, t(DICT_CATEGORY, 16)),
                (RECORD, t(RECORD_CATEGORY, 32)),
            ]),
            lookups: 0,
        }
    }
}

impl TypeResolver for FakeTypes {
    fn resolve(&mut self, type_address: u64) -> Option<ResolvedType> {
        self.lookups += 1;
        self.types.get(&type_address).copied()
    }
}

/// A pool's bytes built the way obmalloc leaves them.
struct SyntheticPool {
    bytes: Vec<u8>,
    block_size: u64,
    carved: u64,
    free: Vec<u64>,
}

impl SyntheticPool {
    /// A pool of size class `szidx` with `carved` blocks handed out so far.
    fn new(layout: &Layout, szidx: u32, carved: u64) -> Self {
        let block_size = (szidx as u64 + 1) * 16;
        let mut pool = SyntheticPool {
            bytes: vec![0; layout.pool_size_bytes as usize],
            block_size,
            carved,
            free: Vec::new(),
        };
        pool.put_u32(pool_header::ARENAINDEX, 7);
        pool.put_u32(pool_header::SZIDX, szidx);
        pool.put_u32(
            pool_header::NEXTOFFSET,
            (POOL_OVERHEAD_BYTES + carved * block_size) as u32,
        );
        pool.put_u32(
            pool_header::MAXNEXTOFFSET,
            (layout.pool_size_bytes - block_size) as u32,
        );
        pool.put_u32(pool_header::COUNT, carved as u32);
        pool
    }

    fn put_u32(&mut self, offset: usize, value: u32) {
        self.bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn put_u64(&mut self, offset: usize, value: u64) {
        self.bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn offset(&self, block: u64) -> usize {
        (POOL_OVERHEAD_BYTES + block * self.block_size) as usize
    }

    /// An object header (refcount, type) at `header_offset` inside `block`; the words before
    /// it are a GC header / pre-header made of pointers, as in a real object.
    fn object(&mut self, block: u64, header_offset: u64, type_address: u64) -> &mut Self {
        let start = self.offset(block);
        for word in (0..header_offset as usize).step_by(8) {
            self.put_u64(start + word, POOL + 0x40 + word as u64);
        }
        self.put_u64(start + header_offset as usize, 3);
        self.put_u64(start + header_offset as usize + 8, type_address);
        self
    }

    /// Frees blocks in this order, as `pymalloc_free` would: each freed block is pushed on
    /// the front of the chain and `count` drops.
    fn free(&mut self, blocks: &[u64]) -> &mut Self {
        for &block in blocks {
            let head = u64::from_le_bytes(
                self.bytes[pool_header::FREEBLOCK..pool_header::FREEBLOCK + 8]
                    .try_into()
                    .unwrap(),
            );
            let offset = self.offset(block);
            self.put_u64(offset, head);
            self.put_u64(pool_header::FREEBLOCK, POOL + offset as u64);
            self.free.push(block);
        }
        let allocated = self.carved - self.free.len() as u64;
        self.put_u32(pool_header::COUNT, allocated as u32);
        self
    }
}

fn layout(version: (u32, u32)) -> Layout {
    Layout::for_version(version).unwrap()
}

fn decode(pool: &SyntheticPool, layout: &Layout, mask: u8, tally: &mut Tally) -> PoolOutcome {
    decode_pool(
        &pool.bytes,
        POOL,
        mask,
        4096,
        layout,
        &mut FakeTypes::new(),
        &mut PoolScratch::default(),
        tally,
    )
}

fn totals(blocks: u64, block_size: u64, pages: u64) -> CategoryTotals {
    CategoryTotals {
        blocks,
        bytes: blocks * block_size,
        pages,
    }
}

#[test]
fn ints_free_blocks_raw_blocks_and_virgin_blocks_are_told_apart() {
    let l = layout((3, 12));
    let mut pool = SyntheticPool::new(&l, 1, 100); // 32-byte blocks
    for block in 0..90 {
        pool.object(block, 0, INT);
    }
    // Blocks 90..100 are raw allocations (zero bytes); 5, 17 and 42 were freed: their stale
    // int headers must not count.
    pool.free(&[5, 17, 42]);
    let mut tally = Tally::default();
    assert_eq!(decode(&pool, &l, 0b1111, &mut tally), PoolOutcome::Decoded);
    let per_pool = l.blocks_per_pool(32); // 510: the tail of 16384 - 48 is not a block
    assert_eq!(per_pool, 510);
    assert_eq!(tally.totals(INT_CATEGORY), totals(87, 32, 1));
    assert_eq!(tally.totals(UNIDENTIFIED), totals(10, 32, 0));
    assert_eq!(tally.totals(FREE), totals(3 + (per_pool - 100), 32, 3));
}

#[test]
fn a_block_straddling_two_pages_counts_once_for_the_page_it_starts_on() {
    let l = layout((3, 11));
    let mut pool = SyntheticPool::new(&l, 1, 510);
    for block in 0..510 {
        pool.object(block, 0, INT);
    }
    pool.free(&[]);
    // Block 126 starts at 48 + 126 * 32 = 4080 and ends on page 1.
    let mut page0 = Tally::default();
    decode(&pool, &l, 0b0001, &mut page0);
    assert_eq!(page0.totals(INT_CATEGORY), totals(127, 32, 1));
    let mut page1 = Tally::default();
    decode(&pool, &l, 0b0010, &mut page1);
    assert_eq!(page1.totals(INT_CATEGORY), totals(128, 32, 1));
    let mut all = Tally::default();
    decode(&pool, &l, 0b1111, &mut all);
    assert_eq!(all.totals(INT_CATEGORY), totals(510, 32, 4));
    assert_eq!(all.totals(FREE), CategoryTotals::default());
}

#[test]
fn objects_after_gc_headers_and_pre_headers_are_found_only_at_their_flags_offset() {
    let l = layout((3, 12));
    let mut pool = SyntheticPool::new(&l, 3, 6); // 64-byte blocks
    pool.object(0, 16, DICT) // a dict after its GC header
        .object(1, 32, RECORD) // an instance after pre-header + GC header
        .object(2, 0, DICT) // a dict's type where a non-GC object would be: wrong offset
        .object(3, 16, INT) // an int's type after a GC header: wrong offset
        .object(4, 32, DICT) // a dict's type after a pre-header: wrong offset
        .object(5, 0, 0x1234_5678); // not a type at all
    pool.free(&[]);
    let mut tally = Tally::default();
    decode(&pool, &l, 0b0001, &mut tally);
    assert_eq!(tally.totals(DICT_CATEGORY).blocks, 1);
    assert_eq!(tally.totals(RECORD_CATEGORY).blocks, 1);
    assert_eq!(tally.totals(INT_CATEGORY).blocks, 0);
    assert_eq!(tally.totals(UNIDENTIFIED).blocks, 4);

    // Before 3.11 there is no pre-header: offset 32 is never tried.
    let l310 = layout((3, 10));
    let mut tally = Tally::default();
    decode(&pool, &l310, 0b0001, &mut tally);
    assert_eq!(tally.totals(RECORD_CATEGORY).blocks, 0);
}

#[test]
fn the_page_goes_to_the_type_with_most_bytes() {
    let l = layout((3, 8)); // 4 KiB pools: one page
    let mut pool = SyntheticPool::new(&l, 3, 63); // 64-byte blocks, 63 per pool
    for block in 0..20 {
        pool.object(block, 0, INT);
    }
    for block in 20..50 {
        pool.object(block, 16, DICT);
    }
    pool.free(&[60, 61, 62]);
    let mut tally = Tally::default();
    decode(&pool, &l, 1, &mut tally);
    assert_eq!(tally.totals(DICT_CATEGORY), totals(30, 64, 1));
    assert_eq!(tally.totals(INT_CATEGORY), totals(20, 64, 0));
    assert_eq!(tally.totals(UNIDENTIFIED), totals(10, 64, 0));
    assert_eq!(tally.totals(FREE), totals(3, 64, 0));
}

#[test]
fn empty_and_full_pools_decode() {
    let l = layout((3, 13));
    // Empty: every carved block back on the chain, count 0 (a pool on an arena's free list).
    let mut empty = SyntheticPool::new(&l, 0, 40);
    empty.free(&(0..40).collect::<Vec<_>>());
    let mut tally = Tally::default();
    assert_eq!(decode(&empty, &l, 0b1111, &mut tally), PoolOutcome::Decoded);
    assert_eq!(tally.totals(FREE), totals(1021, 16, 4));

    // Full: nextoffset at the end, no free block.
    let mut full = SyntheticPool::new(&l, 0, 1021);
    for block in 0..1021 {
        full.object(block, 0, INT);
    }
    full.free(&[]);
    let mut tally = Tally::default();
    assert_eq!(decode(&full, &l, 0b1111, &mut tally), PoolOutcome::Decoded);
    assert_eq!(tally.totals(INT_CATEGORY), totals(1021, 16, 4));
}

#[test]
fn headers_that_are_not_a_live_pool_are_rejected() {
    let l = layout((3, 12));
    let good = || {
        let mut pool = SyntheticPool::new(&l, 1, 10);
        pool.free(&[3]);
        pool
    };
    assert!(parse_pool_header(&good().bytes, POOL, &l).is_some());
    type Breakage = Box<dyn Fn(&mut SyntheticPool)>;
    let broken: Vec<(&str, Breakage)> = vec![
        ("zeroed memory", Box::new(|p| p.bytes.fill(0))),
        (
            "size class 32",
            Box::new(|p| p.put_u32(pool_header::SZIDX, 32)),
        ),
        (
            "new pool",
            Box::new(|p| p.put_u32(pool_header::SZIDX, 0xffff)),
        ),
        (
            "maxnextoffset of 4 KiB pools",
            Box::new(|p| p.put_u32(pool_header::MAXNEXTOFFSET, 4096 - 32)),
        ),
        (
            "nextoffset off a block boundary",
            Box::new(|p| p.put_u32(pool_header::NEXTOFFSET, 48 + 10 * 32 + 8)),
        ),
        (
            "nextoffset past the pool",
            Box::new(|p| p.put_u32(pool_header::NEXTOFFSET, 16384 + 32)),
        ),
        (
            "nextoffset below two blocks",
            Box::new(|p| p.put_u32(pool_header::NEXTOFFSET, 48 + 32)),
        ),
        (
            "more allocated than carved",
            Box::new(|p| p.put_u32(pool_header::COUNT, 11)),
        ),
        (
            "arena index",
            Box::new(|p| p.put_u32(pool_header::ARENAINDEX, 1 << 30)),
        ),
        (
            "freeblock in another pool",
            Box::new(|p| p.put_u64(pool_header::FREEBLOCK, POOL + 16384 + 48)),
        ),
        (
            "freeblock inside a block",
            Box::new(|p| p.put_u64(pool_header::FREEBLOCK, POOL + 48 + 8)),
        ),
        (
            "freeblock beyond nextoffset",
            Box::new(|p| p.put_u64(pool_header::FREEBLOCK, POOL + 48 + 10 * 32)),
        ),
    ];
    for (what, breaks) in broken {
        let mut pool = good();
        breaks(&mut pool);
        assert_eq!(parse_pool_header(&pool.bytes, POOL, &l), None, "{what}");
        let mut tally = Tally::default();
        assert_eq!(
            decode(&pool, &l, 1, &mut tally),
            PoolOutcome::NotPool,
            "{what}"
        );
        assert_eq!(tally.totals(FREE), CategoryTotals::default());
    }
}

#[test]
fn a_free_list_that_disagrees_with_the_header_makes_the_pool_inconsistent() {
    let l = layout((3, 12));
    // The count says 9 allocated, the chain frees 2 of 10.
    let mut miscounted = SyntheticPool::new(&l, 1, 10);
    miscounted.free(&[3, 4]);
    miscounted.put_u32(pool_header::COUNT, 9);
    // A chain that loops back on itself.
    let mut looping = SyntheticPool::new(&l, 1, 10);
    looping.free(&[3, 4]);
    let block3 = looping.offset(3);
    looping.put_u64(block3, POOL + looping.offset(4) as u64);
    // A chain that runs out of the pool.
    let mut escaping = SyntheticPool::new(&l, 1, 10);
    escaping.free(&[3]);
    let block3 = escaping.offset(3);
    escaping.put_u64(block3, 0x1234_5678);
    for pool in [miscounted, looping, escaping] {
        let mut tally = Tally::default();
        assert_eq!(
            decode(&pool, &l, 0b1111, &mut tally),
            PoolOutcome::Inconsistent
        );
        assert_eq!(tally.totals(FREE), CategoryTotals::default());
    }
}

#[test]
fn unselected_pages_are_neither_decoded_nor_looked_up() {
    let l = layout((3, 12));
    let mut pool = SyntheticPool::new(&l, 1, 510);
    for block in 0..510 {
        pool.object(block, 0, 0x1000 + block * 8); // every block a different non-type
    }
    pool.free(&[]);
    let mut resolver = FakeTypes::new();
    let mut tally = Tally::default();
    decode_pool(
        &pool.bytes,
        POOL,
        0,
        4096,
        &l,
        &mut resolver,
        &mut PoolScratch::default(),
        &mut tally,
    );
    assert_eq!(resolver.lookups, 0);
    assert_eq!(tally.totals(UNIDENTIFIED), CategoryTotals::default());
}
