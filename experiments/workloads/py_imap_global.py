"""py-imap-global (document 002, the question's pattern): a module-global classifier used by
`pool.imap_unordered(classify_row, csv.DictReader(fp))` stays shared by the forked workers.

The document's skeleton, as it is: a global `classifier`, `classify_row(row)` that uses it, and a
generator `classify(classifier_spec, data_file)` that builds the classifier, opens the records and
yields from `pool.imap_unordered`. The only additions are memlab's phases (`hooks`). The
classifier's bulk is a numpy array of --size bytes (see _classifier.py); the records are a CSV of
20,000 rows (2,000,000 at paper scale) written to a temporary file and deleted at the end.
"""
import csv
import multiprocessing
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import require, run  # noqa: E402
from _classifier import Classifier, Phases, temp_csv  # noqa: E402

classifier = None


def classify_row(row):
    return classifier.classify(row)


def classify(classifier_spec, data_file, hooks):
    global classifier
    try:
        classifier = Classifier(classifier_spec)
        hooks.allocated(classifier)
        with open(data_file, "rt") as fp, \
             hooks.pool() as pool:
            hooks.pool_started(pool)
            rd = csv.DictReader(fp)
            yield from pool.imap_unordered(classify_row, rd)
            hooks.finished(pool)
    finally:
        classifier = None


def body(w):
    require(w, "numpy")

    ctx = multiprocessing.get_context("fork")  # the document relies on fork
    with temp_csv(w, "imap-global") as (data_file, csv_bytes):
        w.phase("baseline")
        rows = 0
        for _ in classify({"size_bytes": w.size_bytes, "seed": 2}, data_file, Phases(w, ctx)):
            rows += 1
        w.fact("rows", rows)
        w.fact("csv_bytes", csv_bytes)


if __name__ == "__main__":
    run("py-imap-global", body)
