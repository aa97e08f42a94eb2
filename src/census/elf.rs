//! Just enough ELF64 (little-endian) to read a few exported symbols of a CPython binary: the
//! section headers, `.dynsym`/`.dynstr`, the first `PT_LOAD` address (for the load bias) and
//! the 4-byte value of `Py_Version`. Read with positioned reads of the pieces needed, never
//! the whole (20 – 30 MiB) file.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Symbols the census looks for.
pub(crate) const WANTED_SYMBOLS: [&str; 10] = [
    // The interpreter's version as PY_VERSION_HEX (3.11+), and `type` itself.
    "Py_Version",
    "PyType_Type",
    // Any CPython.
    "Py_GetVersion",
    "PyObject_Malloc",
    // Free-threaded builds only (Py_GIL_DISABLED, Objects/object.c).
    "_Py_MergeZeroLocalRefcount",
    "_Py_DecRefShared",
    // Py_TRACE_REFS builds only: two more words in every object header.
    "_Py_PrintReferences",
    // Py_REF_DEBUG (debug) builds only: 3.8 – 3.11, then 3.12+.
    "_Py_RefTotal",
    "_Py_GetRefTotal",
    "_Py_GetGlobalRefTotal",
];

const SHT_DYNSYM: u32 = 11;
const PT_LOAD: u32 = 1;
const SHN_UNDEF: u16 = 0;
const SECTION_HEADER_BYTES: usize = 64;
const PROGRAM_HEADER_BYTES: usize = 56;
const SYMBOL_BYTES: usize = 24;
/// Tables larger than this are not a CPython's (libpython's `.dynsym` is ~100 KiB).
const MAX_TABLE_BYTES: u64 = 64 << 20;

/// What the census learns from an interpreter's ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElfFacts {
    /// Defined dynamic symbols among [`WANTED_SYMBOLS`], with their virtual addresses.
    pub symbols: HashMap<&'static str, u64>,
    /// Lowest `p_vaddr` of the `PT_LOAD` segments, page-aligned: subtracted from the address
    /// the file is mapped at to get the load bias.
    pub first_load_vaddr: u64,
    /// The value of `Py_Version` (PY_VERSION_HEX), when exported.
    pub py_version_hex: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ElfHeader {
    program_headers_offset: u64,
    program_header_count: u16,
    section_headers_offset: u64,
    section_header_count: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Section {
    kind: u32,
    address: u64,
    offset: u64,
    size: u64,
    link: u32,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// The ELF header of a 64-bit little-endian file, None for anything else.
fn parse_header(bytes: &[u8]) -> Option<ElfHeader> {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
        return None;
    }
    Some(ElfHeader {
        program_headers_offset: u64_at(bytes, 32),
        program_header_count: u16_at(bytes, 56),
        section_headers_offset: u64_at(bytes, 40),
        section_header_count: u16_at(bytes, 60),
    })
}

fn parse_sections(bytes: &[u8]) -> Vec<Section> {
    bytes
        .chunks_exact(SECTION_HEADER_BYTES)
        .map(|s| Section {
            kind: u32_at(s, 4),
            address: u64_at(s, 16),
            offset: u64_at(s, 24),
            size: u64_at(s, 32),
            link: u32_at(s, 40),
        })
        .collect()
}

fn first_load_vaddr(program_headers: &[u8]) -> Option<u64> {
    program_headers
        .chunks_exact(PROGRAM_HEADER_BYTES)
        .filter(|p| u32_at(p, 0) == PT_LOAD)
        .map(|p| u64_at(p, 16) & !0xfff)
        .min()
}

/// Defined symbols among `wanted` in a `.dynsym` table and its string table.
fn find_symbols(
    dynsym: &[u8],
    dynstr: &[u8],
    wanted: &[&'static str],
) -> HashMap<&'static str, u64> {
    let mut found = HashMap::new();
    for symbol in dynsym.chunks_exact(SYMBOL_BYTES) {
        if u16_at(symbol, 6) == SHN_UNDEF {
            continue;
        }
        let name_start = u32_at(symbol, 0) as usize;
        let Some(rest) = dynstr.get(name_start..) else {
            continue;
        };
        let name = &rest[..rest.iter().position(|b| *b == 0).unwrap_or(rest.len())];
        if let Some(wanted) = wanted.iter().find(|w| w.as_bytes() == name) {
            found.insert(*wanted, u64_at(symbol, 8));
        }
    }
    found
}

/// The file offset holding virtual address `address`, from the section containing it.
fn file_offset_of(sections: &[Section], address: u64) -> Option<u64> {
    sections
        .iter()
        .find(|s| s.address != 0 && (s.address..s.address + s.size).contains(&address))
        .map(|s| s.offset + (address - s.address))
}

fn read_piece(file: &File, offset: u64, length: u64) -> std::io::Result<Option<Vec<u8>>> {
    if length > MAX_TABLE_BYTES {
        return Ok(None);
    }
    let mut bytes = vec![0u8; length as usize];
    match file.read_exact_at(&mut bytes, offset) {
        Ok(()) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the facts of the ELF file at `path`. Ok(None) when it is not a 64-bit little-endian
/// ELF file with dynamic symbols.
pub(crate) fn read_facts(path: &Path) -> std::io::Result<Option<ElfFacts>> {
    let file = File::open(path)?;
    let Some(header) = read_piece(&file, 0, 64)?.and_then(|b| parse_header(&b)) else {
        return Ok(None);
    };
    let Some(program_headers) = read_piece(
        &file,
        header.program_headers_offset,
        header.program_header_count as u64 * PROGRAM_HEADER_BYTES as u64,
    )?
    else {
        return Ok(None);
    };
    let Some(section_bytes) = read_piece(
        &file,
        header.section_headers_offset,
        header.section_header_count as u64 * SECTION_HEADER_BYTES as u64,
    )?
    else {
        return Ok(None);
    };
    let sections = parse_sections(&section_bytes);
    let Some(dynsym) = sections.iter().find(|s| s.kind == SHT_DYNSYM) else {
        return Ok(None);
    };
    let Some(dynstr) = sections.get(dynsym.link as usize) else {
        return Ok(None);
    };
    let (Some(symbol_bytes), Some(string_bytes)) = (
        read_piece(&file, dynsym.offset, dynsym.size)?,
        read_piece(&file, dynstr.offset, dynstr.size)?,
    ) else {
        return Ok(None);
    };
    let symbols = find_symbols(&symbol_bytes, &string_bytes, &WANTED_SYMBOLS);
    let py_version_hex = match symbols
        .get("Py_Version")
        .and_then(|address| file_offset_of(&sections, *address))
    {
        Some(offset) => read_piece(&file, offset, 4)?.map(|b| u32_at(&b, 0)),
        None => None,
    };
    Ok(Some(ElfFacts {
        symbols,
        first_load_vaddr: first_load_vaddr(&program_headers).unwrap_or(0),
        py_version_hex,
    }))
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;
