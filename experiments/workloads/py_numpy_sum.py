"""py-numpy-sum (document 001, run 1): a global numpy array summed by forked children stays shared.

Follows the document's script: a global `data = np.ones((N, N))`, `mp.Process(target=worker)`
children that run `data.sum()` and log document 001's "free memory" figure.
"""
import multiprocessing as mp

from memlab.workload import (
    die_with_parent, doc001_free_bytes, operate_children, require, run, start_children)

data = None


def worker(i, start_line, finish_line, free_after):
    die_with_parent()
    start_line.arrive_and_wait()
    data.sum()  # Exercise access to data (the document's `x = data.sum()`)
    free_after[i] = doc001_free_bytes()
    finish_line.arrive_and_wait()


def body(w):
    global data
    np = require(w, "numpy")

    ctx = mp.get_context("fork")  # the document relies on fork
    w.phase("baseline")
    initial_free = doc001_free_bytes()
    # The document's N = 15000 (1.8 GB); by default N is chosen so that N*N*8 = --size.
    N = 15000 if w.scale == "paper" else max(1, int((w.size_bytes / 8) ** 0.5))
    data = np.ones((N, N))
    w.region("data", data.ctypes.data, data.ctypes.data + data.nbytes)
    w.fact("N", N)
    w.fact("doc001_free_bytes_initial", initial_free)
    w.fact("doc001_free_bytes_after_allocating", doc001_free_bytes())
    w.phase("allocated")

    free_after = ctx.Array("q", w.children, lock=False)
    procs, start_line, finish_line = start_children(w, ctx, worker, free_after)
    operate_children(w, procs, start_line, finish_line, before_operated=lambda: w.fact(
        "doc001_free_bytes_in_children", list(free_after)))


if __name__ == "__main__":
    run("py-numpy-sum", body)
