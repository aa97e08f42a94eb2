"""py-shared-memory (beyond the documents): `multiprocessing.shared_memory.SharedMemory` backing a
numpy array; forked children attach to it by name, each writes its own slice, the parent sees the
writes and no child holds a private copy.

`SharedMemory(create=True, size=--size)` is a file in /dev/shm mapped MAP_SHARED (memlab counts it
through RssShmem); the array is `np.ndarray(..., buffer=shm.buf)`. Each child opens it by name
(`SharedMemory(name=...)`, a second mapping of the same pages) and writes `1000 + i` over its slice
through it; it reads all of it through the mapping it inherited at the parent's address, where
memlab's page truth compares its pages with the parent's (the declared region). The parent unlinks
the name as soon as every child has attached (the mappings stay valid), so /dev/shm is clean from
then on even if the tree is killed; a segment left by a killed earlier run (named after its dead
workload's pid) is removed at start.
"""
import glob
import multiprocessing
import os
import sys
from multiprocessing import resource_tracker, shared_memory

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import Checkpoint, die_with_parent, require, run  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
PREFIX = "memlab-py-shm-"
STAMP = 1000.0


def remove_stale_segments():
    """Removes /dev/shm segments left by earlier runs whose workload is gone."""
    removed = []
    for path in glob.glob("/dev/shm/" + PREFIX + "*"):
        pid = os.path.basename(path)[len(PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            try:
                os.unlink(path)
                removed.append(os.path.basename(path))
            except OSError:
                pass
    return removed


def slices(n, children):
    per_page = PAGE // 8
    pages = -(-n // per_page)
    bounds = [min(n, (pages * i // children) * per_page) for i in range(children + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(children)]


def worker(i, name, n, inherited, my_slice, attached, start_line, finish_line):
    die_with_parent()
    import numpy as np
    shm = shared_memory.SharedMemory(name=name)  # attach by name: a second mapping
    # (Python < 3.13 also registers the segment with the resource tracker from here: the tracker
    # keeps a set of names, so it is one entry, dropped by the parent's unlink().)
    attached.arrive()
    start_line.arrive_and_wait()
    np.frombuffer(inherited, dtype=np.float64, count=n).sum()  # reads all of it, inherited
    a = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
    start, end = my_slice
    a[start:end] = STAMP + i  # writes every page of its slice
    del a
    finish_line.arrive_and_wait()
    shm.close()


def body(w):
    np = require(w, "numpy")
    ctx = multiprocessing.get_context("fork")
    w.fact("stale_segments_removed", remove_stale_segments())
    resource_tracker.ensure_running()  # started now, so it is part of the baseline tree
    w.phase("baseline")

    n = max(w.children * PAGE // 8, w.size_bytes // 8)
    name = "%s%d-%s" % (PREFIX, os.getpid(), os.urandom(4).hex())
    shm = shared_memory.SharedMemory(name=name, create=True, size=n * 8)
    linked = True
    procs = []
    try:
        a = np.ndarray((n,), dtype=np.float64, buffer=shm.buf)
        a[:] = -1.0  # touch every page
        w.region("data", a.ctypes.data, a.ctypes.data + a.nbytes)
        w.fact("elements", n)
        w.fact("shm_name", name)
        w.phase("allocated")

        attached, start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx), Checkpoint(ctx)
        parts = slices(n, w.children)
        procs = [ctx.Process(target=worker, args=(i, name, n, shm.buf, parts[i], attached, start_line, finish_line))
                 for i in range(w.children)]
        for proc in procs:
            proc.start()
        w.children_started([p.pid for p in procs])
        attached.wait_all(w.children)
        shm.unlink()  # every child has its mapping: the name is no longer needed
        linked = False
        w.fact("dev_shm_entry_after_unlink", os.path.exists("/dev/shm/" + name))
        start_line.wait_all(w.children)
        w.phase("forked")
        start_line.release()
        finish_line.wait_all(w.children)
        w.phase("operated")

        per_page = PAGE // 8
        pages_checked = pages_written = elements_written = 0
        for i, (start, end) in enumerate(parts):
            part = a[start:end]
            elements_written += int(np.count_nonzero(part == STAMP + i))
            firsts = part[::per_page]
            pages_checked += len(firsts)
            pages_written += int(np.count_nonzero(firsts == STAMP + i))
        w.fact("pages_checked_by_parent", pages_checked)
        w.fact("pages_showing_child_writes", pages_written)
        w.fact("elements_checked_by_parent", n)
        w.fact("elements_showing_child_writes", elements_written)
        w.fact("writes_visible_to_parent",
               pages_checked > 0 and pages_written == pages_checked and elements_written == n)
        finish_line.release()
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError("child %d exited with %s" % (proc.pid, proc.exitcode))
        del a, part, firsts
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
        if linked:
            shm.unlink()
        try:
            shm.close()
        except BufferError:  # a numpy view still exists (failure path): the exit unmaps it
            pass


if __name__ == "__main__":
    run("py-shared-memory", body)
