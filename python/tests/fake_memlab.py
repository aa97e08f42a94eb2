"""A fake memlab for the marker client's checks (marker_checks.py). Standard library only.

It makes the marker pipe, forks the program (a function run in the child with
MEMLAB_MARKER_FD and MEMLAB_MARKER_PID set and its stderr captured), reads the program's lines
and answers its checkpoints by opening /proc/PID/fd/R, as memlab does.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import traceback
from typing import Any, Callable

from memlab import _markers
from memlab.workload import die_with_parent

WARNING_PREFIX = "memlab: warning: "
PROGRAM_LIMIT_SECONDS = 60
MARKER_VARIABLES = ("MEMLAB_MARKER_FD", "MEMLAB_MARKER_PID", "MEMLAB_CHECKPOINT_TIMEOUT")


class Outcome:
    def __init__(self, raw_lines: list[bytes], stderr: str, exit_status: int, result: Any,
                 replies: list[dict[str, Any]]) -> None:
        self.raw_lines = raw_lines
        self.messages = [json.loads(line) for line in raw_lines]
        self.stderr = stderr
        self.exit_status = exit_status
        self.result = result
        self.replies = replies  # what the fake memlab saw when it answered each checkpoint

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(WARNING_PREFIX)]

    def names(self) -> list[tuple[str, str]]:
        return [(m["type"], m["name"]) for m in self.messages]


class FakeMemlab:
    """The memlab side of the marker pipe.

    answer: what it does with a checkpoint: "measured" (answers measured), "error" (answers
    an error), "ignore" (never answers), "exit" (the process named by MEMLAB_MARKER_PID, a
    stand-in holding the pipe, dies instead of answering).
    """

    def __init__(self, answer: str = "measured") -> None:
        self.answer = answer

    def run(self, program: Callable[[], Any], env: dict[str, str | None] | None = None) -> Outcome:
        """Runs `program()` in a forked child with the marker environment (updated by `env`;
        None removes a variable) and returns what memlab saw and what the program printed."""
        marker_read, marker_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        result_read, result_write = os.pipe()
        stand_in = _StandIn(marker_read) if self.answer == "exit" else None
        memlab_pid = stand_in.pid if stand_in else os.getpid()
        environment: dict[str, str | None] = {
            "MEMLAB_MARKER_FD": str(marker_write), "MEMLAB_MARKER_PID": str(memlab_pid)}
        environment.update(env or {})
        child = os.fork()
        if child == 0:
            os.close(marker_read)
            os.close(stderr_read)
            os.close(result_read)
            _run_program(program, environment, stderr_write, result_write)
        for fd in (marker_write, stderr_write, result_write):
            os.close(fd)
        try:
            raw_lines, stderr, replies = self._serve(child, marker_read, stderr_read, stand_in)
            _, status = os.waitpid(child, 0)
            result_text = _read_all(result_read)
        finally:
            for fd in (marker_read, stderr_read, result_read):
                os.close(fd)
            if stand_in:
                stand_in.stop()
        result = json.loads(result_text) if result_text else None
        return Outcome(raw_lines, stderr, status, result, replies)

    def _serve(self, child: int, marker_read: int, stderr_read: int,
               stand_in: _StandIn | None) -> tuple[list[bytes], str, list[dict[str, Any]]]:
        """Reads until every writer of both pipes is gone (the program and what it forked)."""
        poller = select.poll()
        for fd in (marker_read, stderr_read):
            poller.register(fd, select.POLLIN)
        open_fds = {marker_read, stderr_read}
        pending, stderr, raw_lines, replies = b"", b"", [], []
        deadline = time.monotonic() + PROGRAM_LIMIT_SECONDS
        while open_fds:
            if time.monotonic() > deadline:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                raise AssertionError("the program did not finish within %d s; stderr: %s"
                                     % (PROGRAM_LIMIT_SECONDS, stderr.decode(errors="replace")))
            for fd, _ in poller.poll(1000):
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                elif fd == stderr_read:
                    stderr += chunk
                else:
                    pending += chunk
                    while b"\n" in pending:
                        line, pending = pending.split(b"\n", 1)
                        raw_lines.append(line + b"\n")
                        message = json.loads(line)
                        if message.get("type") == "checkpoint":
                            replies.append(self._answer(message, stand_in))
        if pending:
            raw_lines.append(pending)  # a line without its newline: the checks will see it
        return raw_lines, stderr.decode("utf-8", errors="replace"), replies

    def _answer(self, message: dict[str, Any], stand_in: _StandIn | None) -> dict[str, Any]:
        pid, reply_fd = message["pid"], message["reply_fd"]
        reply_path = "/proc/%d/fd/%d" % (pid, reply_fd)
        target = os.readlink(reply_path)
        # The client keeps both ends of its reply pipe open while it waits.
        holders = [fd for fd in os.listdir("/proc/%d/fd" % pid)
                   if _readlink_or_none("/proc/%d/fd/%s" % (pid, fd)) == target]
        seen = {"name": message["name"], "target": target, "ends_open": len(holders)}
        if self.answer == "exit":
            assert stand_in is not None
            stand_in.stop()
            return seen
        if self.answer == "ignore":
            return seen
        if self.answer == "measured":
            reply = {"v": 1, "type": "measured", "name": message["name"]}
        else:
            reply = {"v": 1, "type": "error", "message": "the fake memlab refuses"}
        fd = os.open(reply_path, os.O_WRONLY)
        try:
            os.write(fd, (json.dumps(reply) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
        return seen


class _StandIn:
    """A process that holds the marker pipe's read end, named as memlab by MEMLAB_MARKER_PID,
    so that a check can make 'memlab' exit. It also exits when this process dies."""

    def __init__(self, marker_read: int) -> None:
        lifeline_read, self._lifeline_write = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                keep = {marker_read, lifeline_read}
                for name in os.listdir("/proc/self/fd"):
                    if int(name) > 2 and int(name) not in keep:
                        try:
                            os.close(int(name))
                        except OSError:
                            pass  # the directory's own fd, closed by now
                os.read(lifeline_read, 1)  # end of file: the test is done, or gone
            finally:
                os._exit(0)
        os.close(lifeline_read)
        self._reaped = False

    def stop(self) -> None:
        if not self._reaped:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            os.close(self._lifeline_write)
            self._reaped = True


def _run_program(program: Callable[[], Any], environment: dict[str, str | None],
                 stderr_write: int, result_write: int) -> None:
    """The forked child: never returns."""
    code = 1
    try:
        die_with_parent()
        os.dup2(stderr_write, 2)
        os.close(stderr_write)
        sys.stderr = open(2, "w", closefd=False)
        for name in MARKER_VARIABLES:
            os.environ.pop(name, None)
        for name, value in environment.items():
            if value is not None:
                os.environ[name] = value
        _markers._reset()
        result = program()
        os.write(result_write, json.dumps(result).encode("utf-8"))
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(code)


def _read_all(fd: int) -> bytes:
    data = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return data
        data += chunk


def _readlink_or_none(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
