//! From the caller's page runs to decoded pools, streaming: pools come in address order and
//! are read in batches (the pagemap first, then the present pages of every pool whose header
//! page is present, neighbouring pools coalesced into one read), so memory stays bounded by
//! one batch whatever the number of pages.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::layout::Layout;
use super::pool::{
    MAX_PAGES_PER_POOL, PoolOutcome, PoolScratch, TypeResolver, decode_pool, parse_pool_header,
};
use super::remote::{RemoteProcess, Residence, Span};
use super::tally::Tally;

/// Pools per batch: 2 MiB of 16 KiB pools (two batches in flight: 4 MiB of memlab's memory).
/// Each batch is handed between the reading and the decoding thread; at 512 KiB the hand-overs
/// cost the census of 1 GiB about 60 ms more (examples/bench_census.rs, docs/performance.md).
const BATCH_POOLS: usize = 128;

/// CPU time of every reading thread so far, in nanoseconds: each adds its own when its scan
/// ends. The thread that takes a census sees only its own CPU time.
static READERS_CPU_NANOS: AtomicU64 = AtomicU64::new(0);

/// CPU time the censuses' reading threads have used so far in this process.
pub fn readers_cpu() -> Duration {
    Duration::from_nanos(READERS_CPU_NANOS.load(Ordering::Relaxed))
}

/// A pool the input touches: which of its pages are in the input, and their region labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolPages {
    pub pool_address: u64,
    pub page_mask: u8,
    /// Region label index of each selected page.
    pub regions: [u32; MAX_PAGES_PER_POOL],
}

impl PoolPages {
    fn pages(&self) -> u64 {
        self.page_mask.count_ones() as u64
    }

    fn selected(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MAX_PAGES_PER_POOL).filter(|page| self.page_mask & (1 << page) != 0)
    }
}

/// Turns page runs `(start, end, region)`, sorted by start, into the pools they touch, in
/// address order, one entry per pool (runs sharing a pool are merged; a page given twice
/// counts once).
pub(crate) struct PoolsOf<'a> {
    runs: &'a [(u64, u64, u32)],
    run: usize,
    cursor: u64,
    pool_size: u64,
    page_size: u64,
    pending: Option<PoolPages>,
}

impl<'a> PoolsOf<'a> {
    pub(crate) fn new(runs: &'a [(u64, u64, u32)], pool_size: u64, page_size: u64) -> Self {
        PoolsOf {
            runs,
            run: 0,
            cursor: runs.first().map_or(0, |r| r.0),
            pool_size,
            page_size,
            pending: None,
        }
    }

    /// The next piece of a run that lies inside one pool.
    fn next_piece(&mut self) -> Option<PoolPages> {
        loop {
            let &(start, end, region) = self.runs.get(self.run)?;
            let start = start & !(self.page_size - 1);
            let end = end.div_ceil(self.page_size) * self.page_size;
            self.cursor = self.cursor.max(start);
            if self.cursor >= end {
                self.run += 1;
                continue;
            }
            let pool_address = self.cursor & !(self.pool_size - 1);
            let piece_end = end.min(pool_address + self.pool_size);
            let mut piece = PoolPages {
                pool_address,
                page_mask: 0,
                regions: [0; MAX_PAGES_PER_POOL],
            };
            let first_page = ((self.cursor - pool_address) / self.page_size) as usize;
            let last_page = ((piece_end - pool_address) / self.page_size) as usize;
            for page in first_page..last_page {
                piece.page_mask |= 1 << page;
                piece.regions[page] = region;
            }
            self.cursor = piece_end;
            return Some(piece);
        }
    }
}

