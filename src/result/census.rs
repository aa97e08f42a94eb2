//! The Python-object census as stored in results (`page_truth.python_types`): which objects lie
//! on the pages a child copied, or on its child-only pages. Taken by the census engine (src/census/).

use serde::{Deserialize, Serialize};

/// A region's name: "heap", "anon", "stack", a file name, a declared region...
pub type RegionLabel = String;

/// Free pymalloc blocks: on a pool's free list, or never handed out.
pub const FREE_TYPE: &str = "<free>";
/// Pages outside every pymalloc pool: objects over 512 bytes, list item arrays, numpy
/// buffers, the interpreter's own data.
pub const NOT_PYMALLOC_TYPE: &str = "<not pymalloc>";
/// Used pymalloc blocks without a recognisable object header: raw allocations (dict key
/// tables, small list item arrays, interpreter buffers) and objects parked on an
/// interpreter free list.
pub const UNIDENTIFIED_TYPE: &str = "<unidentified>";

/// Objects of one type on the examined pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCount {
    /// `tp_name` ("int", "dict", a class name such as "Record", "numpy.ndarray"), or one of
    /// [`FREE_TYPE`], [`UNIDENTIFIED_TYPE`], [`NOT_PYMALLOC_TYPE`].
    #[serde(rename = "type")]
    pub type_name: String,
    /// Objects of this type are tracked by the garbage collector (they carry a GC header a
    /// collection writes): containers, instances of classes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gc_tracked: bool,
    /// pymalloc blocks holding this type (for "<free>" and "<unidentified>": blocks); 0 for
    /// "<not pymalloc>".
    pub objects: u64,
    /// Those blocks' size in bytes (the pymalloc size class, not the object's own size);
    /// for "<not pymalloc>", its pages' bytes.
    pub bytes: u64,
    /// Examined pages on which this type holds the most bytes.
    pub pages: u64,
}

/// Pages outside pymalloc in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionPages {
    pub region: RegionLabel,
    pub pages: u64,
    pub bytes: u64,
}

/// What lies on the examined pages of one process.
///
/// A block belongs to the page holding its first byte and is counted there only, so a block
/// straddling two pages of a pool is never counted twice. Pages add up:
/// `pages_examined = Σ types[].pages + pages_unreadable + pages_inconsistent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonCensus {
    /// "CPython 3.11.7" ("CPython 3.10" where the build does not export its patch level).
    pub interpreter: String,
    pub pool_size_bytes: u64,
    /// Sorted by bytes, largest first; always holds the "<free>", "<unidentified>" and
    /// "<not pymalloc>" entries.
    pub types: Vec<TypeCount>,
    /// The "<not pymalloc>" pages by region, most pages first.
    pub not_pymalloc_regions: Vec<RegionPages>,
    /// Distinct pages given.
    pub pages_examined: u64,
    /// Pages that could not be read (unmapped since).
    pub pages_unreadable: u64,
    /// Pages of pools that changed while being read (a running process).
    pub pages_inconsistent: u64,
}

impl PythonCensus {
    /// The entry of `type_name`, if any.
    pub fn get(&self, type_name: &str) -> Option<&TypeCount> {
        self.types.iter().find(|t| t.type_name == type_name)
    }

    /// Objects of `type_name` (0 when absent).
    pub fn objects(&self, type_name: &str) -> u64 {
        self.get(type_name).map_or(0, |t| t.objects)
    }
}

impl TypeCount {
    /// One of the three entries that are not a Python type (free, unidentified, not pymalloc).
    pub fn is_special(&self) -> bool {
        self.type_name.starts_with('<')
    }
}

/// A child's census at one phase, stored beside its page truth (`page_truth.python_types`…).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildCensus {
    /// The interpreter decoded: "CPython 3.11.7".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_interpreter: Option<String>,
    /// The Python objects on the pages the child copied, largest bytes first, with the
    /// "<free>", "<unidentified>" and "<not pymalloc>" entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_types: Option<Vec<TypeCount>>,
    /// The same for the pages only the child has (what it built or received after fork).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_types_child_only: Option<Vec<TypeCount>>,
    /// The copied pages outside pymalloc, by region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub python_not_pymalloc_regions: Vec<RegionPages>,
    /// The census of the copied pages of each declared region on its own (a part of
    /// `python_types`): what the workload's own data holds, apart from the interpreter's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub python_types_by_region: Vec<RegionTypes>,
    /// Why there is no census: not a decodable CPython, no permission, the child exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_types_note: Option<String>,
}

/// The census of one declared region's copied pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionTypes {
    pub region: RegionLabel,
    pub types: Vec<TypeCount>,
}

/// Adds `more` into `into`, type by type (same name: counts summed), keeping the order
/// largest bytes first.
pub fn merge_types(into: &mut Vec<TypeCount>, more: &[TypeCount]) {
    for entry in more {
        match into.iter_mut().find(|t| t.type_name == entry.type_name) {
            Some(existing) => {
                existing.objects += entry.objects;
                existing.bytes += entry.bytes;
                existing.pages += entry.pages;
                existing.gc_tracked |= entry.gc_tracked;
            }
            None => into.push(entry.clone()),
        }
    }
    into.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| a.type_name.cmp(&b.type_name))
    });
}

impl ChildCensus {
    /// The census of declared region `region`, if it was taken.
    pub fn region(&self, region: &str) -> Option<&[TypeCount]> {
        self.python_types_by_region
            .iter()
            .find(|r| r.region == region)
            .map(|r| r.types.as_slice())
    }

    /// A census that could not be taken, and why.
    pub fn skipped(reason: impl Into<String>) -> Self {
        ChildCensus {
            python_types_note: Some(reason.into()),
            ..ChildCensus::default()
        }
    }
}
