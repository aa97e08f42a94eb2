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

import os
import subprocess
import sys
from typing import Generator, List, Optional, Set

import pytest

import memlab
from memlab._session import (
    Limits, MemlabError, MemlabSession, SessionEnd, approximate_figures_note, find_memlab,
    result_name)
from memlab._tree import ChildFigures, TreeFigures

__all__ = ["ChildFigures", "MemlabTree", "TreeFigures"]

MARKER = "memlab"
FIXTURE = "memlab_tree"
_SESSION = pytest.StashKey[MemlabSession]()
# A memlab failure found after the call: reported as an error of the test's teardown.
_PROBLEM = pytest.StashKey[str]()
_LIVE_SESSIONS = pytest.StashKey[Set[MemlabSession]]()
_USED_NAMES = pytest.StashKey[Set[str]]()


class MemlabTree:
    """The `memlab_tree` fixture: the measurement of the running test's process tree."""

    def __init__(self, item: pytest.Item) -> None:
        self._item = item

    def measure(self) -> TreeFigures:
        """Ends the measurement now: memlab measures the whole tree once more (this is the
        moment the figures are taken at, unless the marker's `at` names another), stops, and
        the figures of its result are returned. Call it while the workers you want in the
        totals are alive. Later calls return the same figures; the marker's limits are still
        checked after the test."""
        session = self._item.stash.get(_SESSION, None)
        if session is None:
            raise MemlabError("memlab is not measuring this test")
        end = session.finish()
        if end.figures is None:
            self._item.stash[_PROBLEM] = ""  # reported here, not again at teardown
            raise MemlabError(end.verdict.message or "memlab's result has no figures")
        return end.figures

    @staticmethod
    def checkpoint(name: str) -> bool:
        """memlab.checkpoint(name): memlab measures the tree now, as a phase named `name`."""
        return memlab.checkpoint(name)


@pytest.fixture
def memlab_tree(request: pytest.FixtureRequest) -> MemlabTree:
    """The figures memlab measures for this test (it is measured even without the marker)."""
    return MemlabTree(request.node)


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
    config.stash[_LIVE_SESSIONS] = set()
    config.stash[_USED_NAMES] = set()


def pytest_unconfigure(config: pytest.Config) -> None:
    for session in list(config.stash.get(_LIVE_SESSIONS, ())):
        session.kill()


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


def _wants_memlab(item: pytest.Item) -> bool:
    return (item.get_closest_marker(MARKER) is not None
            or FIXTURE in getattr(item, "fixturenames", ()))


def _start(item: pytest.Item) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("memlab measures Linux processes only")
    marker = item.get_closest_marker(MARKER)
    try:
        limits = Limits.from_marker(marker.args, marker.kwargs) if marker else Limits()
        problem = None
    except ValueError as error:
        problem = "@pytest.mark.memlab: %s" % error
    if problem is not None:  # outside the except: the report shows this line alone
        pytest.fail(problem, pytrace=False)
    results_dir = item.config.getoption("memlab_results")
    if results_dir is not None:
        os.makedirs(results_dir, exist_ok=True)
    used = item.config.stash[_USED_NAMES]
    name = result_name(item.nodeid)
    while name in used:  # two ids that read the same once made file-safe
        name = name[:90] + "-%d" % len(used)
    used.add(name)
    try:
        session = MemlabSession(find_memlab(), limits, name, results_dir)
    except MemlabError as error:
        session, problem = None, str(error)
    if session is None:
        pytest.fail(problem, pytrace=False)
    item.stash[_SESSION] = session
    item.config.stash[_LIVE_SESSIONS].add(session)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    yield  # the test's fixtures first: memlab measures the test itself
    if _wants_memlab(item):
        _start(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    session = item.stash.get(_SESSION, None)
    if session is None:
        return (yield)
    try:
        outcome = yield
    finally:
        # Also when the test failed: memlab is stopped and its figures shown; the test's own
        # failure is the one reported.
        end = session.finish()
        item.config.stash[_LIVE_SESSIONS].discard(session)
        item.add_report_section("call", "memlab", _section(end))
    verdict = end.verdict
    if verdict.kind in ("check-failed", "forked-nothing"):
        pytest.fail(verdict.message, pytrace=False)
    if verdict.kind == "memlab-failed" and _PROBLEM not in item.stash:
        item.stash[_PROBLEM] = verdict.message
    return outcome


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: Optional[pytest.Item]
                            ) -> Generator[None, None, None]:
    session = item.stash.get(_SESSION, None)
    if session is not None and session in item.config.stash[_LIVE_SESSIONS]:
        session.kill()  # the call never ran (interrupted): nothing to judge
        item.config.stash[_LIVE_SESSIONS].discard(session)
    outcome = yield
    problem = item.stash.get(_PROBLEM, "")
    if problem:
        pytest.fail(problem, pytrace=False)
    return outcome


def _section(end: SessionEnd) -> str:
    lines = [end.output.rstrip("\n")]
    if end.figures is not None:
        lines.append("figures: " + end.figures.describe())
        if end.figures.result_path:
            lines.append("result kept: " + end.figures.result_path)
    if end.verdict.kind not in ("passed", "check-failed"):  # memlab printed those lines
        lines.append(end.verdict.message)
    return "\n".join(line for line in lines if line) + "\n"
