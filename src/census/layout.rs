//! The CPython memory layouts the census decodes, per version (64-bit Linux, default GIL
//! builds). Every constant says where in CPython's sources it comes from.

/// pymalloc's `ALIGNMENT` on 64-bit builds, also the spacing of its size classes:
/// `#if SIZEOF_VOID_P > 4 / #define ALIGNMENT 16` in Objects/obmalloc.c (3.8 – 3.11) and
/// Include/internal/pycore_obmalloc.h (3.12+). Block size of class `szidx` is
/// `INDEX2SIZE(szidx) = (szidx + 1) << ALIGNMENT_SHIFT`.
pub(crate) const ALIGNMENT_BYTES: u64 = 16;

/// `NB_SMALL_SIZE_CLASSES = SMALL_REQUEST_THRESHOLD (512) / ALIGNMENT`.
pub(crate) const SIZE_CLASSES: u64 = 32;

/// `POOL_OVERHEAD = _Py_SIZE_ROUND_UP(sizeof(struct pool_header), ALIGNMENT)`: the header is
/// `union { block *_padding; uint count; } ref; block *freeblock; struct pool_header *nextpool,
/// *prevpool; uint arenaindex, szidx, nextoffset, maxnextoffset;` = 48 bytes on 64-bit.
pub(crate) const POOL_OVERHEAD_BYTES: u64 = 48;

/// Byte offsets inside `struct pool_header` (same in every version 3.8 – 3.14).
pub(crate) mod pool_header {
    pub const COUNT: usize = 0; // uint (low half of the 8-byte union)
    pub const FREEBLOCK: usize = 8;
    pub const ARENAINDEX: usize = 32;
    pub const SZIDX: usize = 36;
    pub const NEXTOFFSET: usize = 40;
    pub const MAXNEXTOFFSET: usize = 44;
}

/// `PyGC_Head` is two `uintptr_t` (`_gc_next`, `_gc_prev`) from 3.8 on (bpo-33597 shrank it
/// from three words): Include/cpython/objimpl.h in 3.8, Include/internal/pycore_gc.h later.
pub(crate) const GC_HEAD_BYTES: u64 = 16;

/// The pre-header before the GC header of types with a managed dict (3.11) or a managed dict
/// or weakref list (3.12+): `2 * sizeof(PyObject *)` in `_PyType_PreHeaderSize`,
/// Include/internal/pycore_object.h.
pub(crate) const PREHEADER_BYTES: u64 = 16;

/// `PyObject`: `ob_refcnt` (8 bytes; from 3.12 a union whose low 32 bits are the count, 3.14
/// adds `ob_overflow`/`ob_flags` in the high half) then `ob_type`.
pub(crate) const OB_TYPE_OFFSET: usize = 8;

/// `struct _typeobject` (Include/cpython/object.h, unchanged in this prefix from 3.8 to 3.14):
/// `PyObject_VAR_HEAD` (24 bytes), `tp_name`, `tp_basicsize`, `tp_itemsize`, 14 pointer-sized
/// slots, then `unsigned long tp_flags`. Checked on 3.8 – 3.13 with ctypes against
/// `type.__flags__` and `type.__basicsize__`.
pub(crate) mod type_object {
    pub const TP_NAME: usize = 24;
    pub const TP_BASICSIZE: usize = 32;
    pub const TP_ITEMSIZE: usize = 40;
    pub const TP_FLAGS: usize = 168;
    /// Bytes to read to see every field above.
    pub const PREFIX_BYTES: usize = 176;
}

/// Type flags, Include/object.h.
pub(crate) mod tpflags {
    /// 3.12+: `Py_TPFLAGS_MANAGED_WEAKREF (1 << 3)`.
    pub const MANAGED_WEAKREF: u64 = 1 << 3;
    /// 3.11+: `Py_TPFLAGS_MANAGED_DICT (1 << 4)`.
    pub const MANAGED_DICT: u64 = 1 << 4;
    pub const READY: u64 = 1 << 12;
    pub const HAVE_GC: u64 = 1 << 14;
    pub const TYPE_SUBCLASS: u64 = 1 << 31;
}

/// What the census needs to know that differs between CPython versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// 4 KiB pools (`POOL_SIZE = SYSTEM_PAGE_SIZE`) up to 3.9; from 3.10 the radix-tree build
    /// (`WITH_PYMALLOC_RADIX_TREE`, the default) uses `POOL_BITS 14` = 16 KiB pools and
    /// 1 MiB arenas on 64-bit (`USE_LARGE_POOLS`, `USE_LARGE_ARENAS`).
    pub pool_size_bytes: u64,
    /// Type flags that put a [`PREHEADER_BYTES`] pre-header in front of an object: none before
    /// 3.11; `MANAGED_DICT` in 3.11 (`_PyType_PreHeaderSize = is_gc * sizeof(PyGC_Head) +
    /// HasFeature(MANAGED_DICT) * 2 * sizeof(PyObject *)`); `Py_TPFLAGS_PREHEADER =
    /// MANAGED_WEAKREF | MANAGED_DICT` from 3.12 (3.13 and 3.14 keep that formula for
    /// builds without `Py_GIL_DISABLED`).
    pub preheader_flags: u64,
}

/// The oldest and newest CPython the census decodes.
pub(crate) const OLDEST: (u32, u32) = (3, 8);
pub(crate) const NEWEST: (u32, u32) = (3, 14);

