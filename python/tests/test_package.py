"""The package itself: its version is the crate's, its public names are there."""

from __future__ import annotations

import os
import re

import memlab
import memlab.workload

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_version_is_the_crates() -> None:
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as cargo:
        match = re.search(r'^version = "([^"]+)"', cargo.read(), re.MULTILINE)
    assert match is not None
    assert memlab.__version__ == match.group(1)


def test_public_api() -> None:
    assert memlab.__all__ == ["__version__", "checkpoint", "mark", "phase"]
    for name in ("Workload", "ProtocolError", "die_with_parent", "run", "require", "Checkpoint",
                 "start_children", "operate_children", "run_pool_tasks", "doc001_free_bytes"):
        assert hasattr(memlab.workload, name), name


def test_the_package_is_typed() -> None:
    assert os.path.isfile(os.path.join(os.path.dirname(memlab.__file__), "py.typed"))


def test_the_checkout_is_imported() -> None:
    # The .venv sees the checkout's python/memlab (editable), not a copy.
    assert os.path.dirname(memlab.__file__) == os.path.join(ROOT, "python", "memlab")
