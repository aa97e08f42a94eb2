"""py-imap-bound-method (document 002, the question's "ideal" code): what
`pool.imap_unordered(classifier.classify, rd)` does.

(a) With the document's Classifier (it holds a `threading.Lock()`, "objects which cannot be
    pickled"), every task fails to pickle: the error is caught and recorded.
(b) With a picklable classifier (the same data, no lock) it works, but "the Classifier object would
    get copied into the worker processes on every invocation of the bound method": each task
    pickles the whole classifier. Measured: the pickled bytes per task, the time for `tasks`
    records through the bound method beside the same records through the global pattern
    (`classify_row`), and the memory: at `operated` every worker is held in the middle of one
    bound-method task, so the private classifier it unpickled is measured.

The data is the common document-002 classifier (_classifier.py: a numpy array of --size bytes);
both classifiers share the one array, so the region is declared once. Because each task moves
--size bytes through a pipe, (b) runs only `tasks` records: about 2 GiB of pickles in total,
at least two per worker.
"""
import csv
import itertools
import multiprocessing
import pickle
import sys
import time
from threading import Lock

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import Checkpoint, require, run  # noqa: E402
import _classifier  # noqa: E402

PICKLE_BUDGET_BYTES = 2 << 30

classifier = None  # the question's global pattern, timed beside the bound method
held = None  # Checkpoint holding the workers mid-task at 'operated'


def classify_row(row):
    return classifier.classify(row)


class LockedClassifier(_classifier.Classifier):
    """The document's Classifier: it holds objects which cannot be pickled."""

    def __init__(self, spec, weights=None):
        self.lock = Lock()  # unpickleable
        super().__init__(spec, weights)


class HeldClassifier(_classifier.Classifier):
    """The picklable classifier whose bound method stops once it has classified its row, so
    memlab measures the worker while it holds the classifier unpickled for this task."""

    def classify(self, row):
        result = super().classify(row)
        held.arrive_and_wait()
        return result


def classify(classifier, data_file, pool, rows=None):
    """The question's ideal code (the pool is made once, outside, for memlab's phases)."""
    with open(data_file, "rt") as fp:
        rd = csv.DictReader(fp)
        if rows is not None:
            rd = itertools.islice(rd, rows)
        yield from pool.imap_unordered(classifier.classify, rd)


def body(w):
    global classifier, held
    require(w, "numpy")
    ctx = multiprocessing.get_context("fork")  # the document relies on fork
    with _classifier.temp_csv(w, "imap-bound-method") as (data_file, csv_bytes):
        total_rows = _classifier.rows_for(w)
        w.fact("csv_bytes", csv_bytes)
        w.phase("baseline")

        spec = {"size_bytes": w.size_bytes, "seed": 2}
        classifier = _classifier.Classifier(spec)  # picklable: the same data, no lock
        locked = LockedClassifier(spec, classifier.weights)
        held_classifier = HeldClassifier(spec, classifier.weights)
        held = Checkpoint(ctx)
        hooks = _classifier.Phases(w, ctx)
        hooks.allocated(classifier)

        with hooks.pool() as pool:
            hooks.pool_started(pool)

            # (a) the document's classifier: the bound method cannot be pickled. Through the
            # question's generator the first failed task ends the iteration with the error; the
            # imap is drained here over a few records (read beforehand) to see every task fail.
            try:
                next(classify(locked, data_file, pool))
                first_error = None
            except Exception as error:
                first_error = "%s: %s" % (type(error).__name__, error)
            failed, message, succeeded = 0, None, 0
            attempts = _first_rows(data_file, 2 * w.children)
            results = pool.imap_unordered(locked.classify, attempts)
            while True:
                try:
                    next(results)
                    succeeded += 1
                except StopIteration:
                    break
                except Exception as error:
                    failed += 1
                    message = message or "%s: %s" % (type(error).__name__, error)
            w.fact("unpicklable_outcome", "pickling-error" if failed else "pickled")
            if message:
                w.fact("pickling_error", message)
            w.fact("unpicklable_first_error", first_error)
            w.fact("unpicklable_tasks", len(attempts))
            w.fact("unpicklable_failed_tasks", failed)
            w.fact("unpicklable_succeeded_tasks", succeeded)

            # (b) a picklable classifier: the bound method pickles it whole for every task.
            pickled = len(pickle.dumps(classifier.classify))
            tasks = max(2 * w.children, min(total_rows, PICKLE_BUDGET_BYTES // max(1, pickled)))
            started = time.perf_counter()
            done = sum(1 for _ in classify(classifier, data_file, pool, tasks))
            bound_seconds = time.perf_counter() - started
            started = time.perf_counter()
            with open(data_file, "rt") as fp:
                done_global = sum(1 for _ in pool.imap_unordered(
                    classify_row, itertools.islice(csv.DictReader(fp), tasks)))
            global_seconds = time.perf_counter() - started
            if done != tasks or done_global != tasks:
                raise RuntimeError("classified %d and %d records, expected %d" % (done, done_global, tasks))
            w.fact("outcome", "pickled-per-task")
            w.fact("pickled_bytes_per_task", pickled)
            w.fact("tasks", tasks)
            w.fact("bound_method_seconds", bound_seconds)
            w.fact("global_seconds", global_seconds)
            w.fact("bound_method_slowdown", bound_seconds / global_seconds if global_seconds > 0 else None)

            # Memory: one bound-method task per worker, each held after unpickling its classifier.
            # (The rows are read first: the pool's task thread must not read a file closed under it.)
            first = pool.imap_unordered(held_classifier.classify, _first_rows(data_file, w.children))
            held.wait_all(w.children)
            hooks.finished(pool)
            held.release()
            if sum(1 for _ in first) != w.children:
                raise RuntimeError("a held task did not finish")


def _first_rows(data_file, count):
    with open(data_file, "rt") as fp:
        return list(itertools.islice(csv.DictReader(fp), count))


if __name__ == "__main__":
    run("py-imap-bound-method", body)
