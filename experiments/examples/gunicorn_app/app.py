"""A Flask app for a `gunicorn --preload` server whose data live in module globals.

Built once in the master before it forks its workers:
- INTS, 300k ints read by `/sum`: summing writes each int's reference count, so a worker copies
  their pages (the steady cost of serving);
- OBJECTS, 200k empty lists that no request reads: GC-tracked containers, each with its GC
  header, so they stay shared until a worker runs a full collection (`/gc`), which writes every
  tracked object's header and copies all their pages.

FREEZE=1 calls gc.freeze() at the end of the module: everything built so far moves to the
permanent generation, which gc.collect() no longer visits, so `/gc` copies nothing of it.

Endpoints answer JSON with the worker's pid: `/info` (the data's sizes), `/sum`, `/gc`.
"""

import gc
import os
import sys

from flask import Flask

INTS = list(range(100_000, 400_000))
OBJECTS = [[] for _ in range(200_000)]

# sys.getsizeof counts a tracked object's GC header.
INTS_BYTES = sys.getsizeof(INTS) + sum(sys.getsizeof(i) for i in INTS)
OBJECTS_BYTES = sum(sys.getsizeof(o) for o in OBJECTS)

app = Flask(__name__)


@app.get("/info")
def info():
    return {
        "pid": os.getpid(),
        "ints_bytes": INTS_BYTES,
        "objects": len(OBJECTS),
        "objects_bytes": OBJECTS_BYTES,
        "frozen": gc.get_freeze_count(),
    }


@app.get("/sum")
def total():
    return {"pid": os.getpid(), "sum": sum(INTS)}


@app.get("/gc")
def collect():
    return {"pid": os.getpid(), "collected": gc.collect()}


if os.environ.get("FREEZE") == "1":
    gc.freeze()
