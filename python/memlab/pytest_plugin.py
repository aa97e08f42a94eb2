"""memlab's pytest plugin (loaded through the package's `pytest11` entry point).

    @pytest.mark.memlab(max_copied_per_child="10 MiB", max_tree_unique="300 MiB")
    def test_pool_shares_the_array(): ...

Around the call of a test with the `memlab` marker (or the `memlab_tree` fixture), memlab
follows this process and everything the test forks (`memlab run --pid`, memlab itself left out
of the tree); a limit broken fails the test with memlab's own line, a test that forks nothing
fails instead of passing vacuously, and memlab missing or failing is an error of the test.
`memlab_tree.measure()` gives the figures to assert on. `--memlab-results DIR` keeps each
test's result JSON for `memlab report` and `memlab compare`.
"""

from __future__ import annotations

import subprocess
from typing import List

import pytest

from memlab._session import MemlabError, approximate_figures_note, find_memlab
from memlab._tree import ChildFigures, TreeFigures

__all__ = ["ChildFigures", "MemlabTree", "TreeFigures"]

# New-style hook wrappers and the stash: pytest 8 (pluggy >= 1.3). With an older pytest the
# plugin only declares the marker, and marked tests are skipped saying why: an installed
# memlab must never break a test run.
SUPPORTED = getattr(pytest, "version_tuple", (0,)) >= (8, 0)

if SUPPORTED:
    from memlab import _pytest_hooks

    # pytest finds hooks and fixtures among the plugin module's names.
    MemlabTree = _pytest_hooks.MemlabTree
    memlab_tree = _pytest_hooks.memlab_tree
    pytest_runtest_setup = _pytest_hooks.pytest_runtest_setup
    pytest_runtest_call = _pytest_hooks.pytest_runtest_call
    pytest_runtest_teardown = _pytest_hooks.pytest_runtest_teardown
    pytest_unconfigure = _pytest_hooks.pytest_unconfigure
else:
    class MemlabTree:  # type: ignore[no-redef]
        """Unavailable: this pytest is older than 8."""

    def pytest_runtest_setup(item: pytest.Item) -> None:
        if item.get_closest_marker("memlab") or "memlab_tree" in getattr(item, "fixturenames",
                                                                         ()):
            pytest.skip("memlab's pytest plugin needs pytest >= 8 (this is pytest %s)"
                        % pytest.__version__)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memlab", "copy-on-write memory of forked processes (memlab)")
    group.addoption(
        "--memlab-results", metavar="DIR", default=None,
        help="keep the result JSON of each test measured by memlab in DIR, one file per test "
             "named from its id (for `memlab report DIR` and `memlab compare`)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "memlab(max_copied_per_child=None, max_tree_unique=None, at=None): measure the "
        "copy-on-write memory of every process the test forks with memlab; fail the test when "
        "a forked child copied more than max_copied_per_child from its parent, or the tree's "
        "unique footprint exceeded max_tree_unique (sizes like \"10 MiB\")")
    if SUPPORTED:
        _pytest_hooks.configure(config)


def pytest_report_header(config: pytest.Config) -> List[str]:
    try:
        command = find_memlab()
    except MemlabError as error:
        return ["memlab: %s" % error]
    try:
        version = subprocess.run([command, "--version"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=30, check=True
                                 ).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError) as error:
        return ["memlab: %s does not run (%s)" % (command, error)]
    note = approximate_figures_note()
    return ["memlab: %s (%s), %s" % (version, command, note or "figures exact (CAP_SYS_ADMIN: "
                                     "physical frames compared)")]
