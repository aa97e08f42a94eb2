"""py-shared-numpy (document 003, the SharedNumpyMemManager answer): numpy arrays backed by
`multiprocessing.RawArray`, written by `Pool` workers without locks: no private copies, the
writes land in the one shared array; the document's `Parallel_Dummy_PF` benchmark times
`update_par` (pool.map over N_PROC workers) against `update_seq` ("speedups by a factor of
approx 3 on a quad-core i7").

The document's code ported to Python 3: `RawArray` needs an `int` size (`np.prod` gives a numpy
integer), the `reshape` uses the handle just created (`self.cur`; the document indexes with
`self.cnt`, the same slot for the first array), and the context is fork. N_PROC = --children.

Sizes: at paper scale the document's own (N = 1000 doubles, INNER_LOOP = 10000). By default the
array is 2-D, N = --size / 8 KiB rows of ROW = 1024 doubles (8 KiB: two pages), so that
`propagate`'s unchanged `a[i] = i` writes row i (numpy broadcasting) and the workers write all
--size bytes, each write a small one as in the document (not a memory-bandwidth test); INNER_LOOP
is calibrated so that `update_seq` takes about 1.5 s. Only the `update_*` calls are timed (the document's timeit
also counts building the pool and printing).
"""
import ctypes
import multiprocessing
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import Checkpoint, die_with_parent, require, run  # noqa: E402

try:
    import numpy as np
except ImportError:  # reported as a skip by require() in body()
    np = None

_ctx = multiprocessing.get_context("fork")  # the document relies on fork


class SharedNumpyMemManagerError(Exception):
    pass


# Singleton Pattern
class SharedNumpyMemManager:

    _initSize = 1024

    _instance = None

    def __new__(cls, *args, **kwargs):
        if not cls._instance:
            cls._instance = super(SharedNumpyMemManager, cls).__new__(
                                cls, *args, **kwargs)
        return cls._instance

    def __init__(self):
        self.lock = _ctx.Lock()
        self.cur = 0
        self.cnt = 0
        self.shared_arrays = [None] * SharedNumpyMemManager._initSize

    def __createArray(self, dimensions, ctype=ctypes.c_double):

        self.lock.acquire()

        # double size if necessary
        if (self.cnt >= len(self.shared_arrays)):
            self.shared_arrays = self.shared_arrays + [None] * len(self.shared_arrays)

        # next handle
        self.__getNextFreeHdl()

        # create array in shared memory segment
        shared_array_base = _ctx.RawArray(ctype, int(np.prod(dimensions)))

        # convert to numpy array vie ctypeslib
        self.shared_arrays[self.cur] = np.ctypeslib.as_array(shared_array_base)

        # do a reshape for correct dimensions
        # Returns a masked array containing the same data, but with a new shape.
        # The result is a view on the original array
        self.shared_arrays[self.cur] = self.shared_arrays[self.cur].reshape(dimensions)

        # update cnt
        self.cnt += 1

        self.lock.release()

        # return handle to the shared memory numpy array
        return self.cur

    def __getNextFreeHdl(self):
        orgCur = self.cur
        while self.shared_arrays[self.cur] is not None:
            self.cur = (self.cur + 1) % len(self.shared_arrays)
            if orgCur == self.cur:
                raise SharedNumpyMemManagerError('Max Number of Shared Numpy Arrays Exceeded!')

    def __freeArray(self, hdl):
        self.lock.acquire()
        # set reference to None
        if self.shared_arrays[hdl] is not None:  # consider multiple calls to free
            self.shared_arrays[hdl] = None
            self.cnt -= 1
        self.lock.release()

    def __getArray(self, i):
        return self.shared_arrays[i]

    @staticmethod
    def getInstance():
        if not SharedNumpyMemManager._instance:
            SharedNumpyMemManager._instance = SharedNumpyMemManager()
        return SharedNumpyMemManager._instance

    @staticmethod
    def createArray(*args, **kwargs):
        return SharedNumpyMemManager.getInstance().__createArray(*args, **kwargs)

    @staticmethod
    def getArray(*args, **kwargs):
        return SharedNumpyMemManager.getInstance().__getArray(*args, **kwargs)

    @staticmethod
    def freeArray(*args, **kwargs):
        return SharedNumpyMemManager.getInstance().__freeArray(*args, **kwargs)


# Init Singleton on module load
SharedNumpyMemManager.getInstance()

