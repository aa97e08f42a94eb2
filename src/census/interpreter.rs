//! Which CPython runs in a process, told from outside: the `libpython3.X*.so` it maps or the
//! name of its executable (`/proc/PID/exe` resolves venv symlinks), then that ELF's exported
//! symbols (`Py_Version` from 3.11, `PyType_Type`, markers of free-threaded and debug builds),
//! and the allocator its environment selected. Never assumed, never asked of the process.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use procfs::process::{MMapPath, MemoryMap};

use super::CensusSkip;
use super::elf::{self, ElfFacts};
use super::layout::{Layout, NEWEST, OLDEST};

/// The interpreter of a process, as far as the census needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interpreter {
    /// "CPython 3.11.7", or "CPython 3.10" when the build does not say its patch level.
    pub description: String,
    pub layout: Layout,
    /// Where `PyType_Type` (`type`) lives in the process, when the ELF exports it.
    pub type_type_address: Option<u64>,
}

/// `python3.11`, `libpython3.13t.so.1.0`, ...: the version and ABI flags in a binary's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BinaryName {
    pub version: (u32, u32),
    /// `sys.abiflags`: "d" debug, "t" free-threaded ("m" before 3.8).
    pub abi_flags: String,
}

/// Parses `python3.X[flags]` or `libpython3.X[flags].so[.N...]`.
pub(crate) fn parse_binary_name(file_name: &str) -> Option<BinaryName> {
    let (rest, library) = match file_name.strip_prefix("libpython") {
        Some(rest) => (rest, true),
        None => (file_name.strip_prefix("python")?, false),
    };
    let (major, rest) = rest.split_once('.')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (minor, rest) = rest.split_at(digits);
    let flags_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    let (abi_flags, rest) = rest.split_at(flags_len);
    let name_ends_right = if library {
        rest == ".so" || rest.starts_with(".so.")
    } else {
        rest.is_empty()
    };
    if !name_ends_right || major.is_empty() || minor.is_empty() {
        return None;
    }
    Some(BinaryName {
        version: (major.parse().ok()?, minor.parse().ok()?),
        abi_flags: abi_flags.to_string(),
    })
}

/// "3.11.7", "3.13.0rc2" from a PY_VERSION_HEX value.
fn version_text(hex: u32) -> String {
    let (major, minor, micro) = (hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff);
    let (level, serial) = ((hex >> 4) & 0xf, hex & 0xf);
    let suffix = match level {
        0xA => format!("a{serial}"),
        0xB => format!("b{serial}"),
        0xC => format!("rc{serial}"),
        _ => String::new(),
    };
    format!("{major}.{minor}.{micro}{suffix}")
}

/// Decides from a binary's name and ELF facts which CPython it is and whether the census can
/// decode it; the error is the one-line reason it cannot.
pub(crate) fn identify(
    binary: &str,
    name: Option<&BinaryName>,
    facts: Option<&ElfFacts>,
) -> Result<((u32, u32), String), String> {
    let has = |symbol: &str| facts.is_some_and(|f| f.symbols.contains_key(symbol));
    let flags = name.map_or("", |n| n.abi_flags.as_str());
    // Every symbol looked for is CPython's own.
    let is_cpython = name.is_some()
        || facts.is_some_and(|f| !f.symbols.is_empty() || f.py_version_hex.is_some());
    if !is_cpython {
        return Err(format!("not a CPython process ({binary})"));
    }
    if flags.contains('t') || has("_Py_MergeZeroLocalRefcount") || has("_Py_DecRefShared") {
        return Err(format!(
            "free-threaded CPython builds are not decoded ({binary}): their object header differs"
        ));
    }
    if has("_Py_PrintReferences") {
        return Err(format!(
            "CPython builds with Py_TRACE_REFS are not decoded ({binary}): two more words in every object header"
        ));
    }
    if flags.contains('d')
        || has("_Py_RefTotal")
        || has("_Py_GetRefTotal")
        || has("_Py_GetGlobalRefTotal")
    {
        return Err(format!(
            "debug CPython builds are not decoded ({binary}): pymalloc's debug hooks change every block"
        ));
    }
    // Py_Version is the running code's own PY_VERSION_HEX; the name is the fallback.
    let (version, text) = match facts.and_then(|f| f.py_version_hex) {
        Some(hex) => (((hex >> 24), (hex >> 16) & 0xff), version_text(hex)),
        None => match name {
            Some(name) => (
                name.version,
                format!("{}.{}", name.version.0, name.version.1),
            ),
            None => {
                return Err(format!(
                    "the CPython version of {binary} cannot be told: no version in its name and no Py_Version (3.11+)"
                ));
            }
        },
    };
    if Layout::for_version(version).is_none() {
        return Err(format!(
            "CPython {text} is not decoded: the census knows CPython {}.{} to {}.{}",
            OLDEST.0, OLDEST.1, NEWEST.0, NEWEST.1
        ));
    }
    Ok((version, format!("CPython {text}")))
}

