"""Helpers shared by memlab's Python-object workloads (standard library only, CPython 3.8+).

- where CPython keeps a list's pointer array (`ob_item`) and the objects it points to, so that a
  workload can declare them as regions (`pointers`, `objects`);
- how many bytes pymalloc really hands out for a small object, to size a data set to `--size`;
- starting `multiprocessing.Process` children held by two checkpoints, and waiting for them
  while noticing a child that died (named by its signal, as docs/protocol.md asks).
"""
import ctypes
import signal
import sys
import time
from itertools import islice

from memlab_client import Checkpoint, ProtocolError

POINTER_BYTES = ctypes.sizeof(ctypes.c_void_p)


# -- object sizes ---------------------------------------------------------------------------
def pymalloc_block(nbytes):
    """Bytes pymalloc hands out for a request of `nbytes`: 16-byte size classes up to 512 bytes
    (64-bit CPython >= 3.8); larger requests go to malloc and cost about what they ask."""
    if nbytes <= 512:
        return (nbytes + 15) // 16 * 16
    return nbytes


def footprint(obj):
    """Heap bytes one small object occupies, its GC header (and 3.12+ pre-header) included."""
    return pymalloc_block(sys.getsizeof(obj))


# -- regions --------------------------------------------------------------------------------
def _readable(address, length):
    """True if [address, address + length) lies in one readable mapping of this process."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, perms = line.split()[:2]
            low, high = (int(part, 16) for part in span.split("-"))
            if low <= address and address + length <= high:
                return perms.startswith("r")
    return False


def list_pointer_array(lst):
    """(start, end) of a non-empty list's item array: the `ob_item` buffer of its PyListObject.

    PyListObject is PyObject_VAR_HEAD, then `PyObject **ob_item`, then `Py_ssize_t allocated`:
    the last two fields in every CPython 3 (the head differs between builds, the tail does not),
    so ob_item sits at `list.__basicsize__ - 2 pointers`. The guess is verified before it is
    used: the buffer must be mapped and hold exactly id(lst[k]) at sampled positions k.
    """
    count = len(lst)
    if count == 0:
        raise ValueError("an empty list has no pointer array")
    offset = list.__basicsize__ - 2 * POINTER_BYTES
    items = ctypes.c_void_p.from_address(id(lst) + offset).value
    allocated = ctypes.c_ssize_t.from_address(id(lst) + offset + POINTER_BYTES).value
    problem = None
    if not items or allocated < count:
        problem = "ob_item=%r allocated=%r for %d items" % (items, allocated, count)
    else:
        for k in sorted({0, 1, count // 2, count - 1} & set(range(count))):
            address = items + k * POINTER_BYTES
            if not _readable(address, POINTER_BYTES):
                problem = "item %d's slot %#x is not mapped" % (k, address)
                break
            if ctypes.c_void_p.from_address(address).value != id(lst[k]):
                problem = "item %d's slot does not point at the item" % k
                break
    if problem:
        raise RuntimeError("could not locate the list's pointer array at offset %d of the "
                           "PyListObject (%s %s): %s" % (offset, sys.implementation.name,
                                                         sys.version.split()[0], problem))
    return items, items + count * POINTER_BYTES


def object_span(seq, skip=0):
    """(start, end, count) of the address range holding the objects of `seq[skip:]`.

    From the lowest object's GC header (or pre-header) to the end of the highest object, so it
    covers every page those objects touch. `skip` leaves out leading objects that the data's
    construction did not allocate (e.g. the small ints 0..256 of list(range(n)): they live in the
    interpreter, far away, and would stretch the span over unrelated memory).
    The objects are expected to be of one type and size (the workloads build them so).
    """
    lowest = min(islice(seq, skip, None), key=id)
    highest = max(islice(seq, skip, None), key=id)
    before = sys.getsizeof(lowest) - lowest.__sizeof__()  # PyGC_Head and pre-header, if any
    return id(lowest) - before, id(highest) + highest.__sizeof__(), len(seq) - skip


def declare_list_regions(w, data, skip=0, objects=True):
    """Declares `pointers` (the list's item array) then `objects` (the span of its elements),
    and records their sizes as facts; returns the object count (0 without objects)."""
    start, end = list_pointer_array(data)
    w.region("pointers", start, end)
    w.fact("pointers_bytes", end - start)
    if not objects or len(data) <= skip:
        return 0
    start, end, count = object_span(data, skip)
    w.region("objects", start, end)
    # How much of the span the objects themselves fill (pymalloc pools have some slack).
    w.fact("objects_count", count)
    w.fact("objects_bytes", count * footprint(data[skip]))
    w.fact("objects_span_bytes", end - start)
    return count


# -- children -------------------------------------------------------------------------------
def describe_exit(code):
    if code is not None and code < 0:
        try:
            return "was killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "was killed by signal %d" % -code
    return "exited with status %s" % code


def wait_all(checkpoint, count, procs, timeout=600):
    """Waits until `count` workers reached `checkpoint`, failing (with the signal named) as soon
    as one of `procs` (multiprocessing Process objects, e.g. `pool._pool`) has ended instead."""
    deadline = time.monotonic() + timeout
    remaining = count
    while remaining:
        try:
            checkpoint.wait_all(1, timeout=0.2)
            remaining -= 1
            continue
        except ProtocolError:
            pass
        for index, proc in enumerate(procs):
            code = proc.exitcode
            if code is not None:
                raise RuntimeError("child %d (child %d of %d) %s" % (
                    proc.pid, index + 1, len(procs), describe_exit(code)))
        if time.monotonic() > deadline:
            raise ProtocolError("%d of %d workers never reached the checkpoint"
                                % (remaining, count))


def start_children(w, ctx, target, *args):
    """Starts `w.children` processes `target(i, start_line, finish_line, *args)` and announces
    them. Returns (procs, start_line, finish_line); `target` calls die_with_parent() first."""
    start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
    procs = [ctx.Process(target=target, args=(i, start_line, finish_line) + tuple(args))
             for i in range(w.children)]
    for proc in procs:
        proc.start()
    w.children_started([proc.pid for proc in procs])
    return procs, start_line, finish_line


def join_all(procs):
    for index, proc in enumerate(procs):
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError("child %d (child %d of %d) %s" % (
                proc.pid, index + 1, len(procs), describe_exit(proc.exitcode)))


def run_pool_tasks(w, pool, start_line, finish_line, func, iterable, timeout=600):
    """The measuring shape of the Pool workloads; returns the tasks' results.

    Announces the pool's workers, waits until every one is up (its initializer called
    `start_line.arrive()`), measures `forked`, then submits `func` over `iterable` with
    chunksize=1 - one task per worker, since each task holds its worker at `finish_line` until
    released - waits until every task holds, measures `operated`, releases them and collects the
    results. The pool is closed and joined (terminated first if anything failed).
    """
    finished = False
    try:
        workers = list(pool._pool)
        w.children_started([p.pid for p in workers])
        wait_all(start_line, len(workers), workers, timeout)
        w.phase("forked")
        result = pool.map_async(func, iterable, chunksize=1)
        wait_all(finish_line, len(workers), workers, timeout)
        w.phase("operated")
        finish_line.release()
        values = result.get(timeout=timeout)
        finished = True
        return values
    finally:
        if finished:
            pool.close()
        else:
            pool.terminate()  # e.g. workers still held at a checkpoint
        pool.join()
