"""py-pool-self (document 000, the question): `pool.map` over `(self, i)` gives every worker its
own copy of the data.

Follows the question's code: `class MyClass` with `self.myAttribute = np.zeros(n)`, a method
that builds `arg_lists = [(self, i) for i in range(children)]`, a Pool of `children` processes
and `call_method(args)` that unpacks `my_instance, i` and calls `my_instance.analyze(i)`. The
answer explains the memory: every task's arguments, `self` and its array included, are pickled,
sent over a pipe and unpickled in the worker, which rebuilds the data from scratch - a private
copy per worker, beside the fork's copy-on-write view of the original that it never uses.

Instead of the question's `time.sleep(10)`, `analyze` holds its worker at the finish checkpoint,
so the unpickled copy is alive (and measured) at the `operated` phase.
"""
import multiprocessing as mp

from memlab.workload import Checkpoint, die_with_parent, require, run, run_pool_tasks

_finish_line = None  # the worker's finish checkpoint, set by its initializer


def init_worker(start_line, finish_line):
    global _finish_line
    die_with_parent()
    _finish_line = finish_line
    start_line.arrive()  # this worker is up; it then waits for a task


class MyClass(object):
    def __init__(self, np, n):
        self.myAttribute = np.zeros(n)  # basically a big memory struct
        # np.zeros takes fresh zero pages (calloc/mmap) that are not resident until written:
        # write them, so the array really is in memory (and in data_bytes) before the fork.
        self.myAttribute.fill(0.0)

    def my_multithreaded_analysis(self, w, ctx):
        start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
        arg_lists = [(self, i) for i in range(w.children)]
        pool = ctx.Pool(processes=w.children, initializer=init_worker,
                        initargs=(start_line, finish_line))
        result = run_pool_tasks(w, pool, start_line, finish_line, call_method, arg_lists)
        if sorted(result) != [i ** 2 for i in range(w.children)]:
            raise RuntimeError("unexpected results %r" % result)

    def analyze(self, i):
        # The question's time.sleep(10): hold here while memlab measures this worker.
        _finish_line.arrive_and_wait()
        return i ** 2


def call_method(args):
    my_instance, i = args
    return my_instance.analyze(i)


class _Counter(object):
    """A write-only file that only counts bytes."""
    def __init__(self):
        self.bytes = 0

    def write(self, chunk):
        self.bytes += len(chunk)
        return len(chunk)


def pickled_size(obj):
    """Bytes the Pool sends for `obj`: multiprocessing's own pickler, without keeping the bytes."""
    from multiprocessing.reduction import ForkingPickler
    sink = _Counter()
    ForkingPickler(sink).dump(obj)
    return sink.bytes


def body(w):
    np = require(w, "numpy")
    ctx = mp.get_context("fork")  # the document relies on fork
    w.phase("baseline")
    # The question's np.zeros(100000000) (800 MB); by default --size bytes of float64.
    n = 100000000 if w.scale == "paper" else max(1, w.size_bytes // 8)
    my_instance = MyClass(np, n)
    data = my_instance.myAttribute
    w.region("data", data.ctypes.data, data.ctypes.data + data.nbytes)
    w.fact("n", n)
    w.phase("allocated")
    my_instance.my_multithreaded_analysis(w, ctx)
    # What each task carried through the pipe (measured after the run, not to disturb it).
    w.fact("pickled_task_bytes", pickled_size((my_instance, 0)))


if __name__ == "__main__":
    run("py-pool-self", body)
