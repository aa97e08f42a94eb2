"""py-interned-strings (beyond the documents): interned strings iterated by forked children.

A global `data = [sys.intern(PREFIX + str(i)) for i in range(N)]`; the children run
`for s in data: pass`, which increments and decrements every string's reference count.
Whether that writes depends on the CPython version (PEP 683, immortal objects):
- up to 3.11 every object is mortal: the refcount writes copy every string page;
- 3.12 makes every interned string immortal: Py_INCREF/Py_DECREF skip immortal objects, so
  nothing is written and the strings stay shared;
- 3.13 makes strings interned by sys.intern() mortal again (only the interpreter's own
  statically allocated strings stay immortal): copied again.
The workload checks immortality at run time (`interned_immortal`) rather than trusting the
version number.
"""
import multiprocessing as mp
import platform
import sys

from memlab.workload import die_with_parent, operate_children, run, start_children
from _pyobjects import POINTER_BYTES, declare_list_regions, footprint, mapped_ranges, seal_pymalloc

data = None
# Not "s%d": "s1" and "s2" are interned by the interpreter already, and sys.intern would hand
# back those strings (allocated elsewhere) instead of the list's own.
PREFIX = "memlab_s"
# What one more interned string costs in the interpreter's table of interned strings (a dict):
# a 16-byte (3.11+; 24 before) entry plus its index, with the table between 1/3 and 2/3 full
# (measured: about 40 bytes, 49 before 3.11).
INTERN_TABLE_BYTES = 40 if sys.version_info >= (3, 11) else 49


def is_immortal(obj):
    """True / False, or None when this CPython cannot tell.

    3.14 has sys._is_immortal. In 3.12 and 3.13 an immortal object's refcount is pinned at a huge
    value (>= 2**30; sys.getrefcount shows 2**32 - 1 on 64-bit) that no real count reaches.
    Before 3.12 there are no immortal objects.
    """
    probe = getattr(sys, "_is_immortal", None)
    if probe is not None:
        return bool(probe(obj))
    if sys.version_info < (3, 12):
        return False
    return sys.getrefcount(obj) >= 2 ** 30


def worker(i, start_line, finish_line):
    die_with_parent()
    start_line.arrive_and_wait()
    for s in data:  # the operation: every string's refcount goes up and down once
        pass
    finish_line.arrive_and_wait()


def body(w):
    global data
    ctx = mp.get_context("fork")
    w.phase("baseline")
    # Beyond the documents: --scale paper has no sizes of its own and uses --size.
    N = 10 ** 6
    for _ in range(3):  # a string's size depends on how many digits N has
        per_string = POINTER_BYTES + footprint(PREFIX + str(N)) + INTERN_TABLE_BYTES
        N = max(1, w.size_bytes // per_string)
    # data = [sys.intern(PREFIX + str(i)) for i in range(N)], in two passes: all the strings
    # first, then interning them in place. The strings are then packed in their own pymalloc
    # arenas, and the interpreter's table of interned strings (which grows by reallocation
    # while interning) is not interleaved with them: the `objects` region holds strings only.
    mapped_before = mapped_ranges()
    data = [None] * N
    for i in range(N):
        data[i] = PREFIX + str(i)
    not_new = 0
    for i in range(N):
        s = sys.intern(data[i])
        not_new += s is not data[i]  # an equal string was interned before: not ours
        data[i] = s
    if not_new:
        raise RuntimeError("%d of the strings were interned already" % not_new)
    declare_list_regions(w, data, mapped_before=mapped_before)
    w.fact("N", N)
    w.fact("python_version", platform.python_version())
    w.fact("interned_immortal", is_immortal(data[-1]))
    w.fact("interned_refcount", sys.getrefcount(data[-1]))
    w.phase("allocated")
    ballast = seal_pymalloc()  # kept alive until the children are done; see seal_pymalloc

    procs, start_line, finish_line = start_children(w, ctx, worker)
    operate_children(w, procs, start_line, finish_line)
    del ballast


if __name__ == "__main__":
    run("py-interned-strings", body)
