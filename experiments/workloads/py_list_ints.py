"""py-list-sum and py-list-iter (document 001, runs 2 and 3): a global list of ints read by forked
children is copied.

Follows the document's script: a global `data = list(range(N))`, `mp.Process(target=worker)`
children that run `sum(data)` (--op sum) or `for x in data: pass` (--op iter) and log document
001's "free memory" figure. The answer explains it: iterating increments each int's reference
count, a write into the int object, so every page of int objects is copied; the list's own
pointer array is only read and stays shared.
"""
import multiprocessing as mp
import os

from memlab.workload import (
    die_with_parent, doc001_free_bytes, operate_children, run, start_children)
from _pyobjects import declare_list_regions, footprint, mapped_ranges, seal_pymalloc

data = None
operation = "sum"
SMALL_INTS = 257  # 0..256 are the interpreter's own small ints: not allocated by list(range(N))


def worker(i, start_line, finish_line, free_after):
    die_with_parent()
    start_line.arrive_and_wait()
    if operation == "sum":
        x = sum(data)  # Exercise access to data (the document's operation, run 2)
    else:
        for x in data:  # the document's run 3
            pass
    free_after[i] = doc001_free_bytes()
    finish_line.arrive_and_wait()


def body(w):
    global data, operation
    operation = w.op or "sum"
    if operation not in ("sum", "iter"):
        raise ValueError("--op must be sum or iter, got %r" % operation)
    ctx = mp.get_context("fork")  # the document relies on fork
    w.phase("baseline")
    initial_free = doc001_free_bytes()
    # The document's N = 10**8 (about 4 GB); by default N is chosen so that the pointer array
    # plus the int objects (8 + 32 bytes each) come to --size.
    N = 10 ** 8 if w.scale == "paper" else max(1, w.size_bytes // (8 + footprint(10 ** 6)))
    mapped_before = mapped_ranges()
    data = list(range(N))
    declare_list_regions(w, data, skip=SMALL_INTS, mapped_before=mapped_before)
    w.fact("N", N)
    w.fact("doc001_free_bytes_initial", initial_free)
    w.fact("doc001_free_bytes_after_allocating", doc001_free_bytes())
    w.phase("allocated")
    ballast = seal_pymalloc()  # kept alive until the children are done; see seal_pymalloc

    free_after = ctx.Array("q", w.children, lock=False)
    procs, start_line, finish_line = start_children(w, ctx, worker, free_after)
    operate_children(w, procs, start_line, finish_line, before_operated=lambda: w.fact(
        "doc001_free_bytes_in_children", list(free_after)))
    del ballast


if __name__ == "__main__":
    import json
    op = json.loads(os.environ.get("MEMLAB_PARAMS", "{}")).get("op") or "sum"
    run("py-list-%s" % op, body)
