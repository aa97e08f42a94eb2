"""A list of 256 MiB of Python ints in a module global, summed by a 4-worker fork pool.

The same pool as pool_global.py, with a list of ints instead of a numpy array (document 001):
`sum(data)` takes a reference to every int object, which writes its reference count, so every
page holding int objects is copied into the worker that reads it. The list's pointer array is
only read: it stays shared.

    memlab run --max-copied-per-child 10MiB -- .venv/bin/python experiments/examples/pool_list.py

reports the copying workers and exits 3, naming them.

Each task holds its worker for `--hold` seconds (1 s) after reading the data, ON PURPOSE: a
real worker would go on computing, and memlab run measures every process every 200 ms (less
often for a big tree: its passes take at most 10% of a core, ~0.5 s apart here), so the hold
makes sure each worker is measured after it read the data rather than only at its start.
"""
import argparse
import multiprocessing as mp
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--size-mib", type=int, default=256,
                    help="memory of the list: 8-byte pointers plus 32-byte int objects (MiB)")
parser.add_argument("--workers", type=int, default=4)
parser.add_argument("--tasks", type=int, default=None, help="tasks (default: one per worker)")
parser.add_argument("--hold", type=float, default=1.0,
                    help="seconds each task keeps its worker after reading the data")
args = parser.parse_args()

# Distinct int objects (not the small cached ones), 40 bytes each with the list's pointer.
N = (args.size_mib << 20) // 40
data = list(range(1000, 1000 + N))


def task(i):
    began = time.perf_counter()
    total = sum(data)  # takes a reference to every int: writes every object's refcount
    seconds = time.perf_counter() - began
    time.sleep(args.hold)  # on purpose: see the module docstring
    return i, total, seconds, os.getpid()


if __name__ == "__main__":
    tasks = args.tasks or args.workers
    expected = N * (1000 + 1000 + N - 1) // 2
    pool = mp.get_context("fork").Pool(args.workers)
    results = pool.map(task, range(tasks), chunksize=1)
    pool.close()
    pool.join()
    if any(total != expected for _, total, _, _ in results):
        sys.exit("a worker summed something else")
    seconds = sorted(s for _, _, s, _ in results)
    print("pool_list: %d tasks on %d workers (%d distinct) summed %d ints each; median sum %.4f s"
          % (tasks, args.workers, len({pid for *_, pid in results}), N,
             seconds[len(seconds) // 2]), file=sys.stderr)
