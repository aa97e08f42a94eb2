"""py-list-sum (document 001, run 2): a global list of ints summed by forked children is copied.

Follows the document's script: a global `data = list(range(N))`, `mp.Process(target=worker)`
children that run `sum(data)` and log document 001's "free memory" figure. The answer explains
it: iterating increments each int's reference count, a write into the int object, so every page
of int objects is copied; the list's own pointer array is only read and stays shared.
"""
import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from memlab_client import die_with_parent, doc001_free_bytes, run  # noqa: E402
from _pyobjects import (declare_list_regions, footprint, join_all, start_children,  # noqa: E402
                        wait_all)

data = None
SMALL_INTS = 257  # 0..256 are the interpreter's own small ints: not allocated by list(range(N))


def worker(i, start_line, finish_line, free_after):
    die_with_parent()
    start_line.arrive_and_wait()
    x = sum(data)  # Exercise access to data (the document's operation)
    free_after[i] = doc001_free_bytes()
    finish_line.arrive_and_wait()


def body(w):
    global data
    ctx = mp.get_context("fork")  # the document relies on fork
    w.phase("baseline")
    initial_free = doc001_free_bytes()
    # The document's N = 10**8 (about 4 GB); by default N is chosen so that the pointer array
    # plus the int objects (8 + 32 bytes each) come to --size.
    N = 10 ** 8 if w.scale == "paper" else max(1, w.size_bytes // (8 + footprint(10 ** 6)))
    data = list(range(N))
    declare_list_regions(w, data, skip=SMALL_INTS)
    w.fact("N", N)
    w.fact("doc001_free_bytes_initial", initial_free)
    w.fact("doc001_free_bytes_after_allocating", doc001_free_bytes())
    w.phase("allocated")

    free_after = ctx.Array("q", w.children, lock=False)
    procs, start_line, finish_line = start_children(w, ctx, worker, free_after)
    wait_all(start_line, w.children, procs)
    w.phase("forked")
    start_line.release()
    wait_all(finish_line, w.children, procs)
    w.fact("doc001_free_bytes_in_children", list(free_after))
    w.phase("operated")
    finish_line.release()
    join_all(procs)


if __name__ == "__main__":
    run("py-list-sum", body)
