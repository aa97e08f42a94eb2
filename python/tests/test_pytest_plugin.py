"""The pytest plugin end to end: pytest runs test files in a subprocess, the plugin starts the
real memlab beside each marked test, and each test's outcome is asserted from pytest's JUnit
report (passed, failed with memlab's line, error), with the figures in the kept results.

Installed from the wheel, the plugin loads through its entry point and finds the `memlab`
installed beside the interpreter; from the checkout's .venv it is named with `-p` and memlab is
the checkout's target/release/memlab (unless MEMLAB_BIN says otherwise).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ElementTree
from importlib import metadata
from typing import Dict, List, Tuple

import pytest

from memlab._session import MemlabError, find_memlab

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "experiments", "pytest_example", "test_sharing.py")
CHECKOUT_MEMLAB = os.path.join(ROOT, "target", "release", "memlab")
MIB = 1 << 20
# The example's list: 1M int objects of 32 bytes (28, rounded up by the allocator), every one
# of which each worker's sum writes (its reference count), so each worker copies their pages.
INT_OBJECT_BYTES = 1_000_000 * 32

Outcomes = Dict[str, List[Tuple[str, str]]]


def _installed_from_wheel() -> bool:
    try:
        entry_points = metadata.distribution("memlab").entry_points
    except metadata.PackageNotFoundError:
        return False
    return any(e.group == "pytest11" and e.value == "memlab.pytest_plugin" for e in entry_points)


@pytest.fixture
def memlab_command(monkeypatch: pytest.MonkeyPatch) -> str:
    """The memlab the plugin will use, MEMLAB_BIN set to the checkout's build when needed."""
    try:
        return find_memlab()
    except MemlabError:
        if _installed_from_wheel() or not os.access(CHECKOUT_MEMLAB, os.X_OK):
            raise
    monkeypatch.setenv("MEMLAB_BIN", CHECKOUT_MEMLAB)
    return CHECKOUT_MEMLAB


def _run(pytester: pytest.Pytester, *args: str, prefix: Tuple[str, ...] = ()
         ) -> Tuple[pytest.RunResult, Outcomes]:
    """Runs pytest in a subprocess; returns its output and each test's outcomes from the
    JUnit report: name -> [(passed|failed|error-setup|error-teardown|skipped, message)]."""
    junit = pytester.path / "junit.xml"
    plugin = [] if _installed_from_wheel() else ["-p", "memlab.pytest_plugin"]
    command = prefix + (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *plugin,
                        "--junitxml", str(junit), "-rA", *args)
    result = pytester.run(*command, timeout=600)
    outcomes: Outcomes = {}
    for case in ElementTree.parse(str(junit)).iter("testcase"):
        found = []
        for child in case:
            # The element's text is the whole report (the message attribute may be cut).
            text = (child.text or "").strip()
            if child.tag == "failure":
                found.append(("failed", text))
            elif child.tag == "error":
                when = "teardown" if "on teardown" in child.get("message", "") else "setup"
                found.append(("error-" + when, text))
            elif child.tag == "skipped":
                found.append(("skipped", child.get("message", "")))
        outcomes[case.get("name", "")] = found or [("passed", "")]
    return result, outcomes


def _copied_per_child(message: str) -> List[int]:
    """The bytes each child copied, from memlab's `child N (pid P) copied X MiB` line."""
    return [round(float(mib) * MIB) for mib in re.findall(r"copied ([0-9.]+) MiB", message)]


