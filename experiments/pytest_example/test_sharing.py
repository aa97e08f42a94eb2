"""memlab's pytest plugin on a fork Pool: three tests, three outcomes.

Run with the memlab wheel installed (the plugin loads through its entry point; in the checkout's
.venv add `-p memlab.pytest_plugin` and MEMLAB_BIN=target/release/memlab):

    pytest experiments/pytest_example -rA

- test_numpy_array_is_shared passes: fork workers that only read a numpy array share its pages
  with pytest's process and copy almost nothing (interpreter pages they write).
- test_list_of_ints_is_copied FAILS, on purpose, with memlab's line naming each worker and
  what it copied: summing a list writes the reference count of every int object it reads, so
  each worker copies the pages of all the ints.
- test_adding_up_rss_counts_the_array_per_worker asserts the over-count of summed RSS.

python/tests/test_pytest_plugin.py runs this file and asserts each outcome.
"""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

import memlab
from memlab.pytest_plugin import MemlabTree

FORK = multiprocessing.get_context("fork")
ARRAY_BYTES = 32 << 20
WORKERS = 3
INT_COUNT = 1_000_000  # 1M int objects of 32 bytes: 32 MiB of object pages

# What the workers read: module globals, inherited at fork (never pickled).
_array: np.ndarray | None = None
_ints: list[int] | None = None


def _sum_array(_task: int) -> float:
    assert _array is not None
    total = float(_array.sum())
    # Held until memlab has measured the tree: the worker has read the whole array by now.
    memlab.checkpoint("summed")
    return total


def _sum_ints(_task: int) -> int:
    assert _ints is not None
    total = sum(_ints)
    memlab.checkpoint("summed")
    return total


@pytest.fixture
def shared_array():
    global _array
    _array = np.ones(ARRAY_BYTES // 8)  # written here, before the fork: resident, shared
    yield _array
    _array = None


@pytest.mark.memlab(max_copied_per_child="4 MiB")
def test_numpy_array_is_shared(shared_array: np.ndarray) -> None:
    with FORK.Pool(WORKERS) as pool:
        sums = pool.map(_sum_array, range(WORKERS), chunksize=1)
    assert sums == [float(shared_array.size)] * WORKERS


@pytest.mark.memlab(max_copied_per_child="4 MiB")
def test_list_of_ints_is_copied() -> None:
    global _ints
    # Beyond the small-int cache: one int object each, laid out one after another.
    _ints = list(range(1 << 20, (1 << 20) + INT_COUNT))
    try:
        with FORK.Pool(2) as pool:
            sums = pool.map(_sum_ints, range(2), chunksize=1)
        first = 1 << 20
        assert sums == [INT_COUNT * first + INT_COUNT * (INT_COUNT - 1) // 2] * 2
    finally:
        _ints = None


def test_adding_up_rss_counts_the_array_per_worker(
        shared_array: np.ndarray, memlab_tree: MemlabTree) -> None:
    with FORK.Pool(WORKERS) as pool:
        pool.map(_sum_array, range(WORKERS), chunksize=1)
        tree = memlab_tree.measure()  # the workers are alive, each has read the array
    assert len(tree.children) == WORKERS
    assert os.getpid() in tree.pids and tree.memlab_pid not in tree.pids
    # Each worker maps every page of the array (fork copied the page table, reading left the
    # frames shared), so summed RSS counts the array once per worker more than the unique
    # footprint does: ΣRSS - unique >= WORKERS × 32 MiB, whatever else the processes hold.
    for child in tree.children:
        assert child.shared_bytes is not None and child.shared_bytes >= ARRAY_BYTES
    assert tree.unique_bytes is not None and tree.overcount_factor is not None
    assert tree.rss_bytes - tree.unique_bytes >= WORKERS * ARRAY_BYTES
    # So the factor is at least 1 + 96 MiB / unique; pytest, numpy and the array come to well
    # under 192 MiB of unique memory here, which puts it above 1.5.
    assert tree.overcount_factor > 1.5
