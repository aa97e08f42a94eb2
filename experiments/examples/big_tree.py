"""A large tree for memlab's own memory: a parent holding GIB gibibytes in 4 KiB pages and two
pool workers that read all of it (sharing it), each write ~2 MiB (their copies), while the
parent rewrites its last 8 MiB after the workers were first seen (its rewrites, not theirs).

    memlab run --json --out /tmp/big -- python experiments/examples/big_tree.py 16

The run's `facts.truth_passes.memlab_peak_rss_bytes` is memlab's own peak memory.
"""

import mmap
import multiprocessing
import sys
import time

import numpy as np

GIB = int(sys.argv[1]) if len(sys.argv) > 1 else 1
WRITTEN_PER_WORKER = 250_000  # float64s: ~2 MiB
PARENT_REWRITES = 1 << 20  # float64s: 8 MiB

# Private anonymous memory with huge pages refused: one frame number per 4 KiB page, the
# captures' worst case (a huge page is one run of frames).
buffer = mmap.mmap(-1, GIB << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
buffer.madvise(mmap.MADV_NOHUGEPAGE)
data = np.frombuffer(buffer, dtype=np.float64)
data[:] = 1.0


def work(index: int) -> float:
    time.sleep(1)
    start = index * 1_000_000
    data[start : start + WRITTEN_PER_WORKER] = 2.0
    time.sleep(3)
    # One element a page: the worker maps every page, shared with the parent.
    return float(data[:: 4096 // 8].sum())


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        sums = pool.map_async(work, range(2))
        time.sleep(0.5)
        data[-PARENT_REWRITES:] = 3.0
        print(sums.get())
