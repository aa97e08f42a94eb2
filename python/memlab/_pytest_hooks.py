"""The pytest plugin's hooks and fixture (pytest >= 8; memlab.pytest_plugin imports them).

Setup starts memlab once the test's fixtures are set up, the call's end stops it and judges,
a memlab failure found then is an error of the teardown.
"""

from __future__ import annotations

import os
import sys
from typing import Generator, Optional, Set

import pytest

import memlab
from memlab._session import (
    Limits, MemlabError, MemlabSession, SessionEnd, find_memlab, result_name)
from memlab._tree import TreeFigures

MARKER = "memlab"
FIXTURE = "memlab_tree"
_SESSION = pytest.StashKey[MemlabSession]()
# A memlab failure found after the call: reported as an error of the test's teardown.
_PROBLEM = pytest.StashKey[str]()
_LIVE_SESSIONS = pytest.StashKey[Set[MemlabSession]]()
_USED_NAMES = pytest.StashKey[Set[str]]()
_RESULTS_DIR = pytest.StashKey[Optional[str]]()


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


def configure(config: pytest.Config) -> None:
    config.stash[_LIVE_SESSIONS] = set()
    config.stash[_USED_NAMES] = set()
    # Absolute now: a test may change the working directory.
    results_dir = config.getoption("memlab_results")
    config.stash[_RESULTS_DIR] = os.path.abspath(results_dir) if results_dir else None


def pytest_unconfigure(config: pytest.Config) -> None:
    for session in list(config.stash.get(_LIVE_SESSIONS, ())):
        session.kill()


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
    results_dir = item.config.stash[_RESULTS_DIR]
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
