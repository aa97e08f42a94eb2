"""memlab's pytest plugin (loaded through the `pytest11` entry point).

For now it only registers the `memlab` marker, so that `@pytest.mark.memlab(...)` is known to
pytest (no "unknown marker" warning under --strict-markers). Importing it imports nothing.
"""

from __future__ import annotations

from typing import Any


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "memlab(**limits): measure the copy-on-write memory of the test's process tree "
        "(run under memlab)",
    )
