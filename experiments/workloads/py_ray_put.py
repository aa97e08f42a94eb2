"""py-ray-put (document 003, the Ray answer): an array put once in Ray's shared-memory object store
is read by every task without a private copy; and the document's timing table (ray.put / ray.get
against pickle.dumps / pickle.loads).

The document's code: `ray.init()`, `array_id = ray.put(array)` once, `func.remote(array_id, i)`
tasks, `ray.get(result_ids)`. Here `ray.init(num_cpus=--children, include_dashboard=False, ...)`
so that the --children tasks run at once, each in its own worker process. Each task stops twice
(a file in the run's own temporary directory marks its arrival; it waits for the parent's go):
once as soon as it starts (`forked`: the argument is resolved - mapped from the object store -
but not read), once after reading the whole array (`operated`). The workers' pids are announced
as children; the rest of Ray (gcs_server, raylet with the plasma store, the agents, the log
monitor) is measured as descendants. `array` is --size bytes (the document's `np.ones(10**6)` at
paper scale). After `operated`, the document's table: `x = {i: np.ones(10**7) for i in range(20)}`
at paper scale (1.6 GB), by default 20 arrays adding up to --size.

Ray here: only loopback addresses (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 makes Ray use 127.0.0.1
as the node address instead of the machine's address), no usage statistics, its session files
under a temporary directory removed at the end. Nothing of Ray outlives the workload:
`ray.shutdown()` at the end; if the tree is killed instead (memlab's SIGKILL to the process group
on Ctrl-C, timeout or failure), Ray's own fate sharing ends the rest - gcs_server, raylet, the
monitors are started with PR_SET_PDEATHSIG(SIGKILL) bound to this process and are in its process
group; the workers (each in a process group of its own, children of the raylet) exit when the
raylet dies. Ray's two agents (dashboard agent, runtime-env agent; children of the raylet, in this
process group) have no such binding: if memlab itself is SIGKILLed (so nobody kills the group),
they would survive. A watchdog guards that case: a `/bin/sh` started before Ray, in this process
group, that waits on a pipe from this process; told "ok" at the normal end it exits, but if the
pipe closes without it (this process died), it SIGKILLs the whole process group. A temporary
directory left by a killed run is removed by the next run.
"""
import glob
import os
import pickle
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import require, run  # noqa: E402

RAY_INSTALL = ".venv/bin/pip install ray==2.60.0  (or: make venv)"
TMP_PREFIX = "memlab-ray-"
DOCUMENT_SECONDS = {"ray_put": 2.4, "ray_get": 0.00073, "pickle_dumps": 2.6, "pickle_loads": 1.9}
HOLD_TIMEOUT = 600


def func(array, param, hold_dir):
    """The document's task, with two stops for memlab: before and after reading the array."""
    import os
    import time

    def stop(name):
        with open(os.path.join(hold_dir, "%s-%d.tmp" % (name, param)), "w") as f:
            f.write(str(os.getpid()))
        os.rename(os.path.join(hold_dir, "%s-%d.tmp" % (name, param)),
                  os.path.join(hold_dir, "%s-%d" % (name, param)))
        deadline = time.monotonic() + HOLD_TIMEOUT
        while not os.path.exists(os.path.join(hold_dir, "go-" + name)):
            if time.monotonic() > deadline:
                raise TimeoutError("never released from " + name)
            time.sleep(0.01)

    stop("started")
    # Do stuff.
    total = float(array.sum())  # reads every page of the shared array
    stop("finished")
    return os.getpid(), total


def wait_for(hold_dir, name, count):
    """Waits until `count` tasks have arrived at stop `name`; returns their pids."""
    deadline = time.monotonic() + HOLD_TIMEOUT
    while True:
        arrived = [p for p in glob.glob(os.path.join(hold_dir, name + "-*")) if not p.endswith(".tmp")]
        if len(arrived) >= count:
            pids = []
            for path in arrived:
                with open(path) as f:
                    pids.append(int(f.read()))
            return pids
        if time.monotonic() > deadline:
            raise TimeoutError("only %d of %d ray tasks reached '%s'" % (len(arrived), count, name))
        time.sleep(0.01)


def release(hold_dir, name):
    open(os.path.join(hold_dir, "go-" + name), "w").close()


