//! Recognising type objects in the measured process's memory, read from outside.
//!
//! A word is believed to point at a type only if the type object there is self-consistent: a
//! plausible reference count, `Py_TPFLAGS_READY` set, a sane `tp_basicsize`/`tp_itemsize`, a
//! readable printable `tp_name`, and a chain of `ob_type` links (type -> metatype -> ...) that
//! reaches `type` itself, the one type whose `ob_type` is itself. When the interpreter's ELF
//! exports `PyType_Type` its address pins `type` exactly; otherwise the self-typed type must
//! be named "type" and flagged `Py_TPFLAGS_TYPE_SUBCLASS`. Every metatype on the chain must
//! carry `Py_TPFLAGS_TYPE_SUBCLASS`. Results, good and bad, are cached by address.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use super::layout::{Layout, OB_TYPE_OFFSET, plausible_refcount, tpflags, type_object};
use super::pool::{ResolvedType, TypeResolver};
use super::tally::{Category, FIRST_TYPE};

/// Reads bytes of the measured process; false when any byte is unreadable.
pub(crate) trait RemoteMemory {
    fn read(&mut self, address: u64, buffer: &mut [u8]) -> bool;
}

/// Longest `tp_name` accepted (dotted names of extension types are well below).
const MAX_NAME_BYTES: usize = 256;
/// Longest metatype chain followed (type -> ABCMeta -> type is 2).
const MAX_METATYPE_DEPTH: usize = 6;
/// Rejected addresses kept before the negative cache is emptied, bounding memory.
const MAX_CACHED_REJECTIONS: usize = 1 << 16;
/// User-space addresses on x86-64 and arm64 with 48-bit virtual addresses.
const USER_ADDRESS_END: u64 = 1 << 47;

/// Multiplicative hashing for 8-byte-aligned addresses: the map is looked up once per block
/// whose type differs from the previous block's, SipHash would dominate that.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (value >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type AddressMap<V> = HashMap<u64, V, BuildHasherDefault<AddressHasher>>;

/// What a validated type object says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TypeFacts {
    flags: u64,
    name: String,
}

/// Validated types of one process, by address.
pub(crate) struct TypeTable<M: RemoteMemory> {
    memory: M,
    layout: Layout,
    /// The address of `PyType_Type` when the interpreter's ELF says it.
    type_type: Option<u64>,
    /// Readable mappings of the process, sorted: candidates elsewhere are rejected unread.
    readable: Vec<Range<u64>>,
    resolved: AddressMap<Option<ResolvedType>>,
    rejections: usize,
    /// Metatypes validated on the way (flags checked by the caller).
    facts: AddressMap<Option<TypeFacts>>,
    names: Vec<String>,
    /// Whether each named type is tracked by the garbage collector (Py_TPFLAGS_HAVE_GC).
    gc_tracked: Vec<bool>,
    /// The last address resolved and its answer (address 0 never resolves).
    last_address: u64,
    last_found: Option<ResolvedType>,
}

impl<M: RemoteMemory> TypeTable<M> {
    pub(crate) fn new(
        memory: M,
        layout: Layout,
        type_type: Option<u64>,
        mut readable: Vec<Range<u64>>,
    ) -> Self {
        readable.sort_by_key(|r| r.start);
        let mut table = TypeTable {
            memory,
            layout,
            type_type,
            readable,
            resolved: AddressMap::default(),
            rejections: 0,
            facts: AddressMap::default(),
            names: Vec::new(),
            gc_tracked: Vec::new(),
            last_address: 0,
            last_found: None,
        };
        // An exported `PyType_Type` that does not check out (a wrong load bias, say) would
        // reject every type: fall back to finding `type` by its self-reference.
        if let Some(address) = type_type
            && table.type_facts(address, 0).is_none()
        {
            table.type_type = None;
            table.facts.clear();
        }
        table
    }

    /// A category's name, and whether the garbage collector tracks its objects.
    pub(crate) fn describe(&self, category: Category) -> (String, bool) {
        let index = (category - FIRST_TYPE) as usize;
        (self.names[index].clone(), self.gc_tracked[index])
    }

    fn is_readable(&self, address: u64, length: u64) -> bool {
        let index = self.readable.partition_point(|r| r.end <= address);
        self.readable
            .get(index)
            .is_some_and(|r| r.start <= address && address + length <= r.end)
    }

    fn read_u64(bytes: &[u8], offset: usize) -> u64 {
        u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
    }

