"""The figures of one `memlab run` result, as a small typed object a test asserts on.

Read from the result JSON (schema version 2, docs/results.md): the headline moment's tree
totals (`summary`) and each forked child's page truth (`run.processes[].figures`).
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from memlab._sizes import format_size

Result = Dict[str, Any]


@dataclass(frozen=True)
class ChildFigures:
    """One process the test forked (without exec): its pages against its parent's."""

    pid: int
    parent_pid: Optional[int]
    # 1, 2, ... in order of first sighting ("child 1" in memlab's table and messages).
    child_index: int
    # Pages the child and its parent both map at different frames: what copy-on-write cost.
    copied_bytes: int
    # Pages still shared with the parent (None without page truth).
    shared_bytes: Optional[int]
    # Pages only the child maps (what it allocated itself).
    child_only_bytes: Optional[int]
    # Copied plus child-only.
    private_bytes: int
    # Page truth by physical frame (root); False: the pagemap's exclusive bit or an estimate.
    exact: bool
    # Which measurement: "headline", "last-pass" or "at-exit" (it exited before the
    # headline), "most-copied".
    moment: str


@dataclass(frozen=True)
class TreeFigures:
    """The measured process tree of one test: pytest's process and everything it forked."""

    children: Tuple[ChildFigures, ...]
    # The result's phase of the headline moment: the children's figures (unless a child had
    # exited before it: its own `moment` says so).
    phase: str
    # The phase the tree totals below come from: the headline's, or the tree at its peak
    # (the largest unique footprint) when memlab's summary gives that one.
    tree_phase: str
    # Summed over the tree's processes at that moment: what tools that add up RSS report.
    rss_bytes: int
    pss_bytes: int
    uss_bytes: int
    # Distinct physical pages of the tree (None when that pass did not take the footprint).
    unique_bytes: Optional[int]
    # ΣRSS / unique: how many times adding up RSS counts the same memory.
    overcount_factor: Optional[float]
    # Every process memlab saw in the tree (memlab itself is never one of them).
    pids: Tuple[int, ...]
    memlab_pid: int
    # The result JSON, when it was kept (--memlab-results).
    result_path: Optional[str]

    @property
    def copied_bytes_per_child(self) -> Tuple[int, ...]:
        return tuple(child.copied_bytes for child in self.children)

    @property
    def max_copied_bytes(self) -> int:
        """The most any forked child copied (0 when nothing was forked)."""
        return max(self.copied_bytes_per_child, default=0)

    @property
    def exact(self) -> bool:
        """Whether every child's figures are page truth by physical frame."""
        return bool(self.children) and all(child.exact for child in self.children)

    def describe(self) -> str:
        """One line for a test's report."""
        factor = ("×%.2f" % self.overcount_factor) if self.overcount_factor is not None else "-"
        unique = format_size(self.unique_bytes) if self.unique_bytes is not None else "-"
        copied = ", ".join(format_size(size) for size in self.copied_bytes_per_child)
        return ("%d forked %s, copied [%s] at '%s'; tree at '%s': ΣRSS %s, ΣPSS %s, "
                "unique %s, over-count %s" % (len(self.children),
                                              "child" if len(self.children) == 1
                                              else "children", copied, self.phase,
                                              self.tree_phase,
                                   format_size(self.rss_bytes), format_size(self.pss_bytes),
                                   unique, factor))


def forked_children(result: Result) -> list[dict[str, Any]]:
    """The records of the processes forked without exec, in order of first sighting."""
    processes = (result.get("run") or {}).get("processes") or []
    forked = [p for p in processes if p.get("kind") == "forked"]
    return sorted(forked, key=lambda p: (p.get("child_index") or 0, p.get("first_seen_s", 0.0)))


def _child_figures(record: dict[str, Any]) -> Optional[ChildFigures]:
    figures = record.get("figures") or record.get("most_copied")
    if not figures:
        return None  # seen, never measured (it lived less than a pass)
    return ChildFigures(
        pid=int(record["pid"]),
        parent_pid=record.get("parent_pid"),
        child_index=int(record.get("child_index") or 0),
        copied_bytes=int(figures["copied_bytes"]),
        shared_bytes=figures.get("shared_bytes"),
        child_only_bytes=figures.get("child_only_bytes"),
        private_bytes=int(figures["private_bytes"]),
        exact=bool(figures.get("exact")),
        moment=figures.get("moment") or ("headline" if record.get("figures") else "most-copied"),
    )


def _tree_phase(result: Result, summary: dict[str, Any]) -> str:
    """The phase whose tree the summary's totals are: the headline's, else the peak's."""
    phases = {p.get("name"): p.get("tree") or {} for p in result.get("phases") or []}
    headline = str(summary.get("phase", ""))
    for name in (headline, (result.get("run") or {}).get("peak_phase")):
        tree = phases.get(name)
        if tree and (tree.get("rss_bytes"), tree.get("pss_bytes")) == (
                summary.get("tree_rss_bytes"), summary.get("tree_pss_bytes")):
            return str(name)
    return headline


def tree_figures(result: Result, memlab_pid: int, result_path: Optional[str]) -> TreeFigures:
    """The figures of a `memlab run` result. Raises ValueError on a file of another shape."""
    summary = result.get("summary")
    if result.get("scenario") != "run" or not isinstance(summary, dict):
        raise ValueError("not a `memlab run` result (scenario %r)" % result.get("scenario"))
    children = [_child_figures(record) for record in forked_children(result)]
    processes = (result.get("run") or {}).get("processes") or []
    return TreeFigures(
        children=tuple(child for child in children if child is not None),
        phase=str(summary.get("phase", "")),
        tree_phase=_tree_phase(result, summary),
        rss_bytes=int(summary.get("tree_rss_bytes", 0)),
        pss_bytes=int(summary.get("tree_pss_bytes", 0)),
        uss_bytes=int(summary.get("tree_uss_bytes", 0)),
        unique_bytes=summary.get("tree_unique_bytes"),
        overcount_factor=summary.get("overcount_factor"),
        pids=tuple(int(p["pid"]) for p in processes),
        memlab_pid=memlab_pid,
        result_path=result_path,
    )
