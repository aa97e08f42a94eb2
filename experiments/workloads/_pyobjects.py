"""Helpers shared by memlab's Python-object workloads (standard library only, CPython 3.8+).

- where CPython keeps a list's pointer array (`ob_item`) and the objects it points to, so that a
  workload can declare them as regions (`pointers`, `objects`);
- how many bytes pymalloc really hands out for a small object, to size a data set to `--size`.
The children's life cycle (start, checkpoints, join) is in memlab.workload.
"""
import ctypes
import sys
from itertools import islice


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


def mapped_ranges():
    """The address ranges mapped in this process now: [(start, end), ...], ascending."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            low, high = (int(part, 16) for part in line.split()[0].split("-"))
            ranges.append((low, high))
    return ranges


def _unmapped_parts(start, end, ranges):
    """The parts of [start, end) that lie outside every one of `ranges` (ascending)."""
    parts = []
    cursor = start
    for low, high in ranges:
        if high <= cursor:
            continue
        if low >= end:
            break
        if low > cursor:
            parts.append((cursor, low))
        cursor = max(cursor, high)
        if cursor >= end:
            break
    if cursor < end:
        parts.append((cursor, end))
    return parts


def object_span(seq, skip=0, mapped_before=None):
    """(start, end, count) of the address range holding the objects of `seq[skip:]`.

    From the lowest object's GC header (or pre-header) to the end of the highest object, so it
    covers every page those objects touch. `skip` leaves out leading objects that the data's
    construction did not allocate (e.g. the small ints 0..256 of list(range(n)): they live in the
    interpreter, far away, and would stretch the span over unrelated memory).

    `mapped_before` (mapped_ranges() taken just before the objects were built) narrows the span
    to memory mapped by the construction: the first objects built fill free blocks in pymalloc
    arenas that the interpreter was already using, among its own objects (functions, dicts,
    modules) whose reference counts every process keeps writing; those pages would be counted
    as the data's copies. The span then becomes the largest part of [lowest, highest) that was
    not mapped before, and `count` the objects inside it (usually all but a few thousand).
    The objects are expected to be of one type and size (the workloads build them so).
    """
    lowest = min(islice(seq, skip, None), key=id)
    highest = max(islice(seq, skip, None), key=id)
    before = sys.getsizeof(lowest) - lowest.__sizeof__()  # PyGC_Head and pre-header, if any
    start, end = id(lowest) - before, id(highest) + highest.__sizeof__()
    count = len(seq) - skip
    if mapped_before:
        parts = _unmapped_parts(start, end, mapped_before)
        if parts:
            start, end = max(parts, key=lambda part: part[1] - part[0])
            count = sum(1 for obj in islice(seq, skip, None) if start <= id(obj) < end)
    return start, end, count


def seal_pymalloc(arena_bytes=1 << 20):
    """Fills pymalloc's partly used pools and its current arena; keep the result alive.

    After the data is built, the next small allocations (the parent's and, after the fork, the
    children's: multiprocessing's start-up, the checkpoints, a collection's temporaries) would
    go to the pools and the arena where the data's last objects were placed, writing pages of
    the `objects` region that hold data: those pages would count as copied though no data was
    touched. Called after the data is built and measured, before forking, this ballast - a
    16 KiB pool's worth of every 16-byte size class up to 512 bytes, then a few arenas' worth of
    512-byte blocks - fills those pools and that arena, so later allocations start in fresh
    ones. Its objects are not tracked by the GC (object(), float, bytes) and never touched
    again.
    """
    ballast = []
    for size in range(16, 513, 16):
        if size == 16:
            ballast.extend(object() for _ in range(16384 // 16))
        elif size == 32:
            ballast.extend(float(i) for i in range(16384 // 32))
        else:  # a bytes object of n bytes takes 33 + n
            ballast.extend(bytes(size - 33) for _ in range(16384 // size + 1))
    ballast.extend(bytes(512 - 33) for _ in range(2 * arena_bytes // 512))
    return ballast


def declare_list_regions(w, data, skip=0, objects=True, mapped_before=None):
    """Declares `pointers` (the list's item array) then `objects` (the span of its elements,
    see object_span), and records their sizes as facts; returns the object count in the span
    (0 without objects)."""
    start, end = list_pointer_array(data)
    w.region("pointers", start, end)
    w.fact("pointers_bytes", end - start)
    if not objects or len(data) <= skip:
        return 0
    start, end, count = object_span(data, skip, mapped_before)
    w.region("objects", start, end)
    # How much of the span the objects themselves fill (pymalloc pools have some slack).
    if footprint(data[skip]) == footprint(data[-1]):
        objects_bytes = count * footprint(data[-1])
    else:  # e.g. strings of different lengths
        objects_bytes = sum(footprint(obj) for obj in islice(data, skip, None)
                            if start <= id(obj) < end)
    w.fact("objects_count", count)
    w.fact("objects_outside_region", len(data) - skip - count)
    w.fact("objects_bytes", objects_bytes)
    w.fact("objects_span_bytes", end - start)
    return count