/// The reason the census cannot decode the heap when the process's command line and initial
/// environment chose another allocator than plain pymalloc: `PYTHONMALLOC` (ignored under
/// `-E`/`-I`) and development mode (`-X dev`, `PYTHONDEVMODE`), which installs debug hooks
/// unless `PYTHONMALLOC` names an allocator.
pub(crate) fn allocator_skip(
    command_line: &[String],
    environment: &HashMap<OsString, OsString>,
) -> Option<String> {
    let mut ignore_environment = false;
    let mut dev_mode = false;
    let mut arguments = command_line.iter().skip(1);
    'options: while let Some(argument) = arguments.next() {
        let Some(letters) = argument.strip_prefix('-') else {
            break; // the script
        };
        if letters.is_empty() || letters.starts_with('-') {
            break; // "-" (stdin) or a long option such as --version
        }
        for (index, letter) in letters.char_indices() {
            match letter {
                'c' | 'm' => break 'options,
                'E' | 'I' => ignore_environment = true,
                'X' | 'W' => {
                    let value = match &letters[index + 1..] {
                        "" => arguments.next().map(String::as_str).unwrap_or(""),
                        attached => attached,
                    };
                    if letter == 'X' && (value == "dev" || value.starts_with("dev=")) {
                        dev_mode = true;
                    }
                    continue 'options;
                }
                _ => {}
            }
        }
    }
    let variable = |name: &str| {
        environment
            .get(&OsString::from(name))
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.is_empty() && !ignore_environment)
    };
    dev_mode |= variable("PYTHONDEVMODE").is_some();
    match variable("PYTHONMALLOC") {
        Some(value) if value == "malloc" || value == "mimalloc" => Some(format!(
            "pymalloc is not in use (PYTHONMALLOC={value}): no pools to decode"
        )),
        Some(value) if value.ends_with("debug") => Some(format!(
            "pymalloc's debug hooks are on (PYTHONMALLOC={value}): their block layout is not decoded"
        )),
        Some(_) => None,
        None if dev_mode => Some(
            "pymalloc's debug hooks are on (Python development mode): their block layout is not decoded"
                .to_string(),
        ),
        None => None,
    }
}

/// The mapping holding libpython, if the interpreter is a shared library.
fn libpython_mapping(maps: &[MemoryMap]) -> Option<(&Path, BinaryName)> {
    maps.iter().find_map(|m| match &m.pathname {
        MMapPath::Path(path) => {
            let name = parse_binary_name(path.file_name()?.to_str()?)?;
            path.file_name()?
                .to_str()?
                .starts_with("libpython")
                .then_some((path.as_path(), name))
        }
        _ => None,
    })
}

/// Where the file at `path` (as the process sees it) is mapped from offset 0.
fn mapped_base(maps: &[MemoryMap], path: &Path) -> Option<u64> {
    maps.iter()
        .find(|m| m.offset == 0 && matches!(&m.pathname, MMapPath::Path(p) if p == path))
        .map(|m| m.address.0)
}

/// Tells the interpreter of process `pid` from its executable, mappings and environment.
pub(crate) fn detect(
    pid: i32,
    executable: &Path,
    maps: &[MemoryMap],
    command_line: &[String],
    environment: &HashMap<OsString, OsString>,
) -> Result<Interpreter, CensusSkip> {
    // The ELF holding the interpreter, and a path to open it by (through the process's root,
    // so a process in another mount namespace is read right).
    let (binary, name, open_path): (&Path, Option<BinaryName>, PathBuf) =
        match libpython_mapping(maps) {
            Some((library, name)) => (
                library,
                Some(name),
                Path::new(&format!("/proc/{pid}/root"))
                    .join(library.strip_prefix("/").unwrap_or(library)),
            ),
            None => (
                executable,
                executable
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(parse_binary_name),
                PathBuf::from(format!("/proc/{pid}/exe")),
            ),
        };
    let facts = match elf::read_facts(&open_path) {
        Ok(facts) => facts,
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(CensusSkip::no_permission(pid));
        }
        Err(_) => None,
    };
    let shown = binary.display().to_string();
    let (version, description) =
        identify(&shown, name.as_ref(), facts.as_ref()).map_err(CensusSkip::new)?;
    if let Some(reason) = allocator_skip(command_line, environment) {
        return Err(CensusSkip::new(reason));
    }
    let type_type_address = facts.as_ref().and_then(|facts| {
        let symbol = *facts.symbols.get("PyType_Type")?;
        let base = mapped_base(maps, binary)?;
        Some(symbol + base.checked_sub(facts.first_load_vaddr)?)
    });
    Ok(Interpreter {
        description,
        layout: Layout::for_version(version).expect("identify checked the version"),
        type_type_address,
    })
}

#[cfg(test)]
#[path = "interpreter_tests.rs"]
mod tests;
