//! The native scenarios: the documents' mechanisms without an interpreter.

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::rc::Rc;

use anyhow::{Context, bail};
use serde_json::json;

use super::memory::{Backing, HUGE_PAGE_BYTES, Mapping};
use super::{Facts, NativeWorkload, RegionSpec, WorkloadParams};

const PAGE: usize = 4096;

// One constructor per scenario: the scenario catalog names them.
pub fn array_read() -> Box<dyn NativeWorkload> {
    Box::new(ArrayRead::default())
}
pub fn array_write() -> Box<dyn NativeWorkload> {
    Box::new(ArrayWrite::default())
}
pub fn thp() -> Box<dyn NativeWorkload> {
    Box::new(HugePageWrite::default())
}
pub fn shared_mapping() -> Box<dyn NativeWorkload> {
    Box::new(SharedMapping::default())
}
pub fn serialized_copy() -> Box<dyn NativeWorkload> {
    Box::new(SerializedCopy::default())
}
pub fn refcount_list() -> Box<dyn NativeWorkload> {
    Box::new(RefcountObjects::list())
}
pub fn refcount_objsize() -> Box<dyn NativeWorkload> {
    Box::new(RefcountObjects::sized())
}
pub fn refcount_same() -> Box<dyn NativeWorkload> {
    Box::new(RefcountSame::default())
}

fn data_mapping(params: &WorkloadParams, backing: Backing) -> anyhow::Result<Mapping> {
    let mut mapping = Mapping::new(params.size_bytes as usize, backing)
        .with_context(|| format!("mapping {} bytes", params.size_bytes))?;
    // Like np.ones: every page resident and non-zero before the fork.
    mapping.fill(0x0101_0101_0101_0101);
    Ok(mapping)
}

fn data_region(mapping: &Mapping) -> Vec<RegionSpec> {
    vec![RegionSpec {
        name: "data",
        start: mapping.start_address(),
        end: mapping.end_address(),
    }]
}

/// Children sum the whole array: reading never copies.
#[derive(Default)]
struct ArrayRead {
    data: Option<Mapping>,
}

impl NativeWorkload for ArrayRead {
    fn allocate(&mut self, params: &WorkloadParams) -> anyhow::Result<Vec<RegionSpec>> {
        let data = self
            .data
            .insert(data_mapping(params, Backing::PrivateSmallPages)?);
        Ok(data_region(data))
    }

    fn child_operation(&self, _index: usize, _from_parent: &mut File) {
        let words = self.data.as_ref().expect("allocated").as_words();
        let sum = words.iter().fold(0u64, |acc, w| acc.wrapping_add(*w));
        black_box(sum);
    }
}

/// Children write one byte into exactly `fraction` of the pages, spread evenly.
#[derive(Default)]
struct ArrayWrite {
    data: Option<Mapping>,
    pages_to_write: Vec<usize>,
}

/// The evenly spread page indexes a child writes: `round(fraction × pages)` distinct pages.
pub fn pages_to_write(total_pages: usize, fraction: f64) -> Vec<usize> {
    let count = ((total_pages as f64) * fraction).round() as usize;
    let count = count.min(total_pages);
    (0..count).map(|j| j * total_pages / count).collect()
}

impl NativeWorkload for ArrayWrite {
    fn allocate(&mut self, params: &WorkloadParams) -> anyhow::Result<Vec<RegionSpec>> {
        let fraction = params.fraction.unwrap_or(0.25);
        let data = self
            .data
            .insert(data_mapping(params, Backing::PrivateSmallPages)?);
        self.pages_to_write = pages_to_write(data.len() / PAGE, fraction);
        Ok(data_region(data))
    }

    fn facts_before_fork(&self) -> Facts {
        vec![("expected_copied_pages", json!(self.pages_to_write.len()))]
    }