impl Iterator for PoolsOf<'_> {
    type Item = PoolPages;

    fn next(&mut self) -> Option<PoolPages> {
        loop {
            let Some(piece) = self.next_piece() else {
                return self.pending.take();
            };
            match &mut self.pending {
                Some(pending) if pending.pool_address == piece.pool_address => {
                    for page in piece.selected() {
                        if pending.page_mask & (1 << page) == 0 {
                            pending.regions[page] = piece.regions[page];
                        }
                    }
                    pending.page_mask |= piece.page_mask;
                }
                _ => {
                    if let Some(done) = self.pending.replace(piece) {
                        return Some(done);
                    }
                }
            }
        }
    }
}

/// A mapping of the process: its addresses and whether pymalloc could own it (private and
/// writable: arenas are anonymous private mappings, or heap memory with a custom arena
/// allocator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub range: Range<u64>,
    pub private_writable: bool,
}

/// What the reading stage decided for a pool of a batch.
enum Fate {
    NotPymalloc,
    Unreadable,
    /// Read into slot `slot` of the batch's bytes from `spans`; `candidate` indexes its
    /// pages' residences.
    Read {
        slot: usize,
        candidate: usize,
        spans: Range<usize>,
    },
}

/// One batch of pools as read: the buffers travel between the reading and decoding threads.
struct ReadBatch {
    pools: Vec<PoolPages>,
    fates: Vec<Fate>,
    residences: Vec<Residence>,
    bytes: Vec<u8>,
    readable: Vec<bool>,
}

impl ReadBatch {
    fn new(pool_size_bytes: u64) -> Self {
        ReadBatch {
            pools: Vec::with_capacity(BATCH_POOLS),
            fates: Vec::with_capacity(BATCH_POOLS),
            residences: Vec::new(),
            bytes: vec![0; BATCH_POOLS * pool_size_bytes as usize],
            readable: Vec::with_capacity(BATCH_POOLS),
        }
    }
}

/// The process's mappings and the geometry, shared by both stages.
pub(crate) struct Scanner<'a> {
    /// Every mapping of the process, sorted by address.
    pub mappings: &'a [Mapping],
    pub layout: Layout,
    pub page_size_bytes: u64,
}

