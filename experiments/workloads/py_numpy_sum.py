"""py-numpy-sum (document 001, run 1): a global numpy array summed by forked children stays shared.

Follows the document's script: a global `data = np.ones((N, N))`, `mp.Process(target=worker)`
children that run `data.sum()` and log document 001's "free memory" figure.
"""
import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from memlab_client import Checkpoint, die_with_parent, doc001_free_bytes, require, run  # noqa: E402

data = None


def worker(i, start_line, finish_line, free_after):
    die_with_parent()
    start_line.arrive_and_wait()
    x = data.sum()  # Exercise access to data (the document's operation)
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

    start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
    free_after = ctx.Array("q", w.children, lock=False)
    procs = [ctx.Process(target=worker, args=(i, start_line, finish_line, free_after))
             for i in range(w.children)]
    for proc in procs:
        proc.start()
    w.children_started([p.pid for p in procs])
    start_line.wait_all(w.children)
    w.phase("forked")
    start_line.release()
    finish_line.wait_all(w.children)
    w.fact("doc001_free_bytes_in_children", list(free_after))
    w.phase("operated")
    finish_line.release()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError("child %d exited with %s" % (proc.pid, proc.exitcode))


if __name__ == "__main__":
    run("py-numpy-sum", body)