    /// Reads a NUL-terminated name of printable UTF-8 without control characters.
    fn read_name(&mut self, address: u64) -> Option<String> {
        let mut name = Vec::new();
        let mut cursor = address;
        while name.len() < MAX_NAME_BYTES {
            // Never read across a page boundary in one go: the next page may be unmapped.
            let to_page_end = 4096 - (cursor % 4096) as usize;
            let mut chunk = vec![0u8; to_page_end.min(64)];
            if !self.is_readable(cursor, chunk.len() as u64)
                || !self.memory.read(cursor, &mut chunk)
            {
                return None;
            }
            if let Some(end) = chunk.iter().position(|b| *b == 0) {
                name.extend_from_slice(&chunk[..end]);
                let name = String::from_utf8(name).ok()?;
                let printable = !name.is_empty() && !name.chars().any(char::is_control);
                return printable.then_some(name);
            }
            name.extend_from_slice(&chunk);
            cursor += chunk.len() as u64;
        }
        None
    }

    /// Facts of the type object at `address` if it is one, following its metatype chain.
    fn type_facts(&mut self, address: u64, depth: usize) -> Option<TypeFacts> {
        if let Some(known) = self.facts.get(&address) {
            return known.clone();
        }
        let facts = self.validate(address, depth);
        self.facts.insert(address, facts.clone());
        facts
    }

    fn validate(&mut self, address: u64, depth: usize) -> Option<TypeFacts> {
        let prefix = type_object::PREFIX_BYTES as u64;
        if !address.is_multiple_of(8)
            || !(4096..USER_ADDRESS_END).contains(&address)
            || !self.is_readable(address, prefix)
        {
            return None;
        }
        let mut bytes = [0u8; type_object::PREFIX_BYTES];
        if !self.memory.read(address, &mut bytes) {
            return None;
        }
        let refcount = Self::read_u64(&bytes, 0);
        let metatype = Self::read_u64(&bytes, OB_TYPE_OFFSET);
        let basicsize = Self::read_u64(&bytes, type_object::TP_BASICSIZE);
        let itemsize = Self::read_u64(&bytes, type_object::TP_ITEMSIZE);
        let flags = Self::read_u64(&bytes, type_object::TP_FLAGS);
        if !plausible_refcount(refcount)
            || flags & tpflags::READY == 0
            || !(16..1 << 24).contains(&basicsize)
            || itemsize >= 1 << 16
        {
            return None;
        }
        let name = self.read_name(Self::read_u64(&bytes, type_object::TP_NAME))?;
        let metatype_ok = if metatype == address {
            // The one self-typed type is `type`.
            flags & tpflags::TYPE_SUBCLASS != 0
                && match self.type_type {
                    Some(type_type) => address == type_type,
                    None => name == "type",
                }
        } else if depth >= MAX_METATYPE_DEPTH {
            false
        } else {
            self.type_facts(metatype, depth + 1)
                .is_some_and(|meta| meta.flags & tpflags::TYPE_SUBCLASS != 0)
        };
        metatype_ok.then_some(TypeFacts { flags, name })
    }
}

impl<M: RemoteMemory> TypeResolver for TypeTable<M> {
    /// Neighbouring blocks mostly hold one type: the last answer is checked inline first.
    #[inline]
    fn resolve(&mut self, type_address: u64) -> Option<ResolvedType> {
        if type_address == self.last_address {
            self.last_found
        } else {
            self.resolve_and_remember(type_address)
        }
    }
}

impl<M: RemoteMemory> TypeTable<M> {
    #[inline(never)]
    fn resolve_and_remember(&mut self, type_address: u64) -> Option<ResolvedType> {
        let found = match self.resolved.get(&type_address) {
            Some(found) => *found,
            None => {
                let found = self.type_facts(type_address, 0).map(|facts| {
                    self.names.push(facts.name);
                    self.gc_tracked
                        .push(facts.flags & super::layout::tpflags::HAVE_GC != 0);
                    ResolvedType {
                        category: FIRST_TYPE + self.names.len() as Category - 1,
                        header_offset: self.layout.header_offset(facts.flags) as u32,
                    }
                });
                if found.is_none() {
                    self.rejections += 1;
                    if self.rejections > MAX_CACHED_REJECTIONS {
                        self.resolved.retain(|_, found| found.is_some());
                        self.facts.retain(|_, facts| facts.is_some());
                        self.rejections = 0;
                    }
                }
                self.resolved.insert(type_address, found);
                found
            }
        };
        self.last_address = type_address;
        self.last_found = found;
        found
    }
}

#[cfg(test)]
#[path = "types_tests.rs"]
mod tests;
