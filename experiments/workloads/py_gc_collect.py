"""py-gc-collect (beyond the documents): a child's garbage collection copies every container.

Automatic collection is off everywhere (`gc.disable()` first thing; children inherit it). The
parent builds many small GC-tracked containers (empty lists: a PyGC_Head plus a PyListObject,
64 bytes each, packed in pymalloc pools) held by one outer list, and forks. Each child's
operation is one `gc.collect()`: a full collection writes its bookkeeping (gc_refs, the
generation links) into the GC header of every tracked object, so the pages of all the
containers are copied although no Python code touched them. The outer list's pointer array is
only read (traversed) and stays shared.

py_gc_freeze.py is the same workload with `gc.freeze()` in the parent just before forking.
"""
import gc

gc.disable()  # no automatic collection, in the parent or in any child (before anything else)

import multiprocessing as mp  # noqa: E402
import time  # noqa: E402

from memlab.workload import die_with_parent, operate_children, run, start_children  # noqa: E402
from _pyobjects import POINTER_BYTES, declare_list_regions, footprint, mapped_ranges, seal_pymalloc  # noqa: E402

data = None


def worker(i, start_line, finish_line, collected, seconds):
    die_with_parent()
    start_line.arrive_and_wait()
    started = time.perf_counter()
    collected[i] = gc.collect()  # the operation: one full collection
    seconds[i] = time.perf_counter() - started
    finish_line.arrive_and_wait()


def make_body(freeze):
    def body(w):
        global data
        ctx = mp.get_context("fork")
        w.phase("baseline")
        # N containers: the pointer array plus one 64-byte empty list each come to --size.
        # (Beyond the documents: --scale paper has no sizes of its own and uses --size.)
        N = max(1, w.size_bytes // (POINTER_BYTES + footprint([])))
        mapped_before = mapped_ranges()
        data = [[] for _ in range(N)]
        if not gc.is_tracked(data[0]):
            raise RuntimeError("an empty list is not tracked by the GC here")
        declare_list_regions(w, data, mapped_before=mapped_before)
        w.fact("N", N)
        w.fact("tracked_objects", N)
        w.fact("gc_enabled", gc.isenabled())
        w.phase("allocated")
        ballast = seal_pymalloc()  # kept alive until the children are done; see seal_pymalloc

        collected = ctx.Array("q", w.children, lock=False)
        seconds = ctx.Array("d", w.children, lock=False)
        if freeze:
            # Moves every object tracked so far into the permanent generation, which no
            # collection examines: the children's gc.collect() leaves their headers alone.
            gc.freeze()
        w.fact("gc_frozen", bool(freeze))
        w.fact("gc_freeze_count", gc.get_freeze_count())
        procs, start_line, finish_line = start_children(w, ctx, worker, collected, seconds)

        def report():
            w.fact("gc_collected_in_child", list(collected))
            w.fact("child_operation_seconds", [round(s, 6) for s in seconds])

        operate_children(w, procs, start_line, finish_line, before_operated=report)
        del ballast
        if freeze:
            gc.unfreeze()
    return body


if __name__ == "__main__":
    run("py-gc-collect", make_body(freeze=False))
