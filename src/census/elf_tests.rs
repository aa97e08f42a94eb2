use super::*;

/// Builds a small ELF64 file: one PT_LOAD at `load_vaddr`, sections [null, .dynsym, .dynstr,
/// .rodata], the symbols given (name, value, defined) and `Py_Version`'s value in .rodata.
fn synthetic_elf(load_vaddr: u64, symbols: &[(&str, u64, bool)], py_version: u32) -> Vec<u8> {
    let rodata_vaddr = load_vaddr + 0x2000;
    let mut dynstr = vec![0u8];
    let mut dynsym = vec![0u8; SYMBOL_BYTES]; // the null symbol
    for (name, value, defined) in symbols {
        let name_offset = dynstr.len() as u32;
        dynstr.extend_from_slice(name.as_bytes());
        dynstr.push(0);
        let mut symbol = [0u8; SYMBOL_BYTES];
        symbol[0..4].copy_from_slice(&name_offset.to_le_bytes());
        let shndx: u16 = if *defined { 3 } else { 0 };
        symbol[6..8].copy_from_slice(&shndx.to_le_bytes());
        let value = if *name == "Py_Version" {
            rodata_vaddr + 8
        } else {
            *value
        };
        symbol[8..16].copy_from_slice(&value.to_le_bytes());
        dynsym.extend_from_slice(&symbol);
    }
    let mut rodata = vec![0u8; 16];
    rodata[8..12].copy_from_slice(&py_version.to_le_bytes());

    let program_offset = 64u64;
    let dynsym_offset = program_offset + PROGRAM_HEADER_BYTES as u64;
    let dynstr_offset = dynsym_offset + dynsym.len() as u64;
    let rodata_offset = dynstr_offset + dynstr.len() as u64;
    let sections_offset = rodata_offset + rodata.len() as u64;

    let mut file = vec![0u8; 64];
    file[..4].copy_from_slice(b"\x7fELF");
    file[4] = 2;
    file[5] = 1;
    file[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
    file[32..40].copy_from_slice(&program_offset.to_le_bytes());
    file[40..48].copy_from_slice(&sections_offset.to_le_bytes());
    file[56..58].copy_from_slice(&1u16.to_le_bytes());
    file[60..62].copy_from_slice(&4u16.to_le_bytes());

    let mut program = [0u8; PROGRAM_HEADER_BYTES];
    program[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
    program[16..24].copy_from_slice(&(load_vaddr + 0x123).to_le_bytes());
    file.extend_from_slice(&program);
    file.extend_from_slice(&dynsym);
    file.extend_from_slice(&dynstr);
    file.extend_from_slice(&rodata);

    let section = |kind: u32, address: u64, offset: u64, size: u64, link: u32| {
        let mut s = [0u8; SECTION_HEADER_BYTES];
        s[4..8].copy_from_slice(&kind.to_le_bytes());
        s[16..24].copy_from_slice(&address.to_le_bytes());
        s[24..32].copy_from_slice(&offset.to_le_bytes());
        s[32..40].copy_from_slice(&size.to_le_bytes());
        s[40..44].copy_from_slice(&link.to_le_bytes());
        s
    };
    file.extend_from_slice(&[0u8; SECTION_HEADER_BYTES]);
    file.extend_from_slice(&section(
        SHT_DYNSYM,
        0,
        dynsym_offset,
        dynsym.len() as u64,
        2,
    ));
    file.extend_from_slice(&section(3, 0, dynstr_offset, dynstr.len() as u64, 0));
    file.extend_from_slice(&section(1, rodata_vaddr, rodata_offset, 16, 0));
    file
}

#[test]
fn reads_defined_wanted_symbols_the_load_address_and_py_version() {
    let bytes = synthetic_elf(
        0x40_0000,
        &[
            ("PyType_Type", 0x95_84a0, true),
            ("Py_Version", 0, true),
            ("_Py_RefTotal", 0x1234, false), // imported, not defined here
            ("SomethingElse", 0x42, true),
        ],
        0x030B_02F0,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("python3.11");
    std::fs::write(&path, &bytes).unwrap();
    let facts = read_facts(&path).unwrap().unwrap();
    assert_eq!(facts.first_load_vaddr, 0x40_0000);
    assert_eq!(facts.symbols.get("PyType_Type"), Some(&0x95_84a0));
    assert!(facts.symbols.contains_key("Py_Version"));
    assert!(!facts.symbols.contains_key("_Py_RefTotal"));
    assert_eq!(facts.symbols.len(), 2);
    assert_eq!(facts.py_version_hex, Some(0x030B_02F0));
}

#[test]
fn anything_but_elf64_little_endian_gives_none() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script");
    std::fs::write(
        &script,
        b"#!/bin/sh\necho hello, this is not an ELF file at all\n",
    )
    .unwrap();
    assert_eq!(read_facts(&script).unwrap(), None);
    let mut elf32 = synthetic_elf(0, &[], 0);
    elf32[4] = 1;
    std::fs::write(&script, &elf32).unwrap();
    assert_eq!(read_facts(&script).unwrap(), None);
    let truncated = &synthetic_elf(0, &[("PyType_Type", 1, true)], 0)[..100];
    std::fs::write(&script, truncated).unwrap();
    assert_eq!(read_facts(&script).unwrap(), None);
    assert!(read_facts(&dir.path().join("missing")).is_err());
}

#[test]
fn without_py_version_there_is_no_version_hex() {
    let bytes = synthetic_elf(0, &[("PyType_Type", 0x1000, true)], 0x030A_0DF0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libpython3.10.so.1.0");
    std::fs::write(&path, &bytes).unwrap();
    let facts = read_facts(&path).unwrap().unwrap();
    assert_eq!(facts.py_version_hex, None);
    assert_eq!(facts.first_load_vaddr, 0);
}
