//! The CPython object census on real processes: a Python parent builds objects, forks a child
//! that touches some of them, and the census of the child's copied pages must find exactly the
//! objects the child touched. Run under every CPython on the machine (3.8 and later); page
//! truth needs frame numbers, so these tests need root.

#[path = "census_support/forked.rs"]
mod forked;
#[path = "census_support/pages.rs"]
mod pages;

use std::io::Read;
use std::process::Command;

use forked::ForkedPython;
use memlab::census::{CensusSkip, PythonCensus, take_census};
use memlab::python::{Interpreter, discover};

/// Objects built by the parent in each test.
const COUNT: u64 = 200_000;
/// Objects of the interpreter's own that lie on pages the child copied anyway (constants,
/// names, caches). Measured on 3.8 – 3.13: at most 410 ints beside the 200 000 summed, 1 691
/// dicts beside the 200 000 collected, 1 452 strs when none was touched.
const INTERPRETER_INTS: u64 = 2_000;
const INTERPRETER_DICTS: u64 = 5_000;
const INTERPRETER_STRS: u64 = 5_000;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Every CPython >= 3.8 on this machine; prints the ones skipped and why.
fn interpreters() -> Vec<Interpreter> {
    let (found, skipped) = discover();
    for (path, reason) in skipped {
        eprintln!("skipped {}: {reason}", path.display());
    }
    found
}

/// The census of a child's copied pages, with the checks every census must pass.
fn census_of(run: &ForkedPython, python: &Interpreter) -> PythonCensus {
    let pages = run.copied_pages();
    let census = take_census(run.child_pid, &pages)
        .unwrap_or_else(|skip| panic!("{}: census skipped: {skip}", python.version));
    // The interpreter is told from the process, down to the patch level where the build says.
    let (major, minor) = python.major_minor().unwrap();
    if (major, minor) >= (3, 11) {
        assert_eq!(census.interpreter, format!("CPython {}", python.version));
    } else {
        assert_eq!(census.interpreter, format!("CPython {major}.{minor}"));
    }
    let expected_pool = if (major, minor) >= (3, 10) {
        16384
    } else {
        4096
    };
    assert_eq!(census.pool_size_bytes, expected_pool);
    // Every page is accounted for exactly once.
    assert_eq!(census.pages_examined, pages::page_count(&pages));
    let voted: u64 = census.types.iter().map(|t| t.pages).sum();
    assert_eq!(
        voted + census.pages_unreadable + census.pages_inconsistent,
        census.pages_examined
    );
    assert_eq!(census.pages_unreadable, 0);
    assert_eq!(census.pages_inconsistent, 0, "the child is asleep");
    for special in ["<free>", "<not pymalloc>", "<unidentified>"] {
        assert!(census.get(special).is_some(), "{special} listed");
    }
    assert!(census.types.windows(2).all(|w| w[0].bytes >= w[1].bytes));
    eprintln!(
        "{}: {} pages; top: {}",
        census.interpreter,
        census.pages_examined,
        census
            .types
            .iter()
            .take(6)
            .map(|t| format!("{} {}/{}B/{}p", t.type_name, t.objects, t.bytes, t.pages))
            .collect::<Vec<_>>()
            .join(", ")
    );
    census
}

#[test]
fn ints_summed_by_the_child_are_found_on_its_copied_pages() {
    if !is_root() {
        eprintln!("skipped: page truth needs root to see frame numbers");
        return;
    }
    for python in interpreters() {
        let run = ForkedPython::start(&python.path, "ints", COUNT, &[]);
        let census = census_of(&run, &python);
        let ints = census.objects("int");
        assert!(
            (COUNT..=COUNT + INTERPRETER_INTS).contains(&ints),
            "{}: {ints} ints on copied pages, {COUNT} summed",
            python.version
        );
        // 32-byte blocks: the ints fill their pages.
        let int = census.get("int").unwrap();
        assert!(int.bytes >= ints * 32, "{}", int.bytes);
        assert!(int.pages >= COUNT * 32 / 4096, "{}", int.pages);
    }
}

#[test]
fn dicts_whose_gc_headers_the_child_wrote_are_found_on_its_copied_pages() {
    if !is_root() {
        eprintln!("skipped: page truth needs root to see frame numbers");
        return;
    }
    for python in interpreters() {
        let run = ForkedPython::start(&python.path, "dicts", COUNT, &[]);
        let census = census_of(&run, &python);
        // gc.collect() writes the GC header at the start of every tracked dict's block.
        let dicts = census.objects("dict");
        assert!(
            (COUNT..=COUNT + INTERPRETER_DICTS).contains(&dicts),
            "{}: {dicts} dicts on copied pages, {COUNT} collected",
            python.version
        );
    }
}

#[test]
fn of_ints_and_strs_only_the_ints_the_child_touched_are_copied() {
    if !is_root() {
        eprintln!("skipped: page truth needs root to see frame numbers");
        return;
    }
    for python in interpreters() {
        let run = ForkedPython::start(&python.path, "mixed", COUNT, &[]);
        let census = census_of(&run, &python);
        let ints = census.objects("int");
        let strs = census.objects("str");
        assert!(
            (COUNT..=COUNT + INTERPRETER_INTS).contains(&ints),
            "{}: {ints} ints on copied pages, {COUNT} summed",
            python.version
        );
        assert!(
            strs <= INTERPRETER_STRS,
            "{}: {strs} strs on copied pages, none touched",
            python.version
        );
    }
}