impl Scanner<'_> {
    /// Reads and decodes every pool of `pools` into `tally`, reading the next batch on a
    /// second thread while this one decodes; returns the pages examined.
    pub(crate) fn scan(
        &self,
        process: &mut RemoteProcess,
        pools: impl Iterator<Item = PoolPages> + Send,
        resolver: &mut impl TypeResolver,
        tally: &mut Tally,
    ) -> u64 {
        let (full_sender, full) = mpsc::sync_channel::<ReadBatch>(1);
        let (empty_sender, empty) = mpsc::sync_channel::<ReadBatch>(2);
        for _ in 0..2 {
            empty_sender
                .send(ReadBatch::new(self.layout.pool_size_bytes))
                .expect("room for two batches");
        }
        let mut examined = 0;
        let mut scratch = PoolScratch::default();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let mut pools = pools.peekable();
                while pools.peek().is_some() {
                    let Ok(mut batch) = empty.recv() else {
                        break;
                    };
                    batch.pools.clear();
                    batch.pools.extend(pools.by_ref().take(BATCH_POOLS));
                    self.read_batch(process, &mut batch);
                    if full_sender.send(batch).is_err() {
                        break;
                    }
                }
                let cpu = crate::kernel::thread_cpu().as_nanos() as u64;
                READERS_CPU_NANOS.fetch_add(cpu, Ordering::Relaxed);
            });
            for batch in full {
                examined += batch.pools.iter().map(PoolPages::pages).sum::<u64>();
                self.decode_batch(&batch, resolver, &mut scratch, tally);
                // The reader may have finished: a batch nobody will fill is dropped.
                let _ = empty_sender.send(batch);
            }
        });
        examined
    }

    /// The mapping containing `address`, if any.
    fn mapping_of(&self, address: u64) -> Option<&Mapping> {
        let index = self.mappings.partition_point(|m| m.range.end <= address);
        self.mappings
            .get(index)
            .filter(|m| m.range.start <= address)
    }

    /// Pages of a pool that is not a pymalloc pool: counted per region, or as unreadable when
    /// no mapping holds them any more.
    fn not_pymalloc(&self, pool: &PoolPages, tally: &mut Tally) {
        for page in pool.selected() {
            let address = pool.pool_address + page as u64 * self.page_size_bytes;
            if self.mapping_of(address).is_some() {
                tally.add_not_pymalloc(pool.regions[page] as usize, 1);
            } else {
                tally.pages_unreadable += 1;
            }
        }
    }

    /// The reading stage: which pools can be pymalloc pools (inside one private writable
    /// mapping, header page present: a pool in use always has it), the pagemap of their
    /// pages, and one read of every present page, neighbours coalesced; absent pages are
    /// zeros.
    fn read_batch(&self, process: &mut RemoteProcess, batch: &mut ReadBatch) {
        let pool_size = self.layout.pool_size_bytes as usize;
        let page_size = self.page_size_bytes as usize;
        let pages_per_pool = pool_size / page_size;
        batch.fates.clear();
        batch.residences.clear();
        let mut candidates: Vec<usize> = Vec::with_capacity(batch.pools.len());
        for (index, pool) in batch.pools.iter().enumerate() {
            let inside = self.mapping_of(pool.pool_address).is_some_and(|m| {
                m.private_writable && pool.pool_address + pool_size as u64 <= m.range.end
            });
            batch.fates.push(Fate::NotPymalloc);
            if inside {
                candidates.push(index);
            }
        }
        // One pagemap read per run of adjacent candidate pools.
        let mut first = 0;
        while first < candidates.len() {
            let mut end = first + 1;
            while end < candidates.len()
                && batch.pools[candidates[end]].pool_address
                    == batch.pools[candidates[end - 1]].pool_address + pool_size as u64
            {
                end += 1;
            }
            process.residences(
                batch.pools[candidates[first]].pool_address,
                (end - first) * pages_per_pool,
                &mut batch.residences,
            );
            first = end;
        }
        let mut spans: Vec<Span> = Vec::with_capacity(candidates.len());
        let mut slots = 0;
        for (candidate, &index) in candidates.iter().enumerate() {
            let pool = &batch.pools[index];
            let pages =
                &batch.residences[candidate * pages_per_pool..(candidate + 1) * pages_per_pool];
            match pages[0] {
                Residence::Present | Residence::Exclusive => {}
                Residence::Swapped => {
                    batch.fates[index] = Fate::Unreadable;
                    continue;
                }
                Residence::Absent => continue,
            }
            let slot = slots * pool_size;
            slots += 1;
            let before = spans.len();
            let mut joins_previous = false;
            for (page, residence) in pages.iter().enumerate() {
                let offset = slot + page * page_size;
                if !residence.is_present() {
                    // Swapped pages matter only below the pool's last carved block: see
                    // `decode_batch`.
                    batch.bytes[offset..offset + page_size].fill(0);
                    continue;
                }
                let address = pool.pool_address + (page * page_size) as u64;
                let exclusive = *residence == Residence::Exclusive;
                match spans.last_mut() {
                    Some(span)
                        if span.address + span.length as u64 == address
                            && span.offset + span.length == offset
                            && span.exclusive == exclusive =>
                    {
                        span.length += page_size;
                        joins_previous |= spans.len() == before;
                    }
                    _ => spans.push(Span {
                        address,
                        length: page_size,
                        offset,
                        exclusive,
                    }),
                }
            }
            // The first span is shared with the previous pool when their reads coalesced.
            batch.fates[index] = Fate::Read {
                slot,
                candidate,
                spans: before - usize::from(joins_previous)..spans.len(),
            };
        }
        process.read_spans(&spans, &mut batch.bytes, &mut batch.readable);
    }

    /// The decoding stage.
    fn decode_batch(
        &self,
        batch: &ReadBatch,
        resolver: &mut impl TypeResolver,
        scratch: &mut PoolScratch,
        tally: &mut Tally,
    ) {
        let pool_size = self.layout.pool_size_bytes as usize;
        let page_size = self.page_size_bytes as usize;
        let pages_per_pool = pool_size / page_size;
        for (pool, fate) in batch.pools.iter().zip(&batch.fates) {
            let (slot, candidate, spans) = match fate {
                Fate::NotPymalloc => {
                    self.not_pymalloc(pool, tally);
                    continue;
                }
                Fate::Unreadable => {
                    tally.pages_unreadable += pool.pages();
                    continue;
                }
                Fate::Read {
                    slot,
                    candidate,
                    spans,
                } => (*slot, *candidate, spans.clone()),
            };
            if !batch.readable[spans].iter().all(|ok| *ok) {
                tally.pages_unreadable += pool.pages();
                continue;
            }
            let bytes = &batch.bytes[slot..slot + pool_size];
            let Some(header) = parse_pool_header(bytes, pool.pool_address, &self.layout) else {
                self.not_pymalloc(pool, tally);
                continue;
            };
            // Only pages up to the last carved block are decoded (beyond lie never-used
            // blocks): a swapped page there leaves the pool unknown.
            let extent_pages = (header.nextoffset as usize).div_ceil(page_size);
            let first_page = candidate * pages_per_pool;
            if batch.residences[first_page..first_page + extent_pages].contains(&Residence::Swapped)
            {
                tally.pages_unreadable += pool.pages();
                continue;
            }
            let outcome = decode_pool(
                bytes,
                pool.pool_address,
                pool.page_mask,
                self.page_size_bytes,
                &self.layout,
                resolver,
                scratch,
                tally,
            );
            if outcome != PoolOutcome::Decoded {
                // A consistent header with an inconsistent free list: the pool changed while
                // it was read.
                tally.pages_inconsistent += pool.pages();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(runs: &[(u64, u64, u32)], pool_size: u64) -> Vec<(u64, u8, Vec<u32>)> {
        PoolsOf::new(runs, pool_size, 4096)
            .map(|p| {
                let regions = p.selected().map(|page| p.regions[page]).collect();
                (p.pool_address, p.page_mask, regions)
            })
            .collect()
    }

    #[test]
    fn runs_become_pools_with_their_pages_and_regions() {
        let k = 4096;
        // Pages 1..6 of the 16 KiB-aligned space at 0x10000, then page 9 in another region.
        let runs = [
            (0x10000 + k, 0x10000 + 6 * k, 0),
            (0x10000 + 9 * k, 0x10000 + 10 * k, 1),
        ];
        assert_eq!(
            pools(&runs, 16 * 1024),
            vec![
                (0x10000, 0b1110, vec![0, 0, 0]),
                (0x14000, 0b0011, vec![0, 0]),
                (0x18000, 0b0010, vec![1]),
            ]
        );
        // 4 KiB pools: one page per pool.
        assert_eq!(
            pools(&[(0x10000, 0x10000 + 2 * k, 3)], 4 * 1024),
            vec![(0x10000, 1, vec![3]), (0x11000, 1, vec![3])]
        );
    }

    #[test]
    fn runs_sharing_a_pool_are_merged_and_pages_given_twice_count_once() {
        let k = 4096;
        let runs = [
            (0x20000, 0x20000 + k, 0),
            (0x20000, 0x20000 + 2 * k, 0),
            (0x20000 + 3 * k, 0x20000 + 4 * k, 2),
        ];
        assert_eq!(
            pools(&runs, 16 * 1024),
            vec![(0x20000, 0b1011, vec![0, 0, 2])]
        );
        assert!(pools(&[], 16 * 1024).is_empty());
        // Unaligned runs are widened to whole pages.
        assert_eq!(
            pools(&[(0x20010, 0x20020, 0)], 16 * 1024),
            vec![(0x20000, 0b0001, vec![0])]
        );
    }
}
