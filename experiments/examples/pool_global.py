"""A 256 MiB numpy array in a module global, summed by a 4-worker fork pool.

The pattern of document 000's answer: the data lives in a module global created before the pool,
so fork gives every worker the parent's pages copy-on-write, and only the task's index is
pickled. Reading the array (`sum`) writes none of its pages: the workers share it.

    memlab run -- .venv/bin/python experiments/examples/pool_global.py

shows each worker copying well under 2% of the array and the tree's unique footprint near one
array, while the workers' RSS, added up, is about five arrays.

Each task holds its worker for `--hold` seconds (1 s) after reading the data, ON PURPOSE: a
real worker would go on computing, and memlab run measures every process every 200 ms (less
often for a big tree: its passes take at most 10% of a core, ~0.5 s apart here), so the hold
makes sure each worker is measured after it read the data rather than only at its start.
Run it without memlab to see its own timings.
"""
import argparse
import multiprocessing as mp
import os
import sys
import time

import numpy as np

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--size-mib", type=int, default=256, help="size of the array (MiB)")
parser.add_argument("--workers", type=int, default=4)
parser.add_argument("--tasks", type=int, default=None, help="tasks (default: one per worker)")
parser.add_argument("--hold", type=float, default=1.0,
                    help="seconds each task keeps its worker after reading the data")
args = parser.parse_args()

# The module global, created before the pool: np.ones writes every page, so all of it is resident.
data = np.ones((args.size_mib << 20) // 8)


def task(i):
    began = time.perf_counter()
    total = float(data.sum())  # reads every page of the array
    seconds = time.perf_counter() - began
    time.sleep(args.hold)  # on purpose: see the module docstring
    return i, total, seconds, os.getpid()


if __name__ == "__main__":
    tasks = args.tasks or args.workers
    pool = mp.get_context("fork").Pool(args.workers)
    results = pool.map(task, range(tasks), chunksize=1)
    pool.close()
    pool.join()
    if any(total != data.size for _, total, _, _ in results):
        sys.exit("a worker read something else than ones")
    seconds = sorted(s for _, _, s, _ in results)
    print("pool_global: %d tasks on %d workers (%d distinct) summed %d MiB each; median sum %.4f s"
          % (tasks, args.workers, len({pid for *_, pid in results}), args.size_mib,
             seconds[len(seconds) // 2]), file=sys.stderr)