N_PROC = 8
INNER_LOOP = 10000
N = 1000
DIMENSIONS = N  # the document's: a 1-D array of N doubles
ROW = 1024  # by default: a 2-D array of N rows of ROW doubles


def propagate(t):
    i, shm_hdl, evidence = t
    a = SharedNumpyMemManager.getArray(shm_hdl)
    for j in range(INNER_LOOP):
        a[i] = i


def _worker_up(up):
    die_with_parent()
    up.arrive()


class Parallel_Dummy_PF:

    def __init__(self, N, hooks):
        self.N = N
        self.arrayHdl = SharedNumpyMemManager.createArray(DIMENSIONS, ctype=ctypes.c_double)
        hooks.allocated(self)
        self.pool = _ctx.Pool(processes=N_PROC, initializer=_worker_up, initargs=(hooks.up,))
        hooks.pool_started(self.pool)

    def update_par(self, evidence):
        self.pool.map(propagate, zip(range(self.N), [self.arrayHdl] * self.N, [evidence] * self.N))

    def update_seq(self, evidence):
        for i in range(self.N):
            propagate((i, self.arrayHdl, evidence))

    def getArray(self):
        return SharedNumpyMemManager.getArray(self.arrayHdl)


class Hooks:
    """memlab's phases inside Parallel_Dummy_PF's constructor."""

    def __init__(self, w):
        self.w = w
        self.up = Checkpoint(_ctx)

    def allocated(self, pf):
        global INNER_LOOP
        a = pf.getArray()
        a[...] = -1.0  # touch every page
        base = a.ctypes.data
        self.w.region("data", base, base + a.nbytes)
        if self.w.scale != "paper":
            INNER_LOOP = calibrate(pf, target_seconds=1.5)
        self.w.fact("N", pf.N)
        self.w.fact("shape", list(a.shape))
        self.w.fact("INNER_LOOP", INNER_LOOP)
        self.w.fact("N_PROC", N_PROC)
        self.w.phase("allocated")

    def pool_started(self, pool):
        self.w.children_started([p.pid for p in pool._pool])
        self.up.wait_all(N_PROC)
        self.w.phase("forked")


def calibrate(pf, target_seconds):
    """INNER_LOOP such that update_seq takes about target_seconds (the array is left as it was)."""
    global INNER_LOOP
    a = pf.getArray()
    rows = min(pf.N, 500)
    INNER_LOOP = 20
    started = time.perf_counter()
    for i in range(rows):
        propagate((i, pf.arrayHdl, 5))
    per_write = (time.perf_counter() - started) / (rows * INNER_LOOP)
    a[:rows] = -1.0
    return max(1, int(round(target_seconds / (per_write * pf.N))))


def body(w):
    global N_PROC, N, DIMENSIONS
    require(w, "numpy")
    w.phase("baseline")
    N_PROC = w.children
    if w.scale == "paper":
        N, DIMENSIONS = 1000, 1000
    else:
        N = max(1, w.size_bytes // (8 * ROW))
        DIMENSIONS = (N, ROW)

    pf = Parallel_Dummy_PF(N, Hooks(w))
    a = pf.getArray()
    expected = np.arange(N, dtype=np.float64).reshape((N,) + (1,) * (a.ndim - 1))

    started = time.perf_counter()
    pf.update_seq(5)
    sequential = time.perf_counter() - started
    sequential_ok = bool((a == expected).all())
    a[...] = -1.0  # so that the parallel run's writes can be checked

    started = time.perf_counter()
    pf.update_par(5)
    parallel = time.perf_counter() - started
    # pool.map has returned: the workers are idle and alive.
    w.fact("sequential_seconds", sequential)
    w.fact("parallel_seconds", parallel)
    w.fact("speedup", sequential / parallel if parallel > 0 else None)
    w.fact("document_speedup", 3.0)
    w.fact("document_cores", 4)
    w.fact("document_n_proc", 8)
    w.fact("cores", os.cpu_count())
    w.fact("load_average", list(os.getloadavg()))  # other work on the machine competes for the cores
    w.phase("operated")
    w.fact("sequential_result_correct", sequential_ok)
    w.fact("writes_visible_to_parent", bool((a == expected).all()))
    pf.pool.close()
    pf.pool.join()
    SharedNumpyMemManager.freeArray(pf.arrayHdl)


if __name__ == "__main__":
    run("py-shared-numpy", body)