impl Layout {
    /// The layout of CPython `major.minor`, or None outside 3.8 – 3.14.
    pub(crate) fn for_version(version: (u32, u32)) -> Option<Layout> {
        if version < OLDEST || version > NEWEST {
            return None;
        }
        let pool_size_bytes = if version < (3, 10) { 4 << 10 } else { 16 << 10 };
        let preheader_flags = match version {
            (3, 8..=10) => 0,
            (3, 11) => tpflags::MANAGED_DICT,
            _ => tpflags::MANAGED_DICT | tpflags::MANAGED_WEAKREF,
        };
        Some(Layout {
            pool_size_bytes,
            preheader_flags,
        })
    }

    /// Where an object of a type with `tp_flags` starts inside its pymalloc block:
    /// after the pre-header, if any, and the GC header, if the type is GC-tracked.
    pub(crate) fn header_offset(&self, tp_flags: u64) -> u64 {
        let gc = if tp_flags & tpflags::HAVE_GC != 0 {
            GC_HEAD_BYTES
        } else {
            0
        };
        let pre = if tp_flags & self.preheader_flags != 0 {
            PREHEADER_BYTES
        } else {
            0
        };
        gc + pre
    }

    /// The largest offset [`Layout::header_offset`] can return.
    pub(crate) fn max_header_offset(&self) -> u64 {
        GC_HEAD_BYTES
            + if self.preheader_flags != 0 {
                PREHEADER_BYTES
            } else {
                0
            }
    }

    /// Blocks a pool of this layout holds for blocks of `block_size_bytes`
    /// (`NUMBLOCKS` in obmalloc).
    pub(crate) fn blocks_per_pool(&self, block_size_bytes: u64) -> u64 {
        (self.pool_size_bytes - POOL_OVERHEAD_BYTES) / block_size_bytes
    }
}

/// True when a reference-count word looks like a live object's: at least 1 and far below any
/// pointer value. Only the low 48 bits count: 3.14 keeps `ob_flags` in the top 16 bits.
/// Immortal objects (3.12+: `0xFFFFFFFF` low half in 3.12, `3 << 30` in 3.14) pass.
pub(crate) fn plausible_refcount(word: u64) -> bool {
    let count = word & ((1 << 48) - 1);
    (1..(1 << 40)).contains(&count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_grow_to_16_kib_in_3_10_and_preheaders_appear_in_3_11() {
        assert_eq!(Layout::for_version((3, 7)), None);
        assert_eq!(Layout::for_version((3, 15)), None);
        assert_eq!(Layout::for_version((2, 7)), None);
        let l38 = Layout::for_version((3, 8)).unwrap();
        let l39 = Layout::for_version((3, 9)).unwrap();
        let l310 = Layout::for_version((3, 10)).unwrap();
        let l311 = Layout::for_version((3, 11)).unwrap();
        let l314 = Layout::for_version((3, 14)).unwrap();
        assert_eq!(l38.pool_size_bytes, 4096);
        assert_eq!(l39.pool_size_bytes, 4096);
        assert_eq!(l310.pool_size_bytes, 16384);
        assert_eq!(l314.pool_size_bytes, 16384);
        assert_eq!(l310.preheader_flags, 0);
        assert_eq!(l311.preheader_flags, tpflags::MANAGED_DICT);
        assert_eq!(l314.preheader_flags, 0x18);
    }

    #[test]
    fn header_offsets_follow_the_type_flags() {
        // Flags of `int`, `dict` and a plain class on 3.12.1 (type.__flags__).
        let l312 = Layout::for_version((3, 12)).unwrap();
        assert_eq!(l312.header_offset(0x1481502), 0);
        assert_eq!(l312.header_offset(0x20485542), 16);
        assert_eq!(l312.header_offset(0x5618), 32);
        // The same plain class on 3.10 has no pre-header; on 3.11 (0x5610) it does.
        let l310 = Layout::for_version((3, 10)).unwrap();
        assert_eq!(l310.header_offset(0x5600), 16);
        let l311 = Layout::for_version((3, 11)).unwrap();
        assert_eq!(l311.header_offset(0x5610), 32);
        // A class with __slots__ has no managed dict: no pre-header on 3.11.
        assert_eq!(l311.header_offset(0x5600), 16);
        assert_eq!(l310.max_header_offset(), 16);
        assert_eq!(l311.max_header_offset(), 32);
    }

    #[test]
    fn blocks_per_pool_matches_numblocks() {
        let l38 = Layout::for_version((3, 8)).unwrap();
        assert_eq!(l38.blocks_per_pool(32), (4096 - 48) / 32);
        let l313 = Layout::for_version((3, 13)).unwrap();
        assert_eq!(l313.blocks_per_pool(16), 1021);
        assert_eq!(l313.blocks_per_pool(512), 31);
    }

    #[test]
    fn refcounts_are_told_from_pointers() {
        assert!(plausible_refcount(1));
        assert!(plausible_refcount(0xFFFF_FFFF)); // 3.12 immortal
        assert!(plausible_refcount(0x0001_0000_C000_0000)); // 3.14: ob_flags set, immortal
        assert!(!plausible_refcount(0));
        assert!(!plausible_refcount(0x5555_5555_8000)); // a heap pointer
        assert!(!plausible_refcount(0x7f12_3456_7000)); // an mmap pointer
    }
}