#[test]
fn the_census_leaves_the_childs_pages_as_they_were() {
    if !is_root() {
        eprintln!("skipped: page truth needs root to see frame numbers");
        return;
    }
    for python in interpreters() {
        let run = ForkedPython::start(&python.path, "ints", COUNT, &[]);
        let copied = run.copied_pages();
        let frames = pages::frames(run.child_pid);
        let census = take_census(run.child_pid, &copied).expect("census");
        assert!(census.objects("int") >= COUNT);
        // Then every present page of its private writable mappings: those still shared with
        // the parent are read through /proc/PID/mem, those it maps alone (the copies) with
        // process_vm_readv; neither may give the child a page of its own.
        let page_size = procfs::page_size();
        let mut every_page: Vec<std::ops::Range<u64>> = Vec::new();
        for (address, _) in &frames {
            match every_page.last_mut() {
                Some(run) if run.end == *address => run.end += page_size,
                _ => every_page.push(*address..*address + page_size),
            }
        }
        take_census(run.child_pid, &[("all".to_string(), every_page)]).expect("census");
        let after = pages::frames(run.child_pid);
        let changed = pages::differences(&frames, &after);
        assert!(changed.is_empty(), "{}: {changed:?}", python.version);
        assert_eq!(run.copied_pages(), copied, "{}", python.version);
    }
}

#[test]
fn a_process_that_chose_another_allocator_is_skipped_with_the_reason() {
    if !is_root() {
        eprintln!("skipped: page truth needs root to see frame numbers");
        return;
    }
    let Some(python) = interpreters().into_iter().next() else {
        panic!("no CPython found");
    };
    let run = ForkedPython::start(&python.path, "ints", 1000, &[("PYTHONMALLOC", "malloc")]);
    let skip = take_census(run.child_pid, &run.copied_pages()).unwrap_err();
    assert_eq!(
        skip.reason,
        "pymalloc is not in use (PYTHONMALLOC=malloc): no pools to decode"
    );
    let run = ForkedPython::start(&python.path, "ints", 1000, &[("PYTHONMALLOC", "debug")]);
    let skip = take_census(run.child_pid, &run.copied_pages()).unwrap_err();
    assert!(skip.reason.contains("debug hooks"), "{skip}");
}

#[test]
fn a_process_that_is_not_python_is_skipped_with_the_reason() {
    let mut sleeper = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = sleeper.id() as i32;
    let outcome = take_census(pid, &[]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let skip = outcome.unwrap_err();
    assert!(
        skip.reason.starts_with("not a CPython process (") && skip.reason.ends_with("sleep)"),
        "{skip}"
    );
    let gone = take_census(pid, &[]).unwrap_err();
    assert_eq!(gone.reason, format!("process {pid} has exited"));
}

/// Runs `take_census` in a forked helper that first drops to nobody (65534), and returns what
/// it reported through a pipe.
fn census_as_nobody(pid: i32, pages: &[(String, Vec<std::ops::Range<u64>>)]) -> String {
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork, pipe, write};
    let (read_end, write_end) = pipe().unwrap();
    // SAFETY: the helper only drops privileges, takes the census, writes to a pipe and exits;
    // glibc keeps malloc usable in a forked child.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = (|| {
                // SAFETY: plain system calls on this process's credentials.
                let dropped = unsafe {
                    libc::setgroups(0, std::ptr::null()) == 0
                        && libc::setgid(65534) == 0
                        && libc::setuid(65534) == 0
                };
                dropped.then_some(())?;
                let report = match take_census(pid, pages) {
                    Ok(census) => format!("census {}", census.interpreter),
                    Err(CensusSkip { reason }) => format!("skip {reason}"),
                };
                write(&write_end, report.as_bytes()).ok()?;
                Some(0)
            })()
            .unwrap_or(3);
            unsafe { libc::_exit(code) };
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut report = String::new();
            std::fs::File::from(read_end)
                .read_to_string(&mut report)
                .unwrap();
            assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
            report
        }
    }
}

#[test]
fn without_permission_to_read_the_process_the_census_is_skipped_in_one_line() {
    if !is_root() {
        eprintln!("skipped: dropping to another user needs root");
        return;
    }
    let Some(python) = interpreters().into_iter().next() else {
        panic!("no CPython found");
    };
    let run = ForkedPython::start(&python.path, "ints", 10_000, &[]);
    let pages = run.copied_pages();
    assert!(
        take_census(run.child_pid, &pages).is_ok(),
        "root may read it"
    );
    let report = census_as_nobody(run.child_pid, &pages);
    assert_eq!(
        report,
        format!(
            "skip no permission to read the memory of process {}: the census needs the process's user or CAP_SYS_PTRACE",
            run.child_pid
        )
    );
}
