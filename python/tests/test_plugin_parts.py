"""The pytest plugin's pure parts, on fixed input: sizes, result names, capabilities, the
marker's arguments, the verdict on memlab's exit and output, the figures of a result."""

from __future__ import annotations

import copy

import pytest

from memlab._session import Limits, has_cap_sys_admin, judge, memlab_command, result_name
from memlab._sizes import format_size, parse_size
from memlab._tree import tree_figures


@pytest.mark.parametrize("text, size_bytes", [
    ("10 MiB", 10 << 20), ("10MiB", 10 << 20), ("300MB", 300_000_000), ("4096", 4096),
    (4096, 4096), ("1.5GiB", 3 << 29), ("64 kib", 64 << 10), ("1_000", 1000), ("2g", 2 << 30),
    ("0", 0), (" 7 B ", 7),
])
def test_sizes_read_as_memlab_reads_them(text: object, size_bytes: int) -> None:
    assert parse_size(text) == size_bytes


@pytest.mark.parametrize("text", ["", "MiB", "10 Mb/s", "ten", "-1", "1e6", True, 1.5, None,
                                  -4, "99999999999 TiB"])
def test_what_is_not_a_size_is_refused(text: object) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_sizes_print_as_memlab_prints_them() -> None:
    assert [format_size(b) for b in (512, 4 << 20, 3_129_344, 5 << 30)] == [
        "512 B", "4.0 MiB", "3.0 MiB", "5.0 GiB"]


@pytest.mark.parametrize("nodeid, name", [
    ("test_sharing.py::test_numpy_array_is_shared", "test_sharing.py--test_numpy_array_is_shared"),
    ("tests/unit/test_pool.py::TestPool::test_map[4-fork]",
     "tests-unit-test_pool.py--TestPool--test_map-4-fork"),
    ("test_x.py::test_y[a b/c::d]", "test_x.py--test_y-a-b-c--d"),
    (".hidden/test_x.py::test_é", "hidden-test_x.py--test_"),
])
def test_result_names_are_safe_file_names(nodeid: str, name: str) -> None:
    assert result_name(nodeid) == name


def test_long_ids_keep_apart() -> None:
    first = result_name("test_x.py::test_y[" + "a" * 200 + "1]")
    second = result_name("test_x.py::test_y[" + "a" * 200 + "2]")
    assert first != second and len(first) == len(second) == 100
    assert all(c.isalnum() or c in "._-" for c in first)


def test_cap_sys_admin_is_bit_21_of_the_effective_set() -> None:
    status = "Name:\tpython\nCapInh:\t0000000000000000\nCapPrm:\t%s\nCapEff:\t%s\n"
    assert has_cap_sys_admin(status % ("000001ffffffffff", "000001ffffffffff"))
    assert has_cap_sys_admin(status % ("0", "0000000000200000"))
    # Permitted but not effective, or every capability but that one: not exact.
    assert not has_cap_sys_admin(status % ("000001ffffffffff", "0000000000000000"))
    assert not has_cap_sys_admin(status % ("0", "000001ffffdfffff"))
    assert not has_cap_sys_admin("Name:\tpython\n")


def test_the_marker_takes_limits_and_a_moment() -> None:
    limits = Limits.from_marker((), {"max_copied_per_child": "10 MiB",
                                     "max_tree_unique": 300 << 20, "at": "summed"})
    assert limits == Limits(10 << 20, 300 << 20, "summed")
    assert memlab_command("/bin/memlab", 41, 7, "/tmp/r", "t", limits) == [
        "/bin/memlab", "run", "--pid", "41", "--markers-fd", "7", "--out", "/tmp/r", "--name",
        "t", "--max-copied-per-child", str(10 << 20), "--max-tree-unique", str(300 << 20),
        "--at", "summed"]
    # No moment named: the checkpoint that ends the test.
    assert memlab_command("m", 1, 3, "d", "n", Limits())[-2:] == ["--at", "test-end"]


@pytest.mark.parametrize("args, kwargs, complaint", [
    (("10 MiB",), {}, "keyword arguments only"),
    ((), {"max_copied": "1 MiB"}, "unknown argument(s) max_copied"),
    ((), {"max_copied_per_child": "ten"}, "max_copied_per_child='ten' is not a size"),
    ((), {"at": "Summed!"}, "at='Summed!' is not a marker name"),
])
def test_bad_marker_arguments_say_what_is_wrong(args: tuple, kwargs: dict, complaint: str
                                                ) -> None:
    with pytest.raises(ValueError) as raised:
        Limits.from_marker(args, kwargs)
    assert complaint in str(raised.value)


