"""py-rawarray (document 002, the sharedctypes answer): a `multiprocessing.sharedctypes.RawArray`
and a `RawValue`, allocated before fork and inherited by `Process` children, are the same memory
in every process: each child reads the whole array and writes its own slice, the parent sees the
writes, and no child holds a private copy.

`RawArray(ctypes.c_double, n)` with n * 8 = --size, and `RawValue(ctypes.c_double)` holding the
stamp base. The parent changes the RawValue after the children are forked; each child reads it
after the `forked` phase, so the children also see a write made by the parent after fork. Child i
writes `stamp_base + i` over its slice of the array; after `operated` the parent checks every page
(and every element) of each slice. Memory from sharedctypes is a MAP_SHARED mapping of a deleted
file in /dev/shm (multiprocessing.heap.Arena): memlab counts it through RssShmem.
numpy is used only to read and write the buffer fast (np.frombuffer: no copy).
"""
import ctypes
import multiprocessing
import os
import sys
from multiprocessing.sharedctypes import RawArray, RawValue

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import Checkpoint, die_with_parent, require, run  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
INITIAL = -1.0  # what the parent writes before fork
STAMP_BEFORE_FORK = 1000.0
STAMP_AFTER_FORK = 2000.0  # the RawValue the children must see


def slices(n, children):
    """Child i's [start, end) of the array: page-aligned slices covering it."""
    per_page = PAGE // ctypes.sizeof(ctypes.c_double)
    pages = -(-n // per_page)
    bounds = [min(n, (pages * i // children) * per_page) for i in range(children + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(children)]


def worker(i, raw, stamp, my_slice, start_line, finish_line, seen, totals):
    die_with_parent()
    import numpy as np
    start_line.arrive_and_wait()
    a = np.frombuffer(raw, dtype=np.float64)  # a view of the shared memory, no copy
    totals[i] = float(a.sum())  # reads every element (other children may be writing theirs)
    seen[i] = stamp.value
    start, end = my_slice
    a[start:end] = stamp.value + i  # writes every page of its slice
    del a
    finish_line.arrive_and_wait()


def body(w):
    np = require(w, "numpy")
    ctx = multiprocessing.get_context("fork")  # the document relies on fork (inheritance)
    w.phase("baseline")

    n = max(w.children * PAGE // 8, w.size_bytes // ctypes.sizeof(ctypes.c_double))
    raw = RawArray(ctypes.c_double, n)
    stamp = RawValue(ctypes.c_double, STAMP_BEFORE_FORK)
    a = np.frombuffer(raw, dtype=np.float64)
    a[:] = INITIAL  # touch every page
    w.region("data", ctypes.addressof(raw), ctypes.addressof(raw) + ctypes.sizeof(raw))
    w.fact("elements", n)
    w.phase("allocated")

    start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
    seen = ctx.Array("d", w.children, lock=False)
    totals = ctx.Array("d", w.children, lock=False)
    parts = slices(n, w.children)
    procs = [ctx.Process(target=worker, args=(i, raw, stamp, parts[i], start_line, finish_line, seen, totals))
             for i in range(w.children)]
    for proc in procs:
        proc.start()
    w.children_started([p.pid for p in procs])
    start_line.wait_all(w.children)
    w.phase("forked")
    stamp.value = STAMP_AFTER_FORK  # a parent write after fork, read by the children
    start_line.release()
    finish_line.wait_all(w.children)
    w.phase("operated")

    # The parent reads what the children wrote (the children are still alive, holding it).
    per_page = PAGE // 8
    pages_checked = pages_written = elements_written = 0
    for i, (start, end) in enumerate(parts):
        expected = STAMP_AFTER_FORK + i
        part = a[start:end]
        elements_written += int(np.count_nonzero(part == expected))
        firsts = part[::per_page]
        pages_checked += len(firsts)
        pages_written += int(np.count_nonzero(firsts == expected))
    w.fact("pages_checked_by_parent", pages_checked)
    w.fact("pages_showing_child_writes", pages_written)
    w.fact("elements_checked_by_parent", n)
    w.fact("elements_showing_child_writes", elements_written)
    w.fact("writes_visible_to_parent", pages_checked > 0 and pages_written == pages_checked and elements_written == n)
    w.fact("children_saw_parent_write_after_fork", all(v == STAMP_AFTER_FORK for v in seen))
    finish_line.release()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError("child %d exited with %s" % (proc.pid, proc.exitcode))


if __name__ == "__main__":
    run("py-rawarray", body)
