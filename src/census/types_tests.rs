use std::collections::BTreeMap;

use super::*;

/// A process's memory made of a few byte regions; counts reads.
#[derive(Default)]
struct FakeMemory {
    regions: BTreeMap<u64, Vec<u8>>,
    reads: usize,
}

impl FakeMemory {
    fn put(&mut self, address: u64, bytes: Vec<u8>) {
        self.regions.insert(address, bytes);
    }
}

impl RemoteMemory for FakeMemory {
    fn read(&mut self, address: u64, buffer: &mut [u8]) -> bool {
        self.reads += 1;
        let Some((start, bytes)) = self.regions.range(..=address).next_back() else {
            return false;
        };
        let offset = (address - start) as usize;
        match bytes.get(offset..offset + buffer.len()) {
            Some(source) => {
                buffer.copy_from_slice(source);
                true
            }
            None => false,
        }
    }
}

const TYPE: u64 = 0x10_0000;
const INT: u64 = 0x10_1000;
const ABCMETA: u64 = 0x10_2000;
const RECORD: u64 = 0x10_3000;
const NAMES: u64 = 0x20_0000;
const READY: u64 = tpflags::READY;

/// Memory holding `type`, `int`, the metaclass `ABCMeta` and `Record` (an instance of
/// ABCMeta with a managed dict), plus `bogus` type objects: (address, metatype, name, flags).
fn memory(bogus: &[(u64, u64, &str, u64)]) -> FakeMemory {
    let mut memory = FakeMemory::default();
    let mut names = Vec::new();
    let mut type_object = |memory: &mut FakeMemory, address, metatype, name: &str, flags| {
        let name_address = NAMES + names.len() as u64;
        names.extend_from_slice(name.as_bytes());
        names.push(0);
        let mut bytes = vec![0u8; type_object::PREFIX_BYTES];
        bytes[0..8].copy_from_slice(&7u64.to_le_bytes());
        bytes[8..16].copy_from_slice(&u64::to_le_bytes(metatype));
        bytes[24..32].copy_from_slice(&name_address.to_le_bytes());
        bytes[32..40].copy_from_slice(&48u64.to_le_bytes());
        bytes[168..176].copy_from_slice(&u64::to_le_bytes(flags));
        memory.put(address, bytes);
    };
    let meta = READY | tpflags::TYPE_SUBCLASS | tpflags::HAVE_GC;
    type_object(&mut memory, TYPE, TYPE, "type", meta);
    type_object(&mut memory, INT, TYPE, "int", READY | 1 << 24);
    type_object(&mut memory, ABCMETA, TYPE, "ABCMeta", meta | 1 << 9);
    let record_flags = READY | tpflags::HAVE_GC | tpflags::MANAGED_DICT;
    type_object(&mut memory, RECORD, ABCMETA, "Record", record_flags);
    for (address, metatype, name, flags) in bogus {
        type_object(&mut memory, *address, *metatype, name, *flags);
    }
    names.resize(4096, 0); // a page of strings, as in a real mapping
    memory.put(NAMES, names);
    memory
}

fn table(memory: FakeMemory, type_type: Option<u64>) -> TypeTable<FakeMemory> {
    TypeTable::new(
        memory,
        Layout::for_version((3, 12)).unwrap(),
        type_type,
        std::iter::once(0x10_0000..0x30_0000).collect(),
    )
}

#[test]
fn types_are_validated_through_their_metatype_chain_and_named() {
    let mut types = table(memory(&[]), Some(TYPE));
    let int = types.resolve(INT).unwrap();
    assert_eq!(int.header_offset, 0);
    assert_eq!(types.describe(int.category), ("int".to_string(), false));
    let record = types.resolve(RECORD).unwrap();
    assert_eq!(
        record.header_offset, 32,
        "GC header + managed-dict pre-header"
    );
    assert_eq!(
        types.describe(record.category),
        ("Record".to_string(), true)
    );
    assert_ne!(int.category, record.category);
    let meta = types.resolve(ABCMETA).unwrap();
    assert_eq!(types.describe(meta.category).0, "ABCMeta");
    assert_eq!(meta.header_offset, 16);
}

#[test]
fn a_type_is_read_once_then_served_from_the_cache() {
    let mut types = table(memory(&[]), Some(TYPE));
    let first = types.resolve(INT);
    let reads = types.memory.reads;
    for _ in 0..1000 {
        assert_eq!(types.resolve(INT), first);
        assert_eq!(types.resolve(RECORD).unwrap().header_offset, 32);
    }
    assert_eq!(
        types.memory.reads,
        reads + 4,
        "Record, its metaclass ABCMeta and their names, once"
    );
}

#[test]
fn things_that_only_look_like_types_are_rejected() {
    const NOT_META: u64 = 0x10_4000;
    const FAKE_TYPE: u64 = 0x10_5000;
    const CONTROL: u64 = 0x10_6000;
    const UNREADY: u64 = 0x10_7000;
    const LOOP_A: u64 = 0x10_8000;
    const LOOP_B: u64 = 0x10_9000;
    let meta = READY | tpflags::TYPE_SUBCLASS;
    let bogus = memory(&[
        (NOT_META, INT, "fake", READY), // its "metatype" int is no metatype
        (FAKE_TYPE, FAKE_TYPE, "type", meta), // a second self-typed "type"
        (CONTROL, TYPE, "bad\nname", READY),
        (UNREADY, TYPE, "unready", 0),
        (LOOP_A, LOOP_B, "a", meta), // metatypes of each other, never reaching type
        (LOOP_B, LOOP_A, "b", meta),
    ]);
    let mut types = table(bogus, Some(TYPE));
    for (what, address) in [
        ("metatype without TYPE_SUBCLASS", NOT_META),
        ("self-typed but not PyType_Type", FAKE_TYPE),
        ("control character in the name", CONTROL),
        ("not ready", UNREADY),
        ("metatype loop", LOOP_A),
        ("unaligned", INT + 4),
        ("outside readable memory", 0x40_0000),
        ("null", 0),
        ("a name string, not a type", NAMES),
    ] {
        assert_eq!(types.resolve(address), None, "{what}");
    }
    let reads = types.memory.reads;
    assert_eq!(types.resolve(0x40_0000), None);
    assert_eq!(types.resolve(0x50_0008), None);
    assert_eq!(
        types.memory.reads, reads,
        "addresses outside the maps are not read"
    );

    // Without the exported PyType_Type, the self-typed type named "type" is `type`.
    let mut types = table(memory(&[]), None);
    assert!(types.resolve(INT).is_some());
}

#[test]
fn a_wrong_exported_type_address_falls_back_to_the_self_typed_type() {
    let mut types = table(memory(&[]), Some(INT));
    assert_eq!(types.type_type, None);
    let int = types.resolve(INT).unwrap();
    assert_eq!(types.describe(int.category), ("int".to_string(), false));
}

#[test]
fn the_cache_of_rejected_addresses_stays_bounded() {
    let mut types = table(memory(&[]), Some(TYPE));
    assert!(types.resolve(INT).is_some());
    for index in 0..(MAX_CACHED_REJECTIONS as u64 + 10) {
        assert_eq!(types.resolve(0x28_0000 + index * 8), None);
    }
    assert!(types.resolved.len() <= MAX_CACHED_REJECTIONS + 2);
    // Validated types survive the purge.
    assert!(types.resolved.get(&INT).is_some_and(|t| t.is_some()));
}
