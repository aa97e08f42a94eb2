"""py-manager-proxy (document 003, the Manager answer): "a Manager proxy, where one process holds
the memory and a manager arbitrates access to it from other processes"; "slower than the
equivalent using shared memory because the objects need to be serialized/deserialized and sent
between processes".

The data: a `manager.list()` of Python floats, about --size bytes in the manager process (a float
in a list costs 32 bytes: an 8-byte pointer and a 24-byte float object, so --size / 32 elements:
8 Mi floats at 256 MiB). It is built by `extend` in chunks of 65,536 so the workload never holds
the whole list itself (about 2 s at 256 MiB). The manager is started before `baseline` (it is the
infrastructure, like the interpreter): memlab sees it as a descendant of the workload, and its
growth from `baseline` to `allocated` is where the data is; the workload's own `data_bytes` stays
small. `--children` worker processes each read ACCESSES elements through the proxy
(`proxy[j]`: a round trip to the manager per element), timed; after `operated` the workload reads
the same elements directly from an equivalent local list (built then, freed at once), timed.
"""
import multiprocessing
import random
import statistics
import sys
import time
from multiprocessing.managers import SyncManager

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import Checkpoint, die_with_parent, run  # noqa: E402

BYTES_PER_ELEMENT = 32  # 8-byte pointer in the list + 24-byte float object
CHUNK = 65536
ACCESSES = 5000  # per worker, through the proxy
DIRECT_REPEAT = 100  # the direct reads are repeated to be timed at all


def indices(n, count, seed):
    rng = random.Random(seed)
    return [rng.randrange(n) for _ in range(count)]


def worker(i, data, n, start_line, finish_line, seconds, checksums):
    die_with_parent()
    start_line.arrive_and_wait()
    total = 0.0
    idx = indices(n, ACCESSES, seed=i)
    started = time.perf_counter()
    for j in idx:
        total += data[j]  # one request to the manager process per element
    seconds[i] = (time.perf_counter() - started) / len(idx)
    checksums[i] = total
    finish_line.arrive_and_wait()


def body(w):
    ctx = multiprocessing.get_context("fork")  # the document relies on fork
    # manager = ctx.Manager(), with its process dying with the workload:
    manager = SyncManager(ctx=ctx)
    manager.start(initializer=die_with_parent)
    w.fact("manager_pid", manager._process.pid)
    try:
        w.phase("baseline")
        n = max(CHUNK, w.size_bytes // BYTES_PER_ELEMENT)
        started = time.perf_counter()
        data = manager.list()
        rng = random.Random(3)
        for first in range(0, n, CHUNK):
            data.extend([rng.random() for _ in range(min(CHUNK, n - first))])
        w.fact("build_seconds", time.perf_counter() - started)
        if len(data) != n:
            raise RuntimeError("the manager's list has %d elements, expected %d" % (len(data), n))
        w.fact("elements", n)
        w.fact("data_nominal_bytes", n * BYTES_PER_ELEMENT)
        w.fact("accesses_per_worker", ACCESSES)
        w.phase("allocated")

        start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
        seconds = ctx.Array("d", w.children, lock=False)
        checksums = ctx.Array("d", w.children, lock=False)
        procs = [ctx.Process(target=worker, args=(i, data, n, start_line, finish_line, seconds, checksums))
                 for i in range(w.children)]
        for proc in procs:
            proc.start()
        w.children_started([p.pid for p in procs])  # the workers; the manager is a descendant
        start_line.wait_all(w.children)
        w.phase("forked")
        start_line.release()
        finish_line.wait_all(w.children)
        w.phase("operated")
        finish_line.release()
        for proc in procs:
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError("child %d exited with %s" % (proc.pid, proc.exitcode))

        # Direct access: the same reads from an equivalent local list.
        rng = random.Random(3)
        local = [rng.random() for _ in range(n)]
        best = None
        for i in range(w.children):
            idx = indices(n, ACCESSES, seed=i)
            total = 0.0
            started = time.perf_counter()
            for _ in range(DIRECT_REPEAT):
                total = 0.0
                for j in idx:
                    total += local[j]
            per_access = (time.perf_counter() - started) / (DIRECT_REPEAT * len(idx))
            best = per_access if best is None else min(best, per_access)
            if total != checksums[i]:
                raise RuntimeError("worker %d read other values through the proxy" % i)
        del local
        proxy = statistics.median(seconds)
        w.fact("proxy_seconds_per_access_per_worker", list(seconds))
        w.fact("proxy_seconds_per_access", proxy)
        w.fact("direct_seconds_per_access", best)
        w.fact("proxy_slowdown", proxy / best if best else None)
    finally:
        manager.shutdown()


if __name__ == "__main__":
    run("py-manager-proxy", body)
