"""Shared parts of the document-002 scenarios: the classifier, the CSV of records, the phases.

Document 002 asks how to let `multiprocessing.Pool` workers use "a large (megabytes) read-only
data structure" (a `Classifier`) to analyse a long list of small records read with
`csv.DictReader`. Every document-002 workload uses the same pieces:

- `Classifier(spec)`: the big read-only structure. Its bulk is a numpy array `weights` (the size
  of `--size`), plus a small dict `labels`; `classify(row)` reads one row of `weights` chosen by
  the record's `key` and scores the record's features with it. Nothing in it is written after
  it is built.
- `make_csv(path, rows)`: the records, one per line (`id,key,f0..f7`), into a file.
- `Phases`: the memlab phases around the document's code (`allocated` once the classifier is
  built, `forked` once every pool worker is up and idle, `operated` once the records are
  classified and the workers are idle again).
"""
import contextlib
import csv
import glob
import os
import tempfile

from memlab.workload import Checkpoint, die_with_parent

FEATURES = ["f%d" % i for i in range(8)]
DEFAULT_ROWS = 20000
# Document 002's records are "hundreds of megabytes in total" of small records: at paper scale
# the CSV is about 200 MB (about 100 bytes a record).
PAPER_ROWS = 2000000


def rows_for(workload):
    return PAPER_ROWS if workload.scale == "paper" else DEFAULT_ROWS


CSV_PREFIX = "memlab-py-csv-"


@contextlib.contextmanager
def temp_csv(workload, label):
    """A temporary CSV of the records (rows_for(workload) of them): yields (path, bytes).

    Deleted at the end; one left by a killed run (named after its workload's pid, now gone) is
    removed first."""
    directory = tempfile.gettempdir()
    for stale in glob.glob(os.path.join(directory, CSV_PREFIX + "*")):
        pid = os.path.basename(stale)[len(CSV_PREFIX):].split("-")[0]
        if pid.isdigit() and not os.path.exists("/proc/%s" % pid):
            try:
                os.unlink(stale)
            except OSError:
                pass
    fd, path = tempfile.mkstemp(prefix="%s%d-%s-" % (CSV_PREFIX, os.getpid(), label), suffix=".csv")
    os.close(fd)
    try:
        yield path, make_csv(path, rows_for(workload))
    finally:
        os.unlink(path)


def make_csv(path, rows, seed=2):
    """Writes `rows` records to `path`; returns the file's size in bytes."""
    import random
    rng = random.Random(seed)
    with open(path, "w", newline="") as fp:
        out = csv.writer(fp)
        out.writerow(["id", "key"] + FEATURES)
        for i in range(rows):
            out.writerow([i, rng.getrandbits(31)] + ["%.4f" % rng.uniform(-1, 1) for _ in FEATURES])
    return os.path.getsize(path)


def build_weights(size_bytes, seed=2):
    """The classifier's bulk: a (buckets, len(FEATURES)) float64 array of about size_bytes."""
    import numpy as np
    buckets = max(1, int(size_bytes) // (8 * len(FEATURES)))
    weights = np.empty((buckets, len(FEATURES)), dtype=np.float64)
    np.random.default_rng(seed).standard_normal(out=weights)  # every page written (touched)
    return weights


class Classifier:
    """The document's "large read-only data structure", built from a spec.

    spec: {"size_bytes": N, "seed": S}. `weights` can be handed in to build a second classifier
    over the same array (py-imap-bound-method builds two: one with a lock, one without).
    """

    def __init__(self, spec, weights=None):
        self.spec = spec
        self.weights = build_weights(spec["size_bytes"], spec.get("seed", 2)) if weights is None else weights
        self.labels = {0: "negative", 1: "positive"}

    def classify(self, row):
        features = [float(row[f]) for f in FEATURES]
        bucket = int(row["key"]) % self.weights.shape[0]
        score = float(self.weights[bucket].dot(features))  # reads the shared array
        return row["id"], self.labels[score > 0]


def pool_pids(pool):
    """The pids of a multiprocessing.Pool's worker processes."""
    return [process.pid for process in pool._pool]


def _worker_up(up):
    die_with_parent()
    up.arrive()


class Phases:
    """memlab's phases around the document's pool code (see docs/protocol.md)."""

    def __init__(self, workload, ctx):
        self.w = workload
        self.ctx = ctx
        self.up = Checkpoint(ctx)

    def pool(self):
        """The document's `multiprocessing.Pool()`, with --children fork workers that die with
        the workload and say when they are up."""
        return self.ctx.Pool(processes=self.w.children, initializer=_worker_up, initargs=(self.up,))

    def allocated(self, classifier):
        weights = classifier.weights
        self.w.region("data", weights.ctypes.data, weights.ctypes.data + weights.nbytes)
        self.w.fact("classifier_weights_bytes", int(weights.nbytes))
        self.w.phase("allocated")

    def pool_started(self, pool):
        self.w.children_started(pool_pids(pool))
        self.up.wait_all(self.w.children)
        self.w.phase("forked")

    def finished(self, pool):
        # imap_unordered has returned every result: the workers are idle and alive.
        self.w.phase("operated")
