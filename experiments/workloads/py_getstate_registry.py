"""py-getstate-registry (document 002, the `__getstate__`/`__setstate__` answer): the question's
`pool.imap_unordered(classifier.classify, rd)` made to work by a `SubClassifier` that pickles only
its name (a uuid) and, in the worker, takes its `__dict__` from the instance the worker inherited
by fork (found through a `WeakValueDictionary` registered in the module's globals). Each task
pickles a few dozen bytes; the classifier stays shared.

The document's `Classifier` (a `threading.Lock()` and the spec) and `SubClassifier` as they are,
except that `Classifier` also holds the common document-002 data (_classifier.Classifier: a numpy
array of --size bytes and a small dict) and `classify` computes a label instead of formatting a
string. Its `classify(classifier_spec, data_file, n_workers)` generator gets memlab's phases
(`hooks`); the records are the common document-002 CSV in a temporary file.
"""
import csv
import multiprocessing
import os
import pickle
import sys
import uuid
from threading import Lock
from weakref import WeakValueDictionary

sys.dont_write_bytecode = True  # no __pycache__ beside the workloads
from memlab.workload import require, run  # noqa: E402
import _classifier  # noqa: E402


class Classifier(_classifier.Classifier):

    def __init__(self, spec):
        self.lock = Lock()  # unpickleable
        super().__init__(spec)  # self.spec = spec, and the big read-only data

    def classify(self, row):
        return super().classify(row), os.getpid()


class SubClassifier(Classifier):

    def __init__(self, spec):
        super().__init__(spec)
        self.uuid = self._generate_uuid_string()
        self.pid = os.getpid()
        self._register_global()

    def __getstate__(self):
        """Define pickled content."""
        return {'uuid': self.uuid}

    def __setstate__(self, state):
        """Set state in child process."""
        self.__dict__ = state
        self.__dict__.update(self._get_instance().__dict__)

    def _get_instance(self):
        """Get reference to instance."""
        return globals()[self.uuid][self.uuid]

    @staticmethod
    def _generate_uuid_string():
        """Generate id as valid identifier."""
        return 'uuid_' + str(uuid.uuid4()).replace('-', '_')

    def _register_global(self):
        """Register global reference to instance."""
        weakd = WeakValueDictionary({self.uuid: self})
        globals().update({self.uuid: weakd})

    def __del__(self):
        """Clean up globals when deleted in parent."""
        if os.getpid() == self.pid:
            globals().pop(self.uuid)


def classify(classifier_spec, data_file, n_workers, hooks):
    classifier = SubClassifier(classifier_spec)
    hooks.allocated(classifier)
    hooks.w.fact("pickled_bytes_per_task", len(pickle.dumps(classifier.classify)))
    hooks.w.fact("registered_name", classifier.uuid)
    with open(data_file, "rt") as fh, hooks.pool() as pool:  # Pool(n_workers)
        hooks.pool_started(pool)
        rd = csv.DictReader(fh)
        yield from pool.imap_unordered(classifier.classify, rd)
        hooks.finished(pool)


def body(w):
    require(w, "numpy")
    ctx = multiprocessing.get_context("fork")  # the document relies on fork
    with _classifier.temp_csv(w, "getstate-registry") as (data_file, csv_bytes):
        w.phase("baseline")
        g = classify({"size_bytes": w.size_bytes, "seed": 2}, data_file, w.children, _classifier.Phases(w, ctx))
        rows = 0
        worker_pids = set()
        for (_, _), pid in g:
            rows += 1
            worker_pids.add(pid)
        del g
        w.fact("rows", rows)
        w.fact("csv_bytes", csv_bytes)
        w.fact("workers_that_classified", len(worker_pids))
        # The document's closing check: no reference left once the generator is done.
        w.fact("registry_cleaned_up", not any(name.startswith("uuid_") for name in globals()))


if __name__ == "__main__":
    run("py-getstate-registry", body)
