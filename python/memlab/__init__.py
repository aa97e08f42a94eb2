"""memlab for Python programs.

memlab measures copy-on-write memory sharing between a process and the children it forks. Run
a program under it (`memlab run -- python prog.py`) and name the moments that matter:

    import memlab

    memlab.mark("loaded")              # a named moment, measured without stopping
    with memlab.phase("train"):        # train-begin ... train-end
        ...
    memlab.checkpoint("forked")        # blocks until memlab has measured the whole tree

Outside `memlab run` every call returns at once and does nothing. The scenarios' protocol
client is `memlab.workload`. Importing this package imports nothing heavy.
"""

from __future__ import annotations

from memlab._markers import checkpoint, mark, phase

# The Rust crate's version (Cargo.toml); the wheel's version comes from the same place, and
# the tests check that the two agree.
__version__ = "0.1.0"

__all__ = ["__version__", "checkpoint", "mark", "phase"]