    fn child_operation(&self, index: usize, _from_parent: &mut File) {
        let base = self.data.as_ref().expect("allocated").start_address() as *mut u8;
        for page in &self.pages_to_write {
            // SAFETY: every index is inside the mapping; the child owns its copy.
            unsafe { base.add(page * PAGE).write_volatile(index as u8 + 2) };
        }
    }
}

/// Data in transparent huge pages; children write one byte per 2 MiB.
#[derive(Default)]
struct HugePageWrite {
    data: Option<Mapping>,
}

impl NativeWorkload for HugePageWrite {
    fn allocate(&mut self, params: &WorkloadParams) -> anyhow::Result<Vec<RegionSpec>> {
        let size = (params.size_bytes as usize).next_multiple_of(HUGE_PAGE_BYTES);
        let mut data = Mapping::new(size, Backing::PrivateHugePages).context("mapping THP data")?;
        data.fill(0x0101_0101_0101_0101);
        Ok(data_region(self.data.insert(data)))
    }

    fn facts_before_fork(&self) -> Facts {
        let huge_pages = self.data.as_ref().expect("allocated").len() / HUGE_PAGE_BYTES;
        vec![
            ("huge_pages_touched", json!(huge_pages)),
            ("expected_copied_pages", json!(huge_pages)),
        ]
    }

    fn child_operation(&self, _index: usize, _from_parent: &mut File) {
        let data = self.data.as_ref().expect("allocated");
        let base = data.start_address() as *mut u8;
        for offset in (0..data.len()).step_by(HUGE_PAGE_BYTES) {
            unsafe { base.add(offset).write_volatile(7) };
        }
    }
}

/// MAP_SHARED memory: each child stamps its own slice; the parent must see every stamp.
#[derive(Default)]
struct SharedMapping {
    data: Option<Mapping>,
    children: usize,
}

impl SharedMapping {
    fn slice_pages(&self, index: usize) -> std::ops::Range<usize> {
        let pages = self.data.as_ref().expect("allocated").len() / PAGE;
        (index * pages / self.children)..((index + 1) * pages / self.children)
    }

    fn stamp(index: usize) -> u64 {
        0x5eed_0000_0000_0000 | (index as u64 + 1)
    }
}

impl NativeWorkload for SharedMapping {
    fn allocate(&mut self, params: &WorkloadParams) -> anyhow::Result<Vec<RegionSpec>> {
        self.children = params.children;
        let data = self.data.insert(data_mapping(params, Backing::Shared)?);
        Ok(data_region(data))
    }

    fn child_operation(&self, index: usize, _from_parent: &mut File) {
        let base = self.data.as_ref().expect("allocated").start_address() as *mut u64;
        for page in self.slice_pages(index) {
            unsafe { base.add(page * PAGE / 8).write_volatile(Self::stamp(index)) };
        }
    }

    fn facts_after_operation(&self) -> Facts {
        let words = self.data.as_ref().expect("allocated").as_words();
        let mut pages_checked = 0usize;
        let mut pages_with_child_write = 0usize;
        for index in 0..self.children {
            for page in self.slice_pages(index) {
                pages_checked += 1;
                if words[page * PAGE / 8] == Self::stamp(index) {
                    pages_with_child_write += 1;
                }
            }
        }
        vec![
            ("pages_checked_by_parent", json!(pages_checked)),
            ("pages_showing_child_writes", json!(pages_with_child_write)),
            (
                "writes_visible_to_parent",
                json!(pages_checked > 0 && pages_checked == pages_with_child_write),
            ),
        ]
    }
}

/// The parent sends its data to every child through a pipe, as `Pool.map` pickles `self`:
/// each child rebuilds a private copy.
#[derive(Default)]
struct SerializedCopy {
    data: Option<Mapping>,
}

impl NativeWorkload for SerializedCopy {
    fn allocate(&mut self, params: &WorkloadParams) -> anyhow::Result<Vec<RegionSpec>> {
        let data = self
            .data
            .insert(data_mapping(params, Backing::PrivateSmallPages)?);
        Ok(data_region(data))
    }