def test_the_example_file(pytester: pytest.Pytester, memlab_command: str) -> None:
    with open(EXAMPLE, encoding="utf-8") as example:
        pytester.makepyfile(test_sharing=example.read())
    results = pytester.path / "results"
    result, outcomes = _run(pytester, "--memlab-results", str(results))
    output = result.stdout.str()
    assert set(outcomes) == {"test_numpy_array_is_shared", "test_list_of_ints_is_copied",
                             "test_adding_up_rss_counts_the_array_per_worker"}, output

    # Three workers read a 32 MiB numpy array: each copies less than the 4 MiB limit.
    assert outcomes["test_numpy_array_is_shared"] == [("passed", "")], output

    # Two workers sum 1M ints: each copies at least the pages of the int objects.
    [(kind, message)] = outcomes["test_list_of_ints_is_copied"]
    assert kind == "failed", output
    # memlab's line names each child over the limit (in its own order) and what it copied.
    named = re.fullmatch(
        r"memlab: check failed: --max-copied-per-child 4\.0 MiB: "
        r"child (\d) \(pid \d+\) copied [0-9.]+ MiB; child (\d) \(pid \d+\) copied [0-9.]+ MiB "
        r"\(.*\)", message)
    assert named is not None and sorted(named.groups()) == ["1", "2"], message
    assert all(copied >= INT_OBJECT_BYTES for copied in _copied_per_child(message)), message

    # The over-count of summed RSS, asserted inside the example.
    assert outcomes["test_adding_up_rss_counts_the_array_per_worker"] == [("passed", "")], (
        output)

    # Each test's result kept under its id; memlab never in the tree it measured.
    names = sorted(os.listdir(str(results)))
    assert names == ["test_sharing.py--test_adding_up_rss_counts_the_array_per_worker.json",
                     "test_sharing.py--test_list_of_ints_is_copied.json",
                     "test_sharing.py--test_numpy_array_is_shared.json"]
    for name in names:
        with open(str(results / name), encoding="utf-8") as stored:
            kept = json.load(stored)
        processes = kept["run"]["processes"]
        kinds = sorted(p["kind"] for p in processes)
        workers = 2 if "list_of_ints" in name else 3
        assert kinds == ["attached"] + ["forked"] * workers, (name, kinds)
        assert not any("memlab" in os.path.basename(p["command"].split()[0])
                       for p in processes), processes
        assert kept["run"]["headline"]["phase"] == "test-end"
        with_figures = [p for p in processes if p.get("figures")]
        assert len(with_figures) == workers
    copied = json.loads((results / names[1]).read_text())["summary"]["copied_bytes_per_child"]
    assert len(copied) == 2 and min(copied) >= INT_OBJECT_BYTES, copied

    # The kept results are what `memlab compare` reads: the same files, no regression.
    compared = subprocess.run([memlab_command, "compare", str(results), str(results)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert compared.returncode == 0, compared.stdout.decode()


EVERY_WAY_OF_FORKING = '''
import concurrent.futures
import multiprocessing
import os

import memlab

PAGE = os.sysconf("SC_PAGE_SIZE")
BUFFER_BYTES = 8 << 20
# Written page by page before the forks: resident, and shared with every child until it writes.
BUFFER = bytearray(BUFFER_BYTES)
BUFFER[::PAGE] = b"\\x01" * (BUFFER_BYTES // PAGE)


def write_every_page(_task):
    BUFFER[::PAGE] = b"\\x02" * (BUFFER_BYTES // PAGE)
    memlab.checkpoint("written")  # held until memlab has measured this child
    return os.getpid()


def copied_the_buffer(child):
    # Every page of the buffer, plus what the interpreter wrote (a few MiB at most).
    return BUFFER_BYTES <= child.copied_bytes < BUFFER_BYTES + (6 << 20)


def test_process_pool_executor(memlab_tree):
    fork = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=fork) as pool:
        writers = set(pool.map(write_every_page, range(2)))
    tree = memlab_tree.measure()
    assert len(tree.children) == 2
    assert all(copied_the_buffer(c) for c in tree.children if c.pid in writers)


def test_bare_fork(memlab_tree):
    pid = os.fork()
    if pid == 0:
        try:
            write_every_page(0)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    tree = memlab_tree.measure()
    [child] = tree.children
    assert child.pid == pid and copied_the_buffer(child)
    assert tree.memlab_pid not in tree.pids and os.getpid() in tree.pids
'''


def test_every_way_of_forking_is_measured(pytester: pytest.Pytester, memlab_command: str
                                          ) -> None:
    pytester.makepyfile(test_forks=EVERY_WAY_OF_FORKING)
    result, outcomes = _run(pytester)
    assert outcomes == {"test_process_pool_executor": [("passed", "")],
                        "test_bare_fork": [("passed", "")]}, result.stdout.str()


FORKS_NOTHING = '''
import subprocess
import pytest


@pytest.mark.memlab(max_copied_per_child="1 MiB")
def test_computes_alone():
    assert sum(range(1000)) == 499500


@pytest.mark.memlab(max_copied_per_child="1 MiB")
def test_only_runs_a_program():
    subprocess.run(["sleep", "0.3"], check=True)
'''


def test_a_test_that_forks_nothing_fails_saying_so(pytester: pytest.Pytester,
                                                   memlab_command: str) -> None:
    pytester.makepyfile(test_alone=FORKS_NOTHING)
    result, outcomes = _run(pytester)
    [(kind, message)] = outcomes["test_computes_alone"]
    assert kind == "failed", result.stdout.str()
    assert message.startswith("memlab: the test forked no child process, so there is no "
                              "copy-on-write sharing to measure"), message
    [(kind, message)] = outcomes["test_only_runs_a_program"]
    assert kind == "failed", result.stdout.str()
    assert message.startswith("memlab: the test forked no child process (memlab saw 1 other "
                              "process: exec'd programs share nothing"), message


BAD_USES = '''
import multiprocessing
import pytest


def work(_):
    return 1


def fork_two():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(work, range(2)) == [1, 1]


@pytest.mark.memlab(max_copied_per_child="ten MiB")
def test_bad_size():
    fork_two()


@pytest.mark.memlab(at="never-sent")
def test_moment_never_marked():
    fork_two()


def test_unmarked():
    fork_two()
'''


def test_bad_uses_are_errors_with_the_reason(pytester: pytest.Pytester,
                                             memlab_command: str) -> None:
    pytester.makepyfile(test_bad=BAD_USES)
    result, outcomes = _run(pytester)
    output = result.stdout.str()
    assert outcomes["test_bad_size"] == [
        ("error-setup", "@pytest.mark.memlab: max_copied_per_child='ten MiB' is not a size "
                  "(examples: 4096, \"64 KiB\", \"10 MiB\"; units B, KiB, MiB, GiB, TiB or KB, "
                  "MB, GB, TB)")], output
    # memlab measured, then could not take the figures at a marker that never came: the
    # test ran (and passed), memlab's line is an error of its teardown.
    [(kind, message)] = outcomes["test_moment_never_marked"]
    assert kind == "error-teardown", output
    assert message.startswith("memlab exited with status 1: memlab: error: --at never-sent"), (
        message)
    assert outcomes["test_unmarked"] == [("passed", "")], output


def test_memlab_missing_is_an_error(pytester: pytest.Pytester,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_bad=BAD_USES)
    monkeypatch.setenv("MEMLAB_BIN", str(pytester.path / "no-memlab-here"))
    result, outcomes = _run(pytester, "-k", "moment or unmarked")
    assert outcomes["test_moment_never_marked"] == [
        ("error-setup", "MEMLAB_BIN=%s is not an executable file" % (pytester.path / "no-memlab-here"))
    ], result.stdout.str()
    assert outcomes["test_unmarked"] == [("passed", "")]


ONE_POOL = '''
import multiprocessing
import pytest


def work(_):
    return 1


def test_pool(memlab_tree):
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(work, range(2)) == [1, 1]
        tree = memlab_tree.measure()
    print("children", len(tree.children), "exact", tree.exact)
'''


def _header_line(output: str) -> str:
    [line] = [line for line in output.splitlines() if line.startswith("memlab: ")]
    return line


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv(1) to run pytest without CAP_SYS_ADMIN")
def test_without_cap_sys_admin_the_header_says_approximate(pytester: pytest.Pytester,
                                                           memlab_command: str) -> None:
    pytester.makepyfile(test_pool=ONE_POOL)
    result, outcomes = _run(pytester, "-s")
    assert "figures exact" in _header_line(result.stdout.str())
    assert "children 2 exact True" in result.stdout.str()
    # Root without CAP_SYS_ADMIN: memlab, started by pytest, has none either.
    result, outcomes = _run(pytester, "-s", prefix=("setpriv", "--bounding-set=-sys_admin",
                                                    "--inh-caps=-sys_admin"))
    output = result.stdout.str()
    assert _header_line(output).endswith(
        "figures approximate: no CAP_SYS_ADMIN (not root), so memlab cannot read physical "
        "frame numbers; copied pages come from the pagemap's exclusive bit"), output
    assert outcomes["test_pool"] == [("passed", "")], output
    assert "children 2 exact False" in output


@pytest.mark.skipif(not _installed_from_wheel(), reason="the checkout's .venv has no wheel")
def test_the_installed_memlab_is_found_beside_the_interpreter() -> None:
    assert find_memlab({"PATH": ""}) == os.path.join(sysconfig.get_paths()["scripts"],
                                                     "memlab")