# A `memlab run --pid` result cut to what the plugin reads (schema version 2).
RESULT = {
    "schema_version": 2, "scenario": "run",
    "summary": {"phase": "test-end", "copied_bytes_per_child": [3129344, 3121152],
                "tree_rss_bytes": 295333888, "tree_pss_bytes": 88589312,
                "tree_uss_bytes": 20946944, "tree_unique_bytes": 90177536,
                "overcount_factor": 3.275},
    "phases": [{"name": "summed", "tree": {"rss_bytes": 295333888, "pss_bytes": 88589312}},
               {"name": "test-end", "tree": {"rss_bytes": 80945152, "pss_bytes": 79000000}}],
    "run": {"attached_pid": 100, "peak_phase": "summed", "processes": [
        {"pid": 100, "kind": "attached", "command": "python -m pytest"},
        {"pid": 102, "kind": "forked", "child_index": 2, "parent_pid": 100,
         "figures": {"copied_bytes": 3121152, "private_bytes": 3125248,
                     "shared_bytes": 61255680, "child_only_bytes": 4096, "exact": True,
                     "moment": "at-exit", "method": "pfn"}},
        {"pid": 101, "kind": "forked", "child_index": 1, "parent_pid": 100,
         "figures": {"copied_bytes": 3129344, "private_bytes": 3129344,
                     "shared_bytes": 61247488, "child_only_bytes": 0, "exact": True,
                     "moment": "headline", "method": "pfn"}},
        {"pid": 103, "kind": "exec", "command": "sleep 1"},
    ]},
}


def test_figures_come_from_the_summary_and_each_forked_child() -> None:
    tree = tree_figures(RESULT, memlab_pid=99, result_path=None)
    assert [c.pid for c in tree.children] == [101, 102]  # in child order
    assert tree.copied_bytes_per_child == (3129344, 3121152)
    assert tree.max_copied_bytes == 3129344
    assert tree.children[1].moment == "at-exit" and tree.children[1].child_only_bytes == 4096
    assert (tree.rss_bytes, tree.unique_bytes, tree.overcount_factor) == (
        295333888, 90177536, 3.275)
    # The summary's totals are those of the peak ('summed'), not of the headline.
    assert (tree.phase, tree.tree_phase) == ("test-end", "summed") and tree.exact
    assert tree.pids == (100, 102, 101, 103) and tree.memlab_pid == 99
    assert tree.describe().startswith("2 forked children, copied [3.0 MiB, 3.0 MiB] at "
                                      "'test-end'; tree at 'summed': ΣRSS 281.7 MiB")
    headline_totals = copy.deepcopy(RESULT)
    headline_totals["phases"][1]["tree"] = headline_totals["phases"][0]["tree"]
    assert tree_figures(headline_totals, 99, None).tree_phase == "test-end"


def test_a_child_never_measured_has_no_figures() -> None:
    result = copy.deepcopy(RESULT)
    del result["run"]["processes"][1]["figures"]
    assert [c.pid for c in tree_figures(result, 99, None).children] == [101]


def test_another_file_is_refused() -> None:
    with pytest.raises(ValueError):
        tree_figures({"scenario": "array-read", "summary": {}}, 99, None)


def test_exit_3_fails_with_memlabs_check_lines() -> None:
    output = ("memlab run: following pid 5 and its descendants; Ctrl-C stops\n"
              "checks\n  FAILED  --max-copied-per-child 4.0 MiB: child 1 (pid 7) copied 33.3 MiB\n"
              "memlab: check failed: --max-copied-per-child 4.0 MiB: child 1 (pid 7) copied "
              "33.3 MiB (python -m pytest)\n")
    verdict = judge(3, output, RESULT)
    assert verdict.kind == "check-failed"
    assert verdict.message == ("memlab: check failed: --max-copied-per-child 4.0 MiB: child 1 "
                               "(pid 7) copied 33.3 MiB (python -m pytest)")


def test_other_exits_fail_with_memlabs_last_line() -> None:
    output = "memlab: error: --at never: no such marker\nmore detail\n"
    verdict = judge(1, output, None)
    assert (verdict.kind, verdict.message) == (
        "memlab-failed", "memlab exited with status 1: memlab: error: --at never: no such marker")
    assert judge(0, "", None).kind == "memlab-failed"


def test_a_test_that_forked_nothing_never_passes() -> None:
    assert judge(0, "", RESULT).kind == "passed"
    alone = copy.deepcopy(RESULT)
    alone["run"]["processes"] = [RESULT["run"]["processes"][0], RESULT["run"]["processes"][3]]
    verdict = judge(0, "", alone)
    assert verdict.kind == "forked-nothing"
    assert "the test forked no child process (memlab saw 1 other process: exec'd" in (
        verdict.message)
    unmeasured = copy.deepcopy(RESULT)
    for record in unmeasured["run"]["processes"][1:3]:
        del record["figures"]
    verdict = judge(0, "", unmeasured)
    assert verdict.kind == "forked-nothing"
    assert "forked 2 child processes but each exited before memlab measured it" in (
        verdict.message)