    fn child_operation(&self, _index: usize, from_parent: &mut File) {
        let len = self.data.as_ref().expect("allocated").len();
        // The child's own copy, like an unpickled object: fresh memory, filled from the pipe.
        let mut copy = vec![0u8; len];
        if from_parent.read_exact(&mut copy).is_err() {
            unsafe { libc::_exit(3) };
        }
        // Keep it alive (and resident) until the child is released.
        std::mem::forget(black_box(copy));
    }

    fn feed(&self, _index: usize, to_child: &mut File) -> std::io::Result<()> {
        to_child.write_all(self.data.as_ref().expect("allocated").as_slice())
    }
}

/// Many small reference-counted objects behind a pointer array. `--op clone` clones each
/// (the refcount write dirties the object's page); `--op read` only reads through it.
struct RefcountObjects {
    default_object_bytes: u64,
    objects: Vec<Rc<[u8]>>,
    /// Distinct pages holding the refcount of a declared object.
    header_pages: usize,
    /// Objects malloc placed in memory that was in use before (holes left by start-up): not
    /// declared, since the parent's own allocations keep writing those pages.
    objects_outside_region: usize,
    /// Keeps the parent's later allocations off the last object's page.
    fence: Vec<u8>,
    op: String,
}

/// The bytes an `Rc<[u8]>` keeps before its value: the strong and weak counts.
const RC_HEADER_BYTES: usize = 2 * std::mem::size_of::<usize>();

impl RefcountObjects {
    fn list() -> Self {
        // 8 payload bytes + 16 header = 24, a 32-byte malloc chunk: a small Python int's size.
        RefcountObjects {
            default_object_bytes: 8,
            objects: Vec::new(),
            header_pages: 0,
            objects_outside_region: 0,
            fence: Vec::new(),
            op: "clone".into(),
        }
    }

    fn sized() -> Self {
        RefcountObjects {
            default_object_bytes: 4096,
            ..Self::list()
        }
    }

    fn header_address(object: &Rc<[u8]>) -> usize {
        Rc::as_ptr(object) as *const u8 as usize - RC_HEADER_BYTES
    }
}

impl NativeWorkload for RefcountObjects {
    fn allocate(&mut self, params: &WorkloadParams) -> anyhow::Result<Vec<RegionSpec>> {
        self.op = params.op.clone().unwrap_or_else(|| "clone".into());
        if self.op != "clone" && self.op != "read" {
            bail!("unknown op '{}' (clone or read)", self.op);
        }
        let object_bytes = params
            .object_size_bytes
            .unwrap_or(self.default_object_bytes)
            .max(1) as usize;
        // Each object costs its payload, its header and malloc's word (rounded to malloc's
        // 16-byte chunks), plus its (fat) pointer in the list.
        let footprint = (object_bytes + RC_HEADER_BYTES + 8).next_multiple_of(16)
            + std::mem::size_of::<Rc<[u8]>>();
        let count = (params.size_bytes as usize / footprint).max(1);
        let template = vec![1u8; object_bytes];
        // The pointer array must not share a page with any object, or the regions blur: fix
        // glibc's mmap threshold (it otherwise moves as memory is freed) and make the array
        // larger than it, so the array gets a mapping of its own, away from the heap objects.
        const MMAP_THRESHOLD_BYTES: usize = 128 * 1024;
        // SAFETY: mallopt only changes allocator tuning.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES as libc::c_int) };
        let min_entries = 2 * MMAP_THRESHOLD_BYTES / std::mem::size_of::<Rc<[u8]>>();
        self.objects = Vec::with_capacity(count.max(min_entries));
        // Memory below the program break is malloc's bookkeeping and start-up's leftovers, which
        // the parent keeps writing after the fork: only objects placed beyond it are declared.
        // SAFETY: sbrk(0) only reads the current break.
        let break_before = unsafe { libc::sbrk(0) } as usize;
        for _ in 0..count {
            self.objects.push(Rc::from(&template[..]));
        }
        self.fence = vec![0u8; 2 * PAGE];
        drop(template);
        let mut headers: Vec<usize> = self.objects.iter().map(Self::header_address).collect();
        // Too few objects to reach past the old break: declare them all, best effort.
        let threshold = if headers.iter().any(|h| *h >= break_before) {
            break_before
        } else {
            0
        };
        let declared = |header: &usize| *header >= threshold;
        self.objects_outside_region = headers.iter().filter(|h| !declared(h)).count();
        headers.retain(declared);
        // Ground truth: the distinct pages holding a refcount are the pages a clone dirties.
        let mut pages: Vec<usize> = headers.iter().map(|h| h / PAGE).collect();
        pages.sort_unstable();
        pages.dedup();
        self.header_pages = pages.len();
        drop(pages);

        let pointers_start = self.objects.as_ptr() as u64;
        let pointers_end =
            pointers_start + (self.objects.capacity() * std::mem::size_of::<Rc<[u8]>>()) as u64;
        let first = headers.iter().copied().min().unwrap_or(0) as u64;
        let last = headers.iter().copied().max().unwrap_or(0) as u64;
        Ok(vec![
            RegionSpec {
                name: "pointers",
                start: pointers_start,
                end: pointers_end,
            },
            RegionSpec {
                name: "objects",
                start: first,
                end: last + (RC_HEADER_BYTES + object_bytes) as u64,
            },
        ])
    }

