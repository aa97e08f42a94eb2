"""py-gc-freeze (beyond the documents): `gc.freeze()` before fork keeps the containers shared.

The workload of py_gc_collect.py (automatic collection off, many small GC-tracked containers,
children run one `gc.collect()` each), with the remedy the gc module documents for pre-fork
servers: `gc.freeze()` in the parent just before forking moves every tracked object into the
permanent generation, which a collection never examines, so the children's collections write
no GC header of the parent's containers and their pages stay shared.
"""
from py_gc_collect import make_body  # first: it disables automatic collection
from memlab.workload import run

if __name__ == "__main__":
    run("py-gc-freeze", make_body(freeze=True))
