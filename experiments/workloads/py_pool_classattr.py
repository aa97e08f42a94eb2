"""py-pool-classattr (document 000, the class-attribute answer): the data in a class attribute,
used by an @classmethod in Pool workers, stays shared.

Follows that answer's code: `class MyClass` with `myAttribute = np.zeros(100000000)` as a class
attribute, `@classmethod my_multithreaded_analysis` mapping `analyze` over `range(children)`
(only the bound classmethod and the index are pickled: the class travels by name) and
`@classmethod analyze(cls, i)`, which here READS `cls.myAttribute` and, instead of the answer's
`time.sleep(10)`, holds its worker at the finish checkpoint. Fork, as the document.

A class body runs at import, before memlab's `baseline` phase; so the class attribute is
assigned after it (`MyClass.myAttribute = ...` in body()): the same class attribute, built at a
measurable moment. Nothing else differs from the answer's "glorified global".
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

    myAttribute = None  # basically a big memory struct (np.zeros, assigned by body())
    # myAttribute is a class-attribute

    @classmethod
    def my_multithreaded_analysis(cls, w, ctx):
        start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
        arg_list = [i for i in range(w.children)]
        pool = ctx.Pool(processes=w.children, initializer=init_worker,
                        initargs=(start_line, finish_line))
        result = run_pool_tasks(w, pool, start_line, finish_line, cls.analyze, arg_list)
        if sorted(r for r, _ in result) != [i ** 2 for i in range(w.children)]:
            raise RuntimeError("unexpected results %r" % (result,))
        if any(total != 0.0 for _, total in result):
            raise RuntimeError("the workers did not read zeros: %r" % (result,))

    @classmethod
    def analyze(cls, i):
        total = float(cls.myAttribute.sum())  # access cls.myAttribute w/o worry here
        # The answer's time.sleep(10): hold here while memlab measures this worker.
        _finish_line.arrive_and_wait()
        return i ** 2, total


def body(w):
    np = require(w, "numpy")
    ctx = mp.get_context("fork")  # the document relies on fork
    w.phase("baseline")
    # The answer's np.zeros(100000000) (800 MB); by default --size bytes of float64.
    n = 100000000 if w.scale == "paper" else max(1, w.size_bytes // 8)
    MyClass.myAttribute = np.zeros(n)
    # np.zeros takes fresh zero pages (calloc/mmap) that are not resident until written:
    # write them, so the array really is in memory (and in data_bytes) before the fork.
    MyClass.myAttribute.fill(0.0)
    data = MyClass.myAttribute
    w.region("data", data.ctypes.data, data.ctypes.data + data.nbytes)
    w.fact("n", n)
    w.phase("allocated")
    my_instance = MyClass()
    # Note that now you can instantiate MyClass anywhere in your app,
    # While still taking advantage of copy-on-write forking
    my_instance.my_multithreaded_analysis(w, ctx)


if __name__ == "__main__":
    run("py-pool-classattr", body)