    fn facts_before_fork(&self) -> Facts {
        let expected = if self.op == "clone" {
            self.header_pages
        } else {
            0
        };
        vec![
            ("object_count", json!(self.objects.len())),
            ("object_pages_with_refcount", json!(self.header_pages)),
            ("objects_outside_region", json!(self.objects_outside_region)),
            ("expected_copied_pages", json!(expected)),
        ]
    }

    fn child_operation(&self, _index: usize, _from_parent: &mut File) {
        if self.op == "clone" {
            // Like CPython's `for x in data`: take a reference, drop it.
            for object in &self.objects {
                let reference = Rc::clone(object);
                black_box(&reference);
            }
        } else {
            let mut sum = 0u64;
            for object in &self.objects {
                sum = sum.wrapping_add(u64::from(object[0]));
            }
            black_box(sum);
        }
    }
}

/// N references to one object (`[1] * N`): cloning them writes one refcount, one page.
#[derive(Default)]
struct RefcountSame {
    references: Vec<Rc<u64>>,
}

impl NativeWorkload for RefcountSame {
    fn allocate(&mut self, params: &WorkloadParams) -> anyhow::Result<Vec<RegionSpec>> {
        let count = (params.size_bytes as usize / std::mem::size_of::<Rc<u64>>()).max(1);
        let one = Rc::new(1u64);
        self.references = vec![one; count];
        let start = self.references.as_ptr() as u64;
        let end = start + (count * std::mem::size_of::<Rc<u64>>()) as u64;
        Ok(vec![RegionSpec {
            name: "references",
            start,
            end,
        }])
    }

    fn facts_before_fork(&self) -> Facts {
        vec![
            ("reference_count", json!(self.references.len())),
            ("expected_copied_pages", json!(1)),
        ]
    }

    fn child_operation(&self, _index: usize, _from_parent: &mut File) {
        for reference in &self.references {
            let extra = Rc::clone(reference);
            black_box(&extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pages_to_write;

    #[test]
    fn writes_exactly_the_requested_fraction_of_distinct_pages() {
        for (pages, fraction, expected) in [
            (16384, 0.25, 4096),
            (1000, 0.5, 500),
            (10, 1.0, 10),
            (10, 0.0, 0),
            (3, 0.5, 2),
        ] {
            let chosen = pages_to_write(pages, fraction);
            assert_eq!(chosen.len(), expected);
            let mut distinct = chosen.clone();
            distinct.dedup();
            assert_eq!(
                distinct.len(),
                expected,
                "indexes are increasing and distinct"
            );
            assert!(chosen.iter().all(|p| *p < pages));
        }
    }
}
