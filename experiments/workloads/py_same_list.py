"""py-same-list (document 001, the answer): `[1] * N` iterated by forked children stays shared.

The answer's suggestion: "data = [1] * 10**8. Then there's only a single unique object referenced
many times by the list, so there's very little to copy (the same object's refcount gets
incremented and decremented many times)". The children run run 3's `for x in data: pass` and log
document 001's "free memory" figure. The one int object, 1, is one of the interpreter's small
ints (static in 3.11+, allocated at start-up before): it is not data, so the only region is the
list's pointer array, which is only read.
"""
import multiprocessing as mp

from memlab.workload import (
    die_with_parent, doc001_free_bytes, operate_children, run, start_children)
from _pyobjects import POINTER_BYTES, declare_list_regions

data = None


def worker(i, start_line, finish_line, free_after):
    die_with_parent()
    start_line.arrive_and_wait()
    for x in data:  # Exercise access to data (document 001's run 3 operation)
        pass
    free_after[i] = doc001_free_bytes()
    finish_line.arrive_and_wait()


def body(w):
    global data
    ctx = mp.get_context("fork")  # the document relies on fork
    w.phase("baseline")
    initial_free = doc001_free_bytes()
    # The answer's N = 10**8 (800 MB of pointers); by default N pointers make --size.
    N = 10 ** 8 if w.scale == "paper" else max(1, w.size_bytes // POINTER_BYTES)
    data = [1] * N
    declare_list_regions(w, data, objects=False)
    w.fact("N", N)
    w.fact("distinct_objects", 1)
    w.fact("doc001_free_bytes_initial", initial_free)
    w.fact("doc001_free_bytes_after_allocating", doc001_free_bytes())
    w.phase("allocated")

    free_after = ctx.Array("q", w.children, lock=False)
    procs, start_line, finish_line = start_children(w, ctx, worker, free_after)
    operate_children(w, procs, start_line, finish_line, before_operated=lambda: w.fact(
        "doc001_free_bytes_in_children", list(free_after)))


if __name__ == "__main__":
    run("py-same-list", body)
