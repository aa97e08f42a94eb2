"""py-module-ref (document 002, the "module-ref works" answer): the classifier is a private global
of `classifier_module`, workers run `pool.imap_unordered(classifier_module.classify, rd)`; the
classifier (unpicklable: its class is local to a function) stays shared by the forked workers.

The document's `classify(classifier, data_file)` and `orchestrate(classifier_spec, data_file)` as
they are, plus memlab's phases (`hooks`). `classify` only assumes that its `classifier` has a
`classify` method: here it is the module itself. The records are the common document-002 CSV
(see _classifier.py), written to a temporary file and deleted at the end.
"""
import csv
import multiprocessing as mp
import pickle
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import require, run  # noqa: E402
from _classifier import Phases, temp_csv  # noqa: E402


def classify(classifier, data_file, hooks):

    with open(data_file, "rt") as fp, hooks.pool() as pool:
        hooks.pool_started(pool)
        rd = csv.DictReader(fp)
        yield from pool.imap_unordered(classifier.classify, rd)
        hooks.finished(pool)


def orchestrate(classifier_spec, data_file, hooks):
    # construct a classifier from the spec; note that we can
    # even dynamically import modules here, using config values
    # from the spec
    import classifier_module
    classifier_module.init(classifier_spec)
    instance = getattr(classifier_module, "__classifier")
    hooks.allocated(instance)
    try:
        pickle.dumps(instance)
        hooks.w.fact("classifier_picklable", True)
    except Exception as error:  # the document's point: it cannot be pickled
        hooks.w.fact("classifier_picklable", False)
        hooks.w.fact("classifier_pickling_error", "%s: %s" % (type(error).__name__, error))
    hooks.w.fact("pickled_bytes_per_task", len(pickle.dumps(classifier_module.classify)))
    return classify(classifier_module, data_file, hooks)


def body(w):
    require(w, "numpy")
    ctx = mp.get_context("fork")  # the document relies on fork
    with temp_csv(w, "module-ref") as (data_file, csv_bytes):
        w.phase("baseline")
        rows = sum(1 for _ in orchestrate({"size_bytes": w.size_bytes, "seed": 2}, data_file, Phases(w, ctx)))
        w.fact("rows", rows)
        w.fact("csv_bytes", csv_bytes)


if __name__ == "__main__":
    run("py-module-ref", body)