def remove_stale_dirs():
    """Removes temporary directories of earlier runs whose workload is gone."""
    removed = []
    for path in glob.glob(os.path.join(tempfile.gettempdir(), TMP_PREFIX + "*")):
        pid = os.path.basename(path)[len(TMP_PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def alive(pid):
    """True if `pid` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid):
    """The pids of every living descendant of `pid` (from /proc), the watchdog excepted."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child == _watchdog_pid:
                continue
            found.append(child)
            todo.append(child)
    return found


def start_watchdog():
    """Kills this process group if this process dies before telling the watchdog "ok".

    Only when this process leads its group (as under memlab): otherwise the group may be the
    caller's own."""
    import subprocess
    if os.getpgrp() != os.getpid():
        return None
    return subprocess.Popen(
        ["/bin/sh", "-c", 'read -r word; [ "$word" = ok ] || kill -9 -%d' % os.getpgrp()],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)


def stop_watchdog(watchdog):
    if watchdog is not None:
        watchdog.stdin.write(b"ok\n")
        watchdog.stdin.close()
        watchdog.wait()


_watchdog_pid = None


def body(w):
    global _watchdog_pid
    watchdog = start_watchdog()
    _watchdog_pid = watchdog.pid if watchdog else None
    try:
        body_with_watchdog(w)
    finally:
        stop_watchdog(watchdog)


def body_with_watchdog(w):
    # Before Ray is imported: loopback only, no usage statistics.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    np = require(w, "numpy")
    ray = require(w, "ray", RAY_INSTALL)
    w.fact("ray_version", ray.__version__)
    stale = remove_stale_dirs()
    if stale:
        w.fact("stale_ray_dirs_removed", stale)

    paper = w.scale == "paper"
    array_elements = 10 ** 6 if paper else max(1, w.size_bytes // 8)
    x_arrays, x_elements = (20, 10 ** 7) if paper else (20, max(1, w.size_bytes // (20 * 8)))
    store = 2 * (array_elements + x_arrays * x_elements) * 8 + (128 << 20)

    tmp = tempfile.mkdtemp(prefix="%s%d-" % (TMP_PREFIX, os.getpid()))
    hold_dir = os.path.join(tmp, "hold")
    os.mkdir(hold_dir)
    try:
        try:
            import logging
            ray.init(num_cpus=w.children, include_dashboard=False, object_store_memory=store,
                     _temp_dir=os.path.join(tmp, "ray"), log_to_driver=False,
                     logging_level=logging.WARNING)
        except Exception as error:
            try:
                ray.shutdown()  # whatever it had started
            except Exception:
                pass
            w.skip("ray.init() failed here: %s: %s" % (type(error).__name__, error))
            sys.exit(0)
        try:
            run_ray(w, np, ray, hold_dir, array_elements, x_arrays, x_elements, store)
        finally:
            ray_pids = descendants(os.getpid())
            ray.shutdown()
            # The workers are the raylet's children: once it is gone they are no longer ours, so
            # every process Ray had is followed by pid.
            left = []
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                left = [pid for pid in ray_pids if alive(pid)] + descendants(os.getpid())
                if not left:
                    break
                time.sleep(0.2)
            w.fact("ray_processes_left_after_shutdown", len(set(left)))
            for pid in set(left):  # none expected: say so, and do not leave them
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_ray(w, np, ray, hold_dir, array_elements, x_arrays, x_elements, store):
    remote_func = ray.remote(func)
    # Ray's own processes are up: this is the tree before the data.
    w.fact("object_store_memory", store)
    w.fact("ray_processes_at_baseline", len(descendants(os.getpid())))
    w.phase("baseline")

    array = np.ones(array_elements)
    w.region("data", array.ctypes.data, array.ctypes.data + array.nbytes)
    w.phase("allocated")

    # Store the array in the shared memory object store once
    # so it is not copied multiple times.
    array_id = ray.put(array)
    w.phase("put")

    result_ids = [remote_func.remote(array_id, i, hold_dir) for i in range(w.children)]
    pids = wait_for(hold_dir, "started", w.children)
    w.children_started(pids)
    w.fact("distinct_workers", len(set(pids)))
    w.phase("forked")
    release(hold_dir, "started")
    wait_for(hold_dir, "finished", w.children)
    w.phase("operated")
    release(hold_dir, "finished")
    output = ray.get(result_ids)
    if any(total != float(array_elements) for _, total in output):
        raise RuntimeError("a task read other values: %r" % (output,))
    del array_id, result_ids, array

    # The document's table.
    x = {i: np.ones(x_elements) for i in range(x_arrays)}
    w.fact("x_bytes", x_arrays * x_elements * 8)
    started = time.perf_counter()
    x_id = ray.put(x)
    put_seconds = time.perf_counter() - started
    started = time.perf_counter()
    new_x = ray.get(x_id)
    get_seconds = time.perf_counter() - started
    started = time.perf_counter()
    serialized = pickle.dumps(x)
    dumps_seconds = time.perf_counter() - started
    started = time.perf_counter()
    deserialized = pickle.loads(serialized)
    loads_seconds = time.perf_counter() - started
    if len(new_x) != x_arrays or len(deserialized) != x_arrays:
        raise RuntimeError("the round trips lost arrays")
    w.fact("ray_put_seconds", put_seconds)
    w.fact("ray_get_seconds", get_seconds)
    w.fact("pickle_dumps_seconds", dumps_seconds)
    w.fact("pickle_loads_seconds", loads_seconds)
    w.fact("ray_get_zero_copy", not new_x[0].flags.writeable)
    w.fact("document_seconds", DOCUMENT_SECONDS)
    del new_x, x_id, serialized, deserialized, x


if __name__ == "__main__":
    run("py-ray-put", body)
