"""One test measured by memlab: `memlab run --pid <this process> --markers-fd FD` started
beside the test, told when the test begins and ends through the marker pipe
(docs/protocol.md, "Markers from any program"), and its result judged.

memlab is a child of this process but leaves itself out of the tree it follows, so the
measured tree is this process and what the test forks. Standard library only.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Any, Dict, List, Mapping, Optional

from memlab import _markers
from memlab._sizes import parse_size
from memlab._tree import TreeFigures, forked_children, tree_figures

MEMLAB_BIN_VARIABLE = "MEMLAB_BIN"
# The checkpoints that frame the test: the first is the handshake (memlab follows the tree
# once it answered), the last the moment the figures are taken at (unless `at` names another).
START_MARK = "test-start"
END_MARK = "test-end"
START_TIMEOUT_SECONDS = 60.0
END_TIMEOUT_SECONDS = 120.0
_POLL_SECONDS = 0.1
_MARKER_VARIABLES = ("MEMLAB_MARKER_FD", "MEMLAB_MARKER_PID")
_CAP_SYS_ADMIN = 21
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9
_MAX_NAME_CHARS = 100


class MemlabError(Exception):
    """memlab could not be started or did not measure: its own line when it printed one."""


def find_memlab(environ: Mapping[str, str] = os.environ) -> str:
    """The memlab command: $MEMLAB_BIN, else the one installed beside this package (the
    scripts directory of this interpreter, or of the user scheme), else `memlab` on PATH."""
    chosen = environ.get(MEMLAB_BIN_VARIABLE)
    if chosen:
        if not (os.path.isfile(chosen) and os.access(chosen, os.X_OK)):
            raise MemlabError("%s=%s is not an executable file" % (MEMLAB_BIN_VARIABLE, chosen))
        return chosen
    candidates = [os.path.join(sysconfig.get_paths()["scripts"], "memlab")]
    try:
        user_scripts = sysconfig.get_paths(scheme=os.name + "_user")["scripts"]
        candidates.append(os.path.join(user_scripts, "memlab"))
    except KeyError:
        pass
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("memlab", path=environ.get("PATH"))
    if on_path:
        return on_path
    raise MemlabError("the memlab command is not installed beside this Python (%s) nor on PATH; "
                      "install the memlab wheel or set %s" % (candidates[0], MEMLAB_BIN_VARIABLE))


def has_cap_sys_admin(status_text: str) -> bool:
    """Whether /proc/self/status's effective capabilities include CAP_SYS_ADMIN, which
    memlab (inheriting them) needs to read physical frame numbers: exact page truth."""
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split(":", 1)[1].strip(), 16) >> _CAP_SYS_ADMIN & 1)
    return False


def result_name(nodeid: str) -> str:
    """A result file name (memlab's --name: letters, digits, '-', '_', '.'; at most 100) from a
    test id: `tests/test_pool.py::test_map[4]` -> `tests-test_pool.py--test_map-4`."""
    import hashlib
    import re

    name = nodeid.replace("::", "--").replace("/", "-")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lstrip(".") or "test"
    if len(name) > _MAX_NAME_CHARS:
        # Two long ids may share a prefix: the digest keeps the names apart.
        digest = hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:12]
        name = name[:_MAX_NAME_CHARS - 13].rstrip("-.") + "-" + digest
    return name


@dataclass(frozen=True)
class Limits:
    """What a `@pytest.mark.memlab(...)` asks for."""

    max_copied_per_child_bytes: Optional[int] = None
    max_tree_unique_bytes: Optional[int] = None
    # The marker whose phase holds the figures and the checks (memlab run --at).
    at: Optional[str] = None

    @classmethod
    def from_marker(cls, args: tuple, kwargs: Dict[str, Any]) -> Limits:
        """Raises ValueError saying what is wrong with the marker's arguments."""
        if args:
            raise ValueError("takes keyword arguments only (max_copied_per_child=..., "
                             "max_tree_unique=..., at=...), got %r" % (args,))
        unknown = sorted(set(kwargs) - {"max_copied_per_child", "max_tree_unique", "at"})
        if unknown:
            raise ValueError("unknown argument(s) %s; it takes max_copied_per_child, "
                             "max_tree_unique and at" % ", ".join(unknown))
        sizes = {}
        for key in ("max_copied_per_child", "max_tree_unique"):
            if kwargs.get(key) is not None:
                try:
                    sizes[key] = parse_size(kwargs[key])
                except ValueError as error:
                    raise ValueError("%s=%s" % (key, error)) from None
        at = kwargs.get("at")
        if at is not None and not _markers.is_valid_name(at):
            raise ValueError("at=%r is not a marker name (1-%d characters of a-z 0-9 _ -)"
                             % (at, _markers.MAX_NAME_CHARS))
        return cls(sizes.get("max_copied_per_child"), sizes.get("max_tree_unique"), at)

    def options(self) -> List[str]:
        options = []
        if self.max_copied_per_child_bytes is not None:
            options += ["--max-copied-per-child", str(self.max_copied_per_child_bytes)]
        if self.max_tree_unique_bytes is not None:
            options += ["--max-tree-unique", str(self.max_tree_unique_bytes)]
        if self.at is not None:
            options += ["--at", self.at]
        return options


def memlab_command(memlab: str, pid: int, markers_fd: int, out_dir: str, name: str,
                   limits: Limits) -> List[str]:
    # The figures and the checks are taken at the checkpoint that ends the test, unless the
    # marker names another moment.
    at = [] if limits.at is not None else ["--at", END_MARK]
    return [memlab, "run", "--pid", str(pid), "--markers-fd", str(markers_fd),
            "--out", out_dir, "--name", name] + limits.options() + at


@dataclass(frozen=True)
class Verdict:
    """What memlab's run means for the test: `passed`, `check-failed` (memlab's exit 3),
    `forked-nothing` (nothing to measure: never a vacuous pass) or `memlab-failed`."""

    kind: str
    message: str = ""


def memlab_line(output: str) -> str:
    """memlab's own last word: its last `memlab: ...` line, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    own = [line for line in lines if line.startswith("memlab:")]
    if own:
        return own[-1]
    return lines[-1] if lines else "(memlab printed nothing)"


def judge(exit_code: int, output: str, result: Optional[Dict[str, Any]]) -> Verdict:
    """The verdict on a finished memlab: its exit status, what it printed, its result."""
    if exit_code == 3:
        failed = [line.strip() for line in output.splitlines()
                  if line.startswith("memlab: check failed")]
        return Verdict("check-failed", "\n".join(failed) or memlab_line(output))
    if exit_code != 0:
        return Verdict("memlab-failed", "memlab exited with status %d: %s"
                       % (exit_code, memlab_line(output)))
    if result is None:
        return Verdict("memlab-failed", "memlab wrote no result: " + memlab_line(output))
    forked = forked_children(result)
    measured = [p for p in forked if p.get("figures") or p.get("most_copied")]
    if not forked:
        others = len((result.get("run") or {}).get("processes") or []) - 1
        seen = (" (memlab saw %d other process%s: exec'd programs share nothing with their "
                "parent)" % (others, "" if others == 1 else "es")) if others > 0 else ""
        return Verdict("forked-nothing", "memlab: the test forked no child process%s, so "
                       "there is no copy-on-write sharing to measure: fork workers (a "
                       "multiprocessing fork context, os.fork) or remove the memlab marker"
                       % seen)
    if not measured:
        return Verdict("forked-nothing", "memlab: the test forked %d child process%s but each "
                       "exited before memlab measured it: hold workers with "
                       "memlab.checkpoint(NAME) after their work"
                       % (len(forked), "" if len(forked) == 1 else "es"))
    return Verdict("passed")


@dataclass(frozen=True)
class SessionEnd:
    """A finished memlab run for one test."""

    verdict: Verdict
    exit_code: int
    # What memlab printed (stdout and stderr): its table, its failed checks.
    output: str
    result: Optional[Dict[str, Any]]
    # None unless the result was kept, or when it could not be read.
    figures: Optional[TreeFigures]


def _die_with_parent() -> None:
    # Run in memlab's process before exec: memlab must not outlive this process.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)


class MemlabSession:
    """memlab following this process for the duration of one test."""

    def __init__(self, memlab: str, limits: Limits, name: str,
                 results_dir: Optional[str] = None) -> None:
        self.limits = limits
        self._keep_dir = results_dir is not None
        self._out_dir = results_dir if results_dir is not None else tempfile.mkdtemp(
            prefix="memlab-pytest-")
        self.result_path = os.path.join(self._out_dir, name + ".json")
        self._saved_environment = {key: os.environ.get(key) for key in _MARKER_VARIABLES}
        self._end: Optional[SessionEnd] = None
        # stdout and stderr in one file: the table and memlab's lines in the order printed.
        self._output: IO[bytes] = tempfile.TemporaryFile(prefix="memlab-output-")
        self._marker_write: Optional[int] = None
        marker_read, marker_write = os.pipe()
        command = memlab_command(memlab, os.getpid(), marker_read, self._out_dir, name, limits)
        environment = {k: v for k, v in os.environ.items() if k not in _MARKER_VARIABLES}
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT,
                pass_fds=(marker_read,), env=environment, preexec_fn=_die_with_parent)
        except OSError as error:
            os.close(marker_write)
            raise MemlabError("cannot start %s: %s" % (memlab, error)) from None
        finally:
            os.close(marker_read)  # memlab holds it now
        self._marker_write = marker_write
        self.memlab_pid = self.process.pid
        # The test, and whatever it forks, find the pipe as under `memlab run -- COMMAND`.
        os.environ["MEMLAB_MARKER_FD"] = str(marker_write)
        os.environ["MEMLAB_MARKER_PID"] = str(self.process.pid)
        _markers._reset()
        try:
            self._checkpoint(START_MARK, START_TIMEOUT_SECONDS)
        except MemlabError as error:
            # memlab's own line says more than the handshake's failure, when it printed one.
            self._close_pipe()
            if self.process.poll() is None:
                self.process.kill()
            end = self._conclude(self.process.wait(), str(error))
            raise MemlabError(end.verdict.message if end.exit_code > 0 else str(error)) from None

    # -- the marker pipe ------------------------------------------------------------------
    def _checkpoint(self, name: str, timeout_seconds: float) -> None:
        """Asks memlab to measure the tree now and waits until it has."""
        reply_read, reply_write = os.pipe()
        try:
            # Both ends stay open while waiting (docs/protocol.md, "Checkpoints").
            self._write('{"v": %d, "type": "checkpoint", "name": "%s", "pid": %d, '
                        '"reply_fd": %d}\n' % (_markers.PROTOCOL_VERSION, name, os.getpid(),
                                               reply_read))
            reply = self._await_line(reply_read, name, timeout_seconds)
        finally:
            os.close(reply_read)
            os.close(reply_write)
        try:
            message = json.loads(reply)
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("type") == "measured":
            return
        if isinstance(message, dict) and message.get("type") == "error":
            raise MemlabError("memlab could not measure checkpoint %r: %s"
                              % (name, message.get("message")))
        raise MemlabError("checkpoint %r: unexpected answer from memlab: %r" % (name, reply))

    def _write(self, line: str) -> None:
        if self._marker_write is None:
            raise MemlabError("the marker pipe is closed")
        try:
            os.write(self._marker_write, line.encode("utf-8"))
        except BrokenPipeError:
            raise MemlabError("memlab has closed the marker pipe") from None

    def _await_line(self, fd: int, name: str, timeout_seconds: float) -> str:
        deadline = time.monotonic() + timeout_seconds
        received = b""
        while b"\n" not in received:
            if self.process.poll() is not None:
                raise MemlabError("memlab exited while checkpoint %r waited" % name)
            if time.monotonic() > deadline:
                raise MemlabError("memlab did not measure checkpoint %r within %g s"
                                  % (name, timeout_seconds))
            readable, _, _ = select.select([fd], [], [], _POLL_SECONDS)
            if readable:
                received += os.read(fd, 4096)
        return received.split(b"\n", 1)[0].decode("utf-8", errors="replace")

    # -- the end ----------------------------------------------------------------------------
    def finish(self) -> SessionEnd:
        """Measures the tree once more (the figures' moment), stops memlab, reads its result.
        Called again, returns the same end."""
        if self._end is not None:
            return self._end
        late_problem = None
        try:
            if self.process.poll() is None:
                self._checkpoint(END_MARK, END_TIMEOUT_SECONDS)
                self._write('{"v": %d, "type": "stop", "pid": %d}\n'
                            % (_markers.PROTOCOL_VERSION, os.getpid()))
        except MemlabError as error:
            late_problem = str(error)
        finally:
            self._close_pipe()
        try:
            exit_code = self.process.wait(END_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            exit_code = self.process.wait()
            late_problem = "memlab did not exit within %g s of the stop; killed" % (
                END_TIMEOUT_SECONDS)
        self._end = self._conclude(exit_code, late_problem)
        return self._end

    def _conclude(self, exit_code: int, late_problem: Optional[str]) -> SessionEnd:
        output = _read_back(self._output)
        result = None
        try:
            with open(self.result_path, encoding="utf-8") as stored:
                result = json.load(stored)
        except (OSError, ValueError):
            pass
        verdict = judge(exit_code, output, result)
        if late_problem is not None and verdict.kind == "passed":
            verdict = Verdict("memlab-failed", "memlab: " + late_problem)
        figures = None
        if result is not None:
            try:
                figures = tree_figures(result, self.memlab_pid,
                                       self.result_path if self._keep_dir else None)
            except (ValueError, KeyError, TypeError) as error:
                if verdict.kind == "passed":
                    verdict = Verdict("memlab-failed", "memlab's result %s cannot be read: %s"
                                      % (self.result_path, error))
        if not self._keep_dir:
            shutil.rmtree(self._out_dir, ignore_errors=True)
        return SessionEnd(verdict, exit_code, output, result, figures)

    def _close_pipe(self) -> None:
        if self._marker_write is not None:
            os.close(self._marker_write)
            self._marker_write = None
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _markers._reset()

    def kill(self) -> None:
        """Ends memlab at once (the test run is being torn down); nothing is judged."""
        self._close_pipe()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if not self._keep_dir:
            shutil.rmtree(self._out_dir, ignore_errors=True)


def _read_back(stream: IO[bytes]) -> str:
    stream.seek(0)
    text = stream.read().decode("utf-8", errors="replace")
    stream.close()
    return text


def approximate_figures_note() -> Optional[str]:
    """Why the figures are approximate here, or None when memlab will read frame numbers."""
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            if has_cap_sys_admin(status.read()):
                return None
    except OSError:
        pass
    return ("figures approximate: no CAP_SYS_ADMIN (not root), so memlab cannot read physical "
            "frame numbers; copied pages come from the pagemap's exclusive bit")
