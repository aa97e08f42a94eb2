"""py-pool-global (document 000, the answer): the data in a module global, read by Pool workers.

Follows the answer's code: a module-level `my_instance = MyClass()` ("constructed globally and
unconditionally, so the instance exists prior to forking in commonly accessible location"),
`pool.map(call_method, range(children))` - only the index is pickled - and `call_method(i)` that
uses the global. Here the task also READS the data (`myAttribute.sum()`) before holding its
worker at the finish checkpoint (instead of the answer's `time.sleep(10)`).

The start method comes from `op` (the start-method variants of the scenario):
- `fork` (default, the document's case): workers inherit the parent's global copy-on-write;
  reading it copies nothing.
- `spawn`: every worker is a fresh interpreter that re-imports this script as `__mp_main__`,
  which runs the module-level construction again: one private copy per worker, made when the
  worker starts (before `forked`), not by the task.
- `forkserver`: workers are forked by a server process that multiprocessing starts on first
  use. Its preload list defaults to `['__main__']`: the server should import this script,
  build one more copy, and the workers, forked from it, share that copy. But that preload
  never happened from 2013 until CPython gh-126631 was fixed in September 2025 (3.13 and 3.14
  branches; never in 3.12 or older): the server was not given the script's path (a key was
  renamed to `init_main_from_path`), so every worker re-imports the script itself and builds
  its own copy, as with spawn. Fact `forkserver_preloaded_main` says which happened.
- `forkserver-nopreload`: forkserver with `set_forkserver_preload([])`: the server never
  imports the script; every worker builds its own copy (the same as `forkserver` where the
  preload is broken).

The workload process builds its global in body(), after the `baseline` phase, so that the
parent's data is measurable; every other process builds it at import (`__name__ !=
"__main__"`), exactly as the answer's unconditional module-level construction would.
Each worker reports which process built the instance it used (fact `instance_built_by`).
"""
import json
import multiprocessing as mp
import os

from memlab.workload import Checkpoint, die_with_parent, require, run, run_pool_tasks

START_METHODS = {"fork": "fork", "spawn": "spawn", "forkserver": "forkserver",
                 "forkserver-nopreload": "forkserver"}
_finish_line = None  # the worker's finish checkpoint, set by its initializer


def element_count():
    """float64 elements of the array: the answer's 100000000, or --size bytes' worth."""
    params = json.loads(os.environ.get("MEMLAB_PARAMS", "{}"))
    if (params.get("scale") or "default") == "paper":
        return 100000000
    return max(1, int(params.get("size_bytes", 256 << 20)) // 8)


def init_worker(start_line, finish_line):
    global _finish_line
    die_with_parent()
    _finish_line = finish_line
    start_line.arrive()  # this worker is up; it then waits for a task


class MyClass(object):
    def __init__(self):
        import numpy as np  # the workload process checked it is there (require)
        self.myAttribute = np.zeros(element_count())  # basically a big memory struct
        # np.zeros takes fresh zero pages (calloc/mmap) that are not resident until written:
        # write them, so the array really is in memory (and in data_bytes).
        self.myAttribute.fill(0.0)
        self.built_by = os.getpid()

    def analyze(self, i):
        total = float(self.myAttribute.sum())  # read the data
        # The answer's time.sleep(10): hold here while memlab measures this worker.
        _finish_line.arrive_and_wait()
        return i ** 2, total, self.built_by, os.getpid()


def call_method(i):
    # Implicitly use global copy of my_instance, not one passed as an argument
    return my_instance.analyze(i)


if __name__ != "__main__":
    # Imported: a spawn or forkserver worker, or the forkserver preloading __main__.
    # Constructed globally and unconditionally (the answer), so the instance exists prior to
    # forking in commonly accessible location.
    die_with_parent()
    my_instance = MyClass()


def helper_pids(method):
    """Pids of multiprocessing's helper processes (not workers; memlab sees them as
    descendants): the forkserver and the resource tracker, where they run."""
    pids = {}
    if method == "forkserver":
        from multiprocessing import forkserver
        pids["forkserver"] = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if method != "fork":
        from multiprocessing import resource_tracker
        pids["resource_tracker"] = getattr(resource_tracker._resource_tracker, "_pid", None)
    return pids


def body(w):
    global my_instance
    op = w.op or "fork"
    if op not in START_METHODS:
        raise ValueError("unknown start method %r (one of %s)" % (op, ", ".join(START_METHODS)))
    require(w, "numpy")
    method = START_METHODS[op]
    ctx = mp.get_context(method)
    if op == "forkserver-nopreload":
        ctx.set_forkserver_preload([])
    w.fact("start_method", method)
    if method == "forkserver":
        w.fact("forkserver_preload", ["__main__"] if op == "forkserver" else [])
    w.phase("baseline")
    my_instance = MyClass()
    data = my_instance.myAttribute
    w.region("data", data.ctypes.data, data.ctypes.data + data.nbytes)
    w.fact("n", data.size)
    w.phase("allocated")

    start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
    pool = ctx.Pool(processes=w.children, initializer=init_worker,
                    initargs=(start_line, finish_line))
    helpers = helper_pids(method)
    if helpers:
        w.fact("helper_pids", helpers)
    results = run_pool_tasks(w, pool, start_line, finish_line, call_method, range(w.children))

    if sorted(r[0] for r in results) != [i ** 2 for i in range(w.children)]:
        raise RuntimeError("unexpected results %r" % (results,))
    if any(r[1] != 0.0 for r in results):
        raise RuntimeError("the workers did not read zeros: %r" % (results,))
    names = {os.getpid(): "parent"}
    names.update({pid: name for name, pid in helpers.items()})
    built_by = [names.get(builder, "worker" if builder == worker else "other")
                for _, _, builder, worker in results]
    w.fact("instance_built_by", built_by)
    if method == "forkserver":
        # False where CPython gh-126631 is not fixed: see the module docstring.
        w.fact("forkserver_preloaded_main", all(b == "forkserver" for b in built_by))


if __name__ == "__main__":
    run("py-pool-global", body)
