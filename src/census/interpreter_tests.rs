use super::*;

fn name(version: (u32, u32), flags: &str) -> BinaryName {
    BinaryName {
        version,
        abi_flags: flags.to_string(),
    }
}

fn facts(symbols: &[&'static str], py_version_hex: Option<u32>) -> ElfFacts {
    ElfFacts {
        symbols: symbols.iter().map(|s| (*s, 0x1000)).collect(),
        first_load_vaddr: 0,
        py_version_hex,
    }
}

#[test]
fn binary_names_give_version_and_abi_flags() {
    assert_eq!(parse_binary_name("python3.11"), Some(name((3, 11), "")));
    assert_eq!(parse_binary_name("python3.13t"), Some(name((3, 13), "t")));
    assert_eq!(parse_binary_name("python3.12d"), Some(name((3, 12), "d")));
    assert_eq!(
        parse_binary_name("libpython3.10.so.1.0"),
        Some(name((3, 10), ""))
    );
    assert_eq!(
        parse_binary_name("libpython3.13td.so"),
        Some(name((3, 13), "td"))
    );
    assert_eq!(
        parse_binary_name("libpython3.7m.so.1.0"),
        Some(name((3, 7), "m"))
    );
    for not_versioned in [
        "python",
        "python3",
        "python3.",
        "python3.11-config",
        "libpython3.11.a",
        "pythonista",
        "uwsgi",
    ] {
        assert_eq!(parse_binary_name(not_versioned), None, "{not_versioned}");
    }
}

#[test]
fn py_version_gives_the_patch_level_and_wins_over_the_name() {
    let f = facts(&["PyType_Type", "Py_Version"], Some(0x030B_07F0));
    assert_eq!(
        identify("python3.11", Some(&name((3, 11), "")), Some(&f)),
        Ok(((3, 11), "CPython 3.11.7".to_string()))
    );
    let rc = facts(&["Py_Version"], Some(0x030D_00C2));
    assert_eq!(
        identify("python3", None, Some(&rc)),
        Ok(((3, 13), "CPython 3.13.0rc2".to_string()))
    );
    // Before 3.11 the name is all there is.
    let old = facts(&["PyType_Type", "Py_GetVersion"], None);
    assert_eq!(
        identify("libpython3.9.so.1.0", Some(&name((3, 9), "")), Some(&old)),
        Ok(((3, 9), "CPython 3.9".to_string()))
    );
    assert_eq!(
        identify("python3.8", Some(&name((3, 8), "")), None),
        Ok(((3, 8), "CPython 3.8".to_string()))
    );
}

#[test]
fn builds_and_versions_the_census_cannot_decode_are_refused_with_the_reason() {
    let plain = facts(&["Py_GetVersion"], None);
    let refuse = |binary: &str, n: Option<BinaryName>, f: Option<&ElfFacts>| {
        identify(binary, n.as_ref(), f).unwrap_err()
    };
    assert!(
        refuse("python3.13t", Some(name((3, 13), "t")), Some(&plain))
            .starts_with("free-threaded CPython builds are not decoded")
    );
    let free_threaded = facts(&["_Py_MergeZeroLocalRefcount"], Some(0x030E_00F0));
    assert!(refuse("python3", None, Some(&free_threaded)).starts_with("free-threaded"));
    assert!(
        refuse("python3.12d", Some(name((3, 12), "d")), Some(&plain))
            .starts_with("debug CPython builds are not decoded")
    );
    let ref_debug = facts(&["_Py_GetGlobalRefTotal"], Some(0x030C_01F0));
    assert!(refuse("python3.12", Some(name((3, 12), "")), Some(&ref_debug)).starts_with("debug"));
    let trace_refs = facts(&["_Py_PrintReferences"], Some(0x030C_01F0));
    assert!(refuse("python3.12", None, Some(&trace_refs)).contains("Py_TRACE_REFS"));
    assert_eq!(
        refuse("python3.7", Some(name((3, 7), "m")), None),
        "CPython 3.7 is not decoded: the census knows CPython 3.8 to 3.14"
    );
    let future = facts(&["Py_Version"], Some(0x030F_00A1));
    assert_eq!(
        refuse("python3", None, Some(&future)),
        "CPython 3.15.0a1 is not decoded: the census knows CPython 3.8 to 3.14"
    );
    assert_eq!(
        refuse("/usr/bin/sleep", None, Some(&facts(&[], None))),
        "not a CPython process (/usr/bin/sleep)"
    );
    assert!(refuse("python", None, Some(&plain)).contains("cannot be told"));
}

fn environment(pairs: &[(&str, &str)]) -> HashMap<OsString, OsString> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

fn line(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn the_allocator_chosen_by_environment_and_options_is_respected() {
    let plain = line(&["python3", "script.py"]);
    assert_eq!(allocator_skip(&plain, &environment(&[])), None);
    for fine in ["pymalloc", "default", ""] {
        assert_eq!(
            allocator_skip(&plain, &environment(&[("PYTHONMALLOC", fine)])),
            None
        );
    }
    assert!(
        allocator_skip(&plain, &environment(&[("PYTHONMALLOC", "malloc")]))
            .unwrap()
            .starts_with("pymalloc is not in use (PYTHONMALLOC=malloc)")
    );
    assert!(
        allocator_skip(&plain, &environment(&[("PYTHONMALLOC", "pymalloc_debug")]))
            .unwrap()
            .contains("debug hooks")
    );
    // -E and -I make Python ignore PYTHON* variables.
    let ignoring = line(&["python3", "-Es", "script.py"]);
    assert_eq!(
        allocator_skip(&ignoring, &environment(&[("PYTHONMALLOC", "debug")])),
        None
    );
    // Development mode installs the debug hooks unless PYTHONMALLOC names an allocator.
    let dev = line(&["python3", "-X", "dev", "-c", "pass"]);
    assert!(
        allocator_skip(&dev, &environment(&[]))
            .unwrap()
            .contains("development mode")
    );
    assert!(allocator_skip(&line(&["python3", "-Xdev", "x.py"]), &environment(&[])).is_some());
    assert_eq!(
        allocator_skip(&dev, &environment(&[("PYTHONMALLOC", "pymalloc")])),
        None
    );
    assert!(allocator_skip(&plain, &environment(&[("PYTHONDEVMODE", "1")])).is_some());
    // Options after -c or the script belong to the program, not to Python.
    let after = line(&["python3", "-c", "pass", "-X", "dev", "-E"]);
    assert_eq!(allocator_skip(&after, &environment(&[])), None);
    let script_args = line(&["python3", "tool.py", "-E"]);
    assert!(allocator_skip(&script_args, &environment(&[("PYTHONMALLOC", "malloc")])).is_some());
}
