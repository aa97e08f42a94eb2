"""Checks of memlab's marker client against a fake memlab. Standard library only, Python >= 3.8.

pytest runs them under the .venv's Python (test_markers.py), and each CPython found runs this
file as a script (test_interpreters.py): `python marker_checks.py` runs every check and ends
with the line `marker-checks: N passed, M failed`. The fake memlab is fake_memlab.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

import memlab
from fake_memlab import MARKER_VARIABLES, FakeMemlab, Outcome
from memlab import _markers


def _package_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(memlab.__file__)))


def _nothing_readable(fd: int) -> bool:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1) == b""
    except BlockingIOError:
        return True


def _expect(outcome: Outcome, names: list[tuple[str, str]], warnings: int) -> None:
    assert outcome.exit_status == 0, "the program failed:\n" + outcome.stderr
    assert outcome.names() == names, (outcome.names(), outcome.stderr)
    assert len(outcome.warnings) == warnings, outcome.stderr
    assert outcome.stderr.count("\n") == warnings, outcome.stderr  # nothing else on stderr


# -- the messages --------------------------------------------------------------------------------
def check_mark_sends_one_line() -> None:
    def program() -> int:
        memlab.mark("loaded")
        return os.getpid()

    outcome = FakeMemlab().run(program)
    _expect(outcome, [("mark", "loaded")], warnings=0)
    assert outcome.raw_lines == [
        b'{"v": 1, "type": "mark", "name": "loaded", "pid": %d}\n' % outcome.result]


def check_phase_sends_begin_and_end() -> None:
    def program() -> int:
        with memlab.phase("train"):
            memlab.mark("inside")
        try:
            with memlab.phase("boom"):
                raise KeyError("the block's own error")
        except KeyError:
            pass  # it propagates; the end marker was sent anyway
        else:
            raise AssertionError("phase swallowed the exception")
        return os.getpid()

    outcome = FakeMemlab().run(program)
    _expect(outcome, [("begin", "train"), ("mark", "inside"), ("end", "train"),
                      ("begin", "boom"), ("end", "boom")], warnings=0)
    assert all(m == {"v": 1, "type": m["type"], "name": m["name"], "pid": outcome.result}
               for m in outcome.messages), outcome.messages


def check_checkpoint_waits_for_the_answer() -> None:
    def program() -> list[Any]:
        fds_before = sorted(os.listdir("/proc/self/fd"))
        measured = memlab.checkpoint("ready")
        return [measured, fds_before == sorted(os.listdir("/proc/self/fd")), os.getpid()]

    outcome = FakeMemlab().run(program)
    _expect(outcome, [("checkpoint", "ready")], warnings=0)
    measured, fds_closed, pid = outcome.result
    assert measured is True
    assert fds_closed, "the reply pipe was not closed after the answer"
    message = outcome.messages[0]
    assert message["pid"] == pid and message["v"] == 1 and isinstance(message["reply_fd"], int)
    assert outcome.replies[0]["target"].startswith("pipe:[")
    assert outcome.replies[0]["ends_open"] == 2, outcome.replies


def check_checkpoint_error_answer_warns() -> None:
    outcome = FakeMemlab(answer="error").run(
        lambda: [memlab.checkpoint("one"), memlab.checkpoint("two")])
    _expect(outcome, [("checkpoint", "one"), ("checkpoint", "two")], warnings=1)
    assert outcome.result == [False, False]
    assert "the fake memlab refuses" in outcome.warnings[0]


def check_checkpoint_timeout_warns_once() -> None:
    def program() -> list[Any]:
        started = time.monotonic()
        answers = [memlab.checkpoint("slow"), memlab.checkpoint("slower")]
        memlab.mark("still-on")
        return answers + [time.monotonic() - started]

    outcome = FakeMemlab(answer="ignore").run(program, {"MEMLAB_CHECKPOINT_TIMEOUT": "0.3"})
    _expect(outcome, [("checkpoint", "slow"), ("checkpoint", "slower"), ("mark", "still-on")],
            warnings=1)
    assert outcome.result[:2] == [False, False]
    assert outcome.result[2] >= 0.6, outcome.result
    assert "no answer from memlab within 0.3 s" in outcome.warnings[0]


def check_checkpoint_gives_up_when_memlab_exits() -> None:
    def program() -> list[Any]:
        started = time.monotonic()
        measured = memlab.checkpoint("orphan")
        memlab.mark("after")  # markers are off now
        return [measured, time.monotonic() - started]

    outcome = FakeMemlab(answer="exit").run(program)
    _expect(outcome, [("checkpoint", "orphan")], warnings=1)
    measured, waited_seconds = outcome.result
    assert measured is False
    assert waited_seconds < 10, waited_seconds  # the liveness check, not the 300 s limit
    assert "exited while checkpoint 'orphan' waited" in outcome.warnings[0]


# -- forked workers ------------------------------------------------------------------------------
def check_forked_child_is_named_by_its_pid() -> None:
    def program() -> list[int]:
        memlab.mark("parent")
        child = os.fork()
        if child == 0:
            code = 1
            try:
                memlab.mark("child")
                code = 0 if memlab.checkpoint("child-ready") else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        return [os.getpid(), child, status]

    outcome = FakeMemlab().run(program)
    parent, child, status = outcome.result
    assert status == 0, "the forked child's checkpoint was not answered"
    _expect(outcome, [("mark", "parent"), ("mark", "child"), ("checkpoint", "child-ready")],
            warnings=0)
    assert [m["pid"] for m in outcome.messages] == [parent, child, child]


def check_lines_from_concurrent_workers_never_interleave() -> None:
    workers, marks_each = 4, 500

    def program() -> list[int]:
        pids = []
        for worker in range(workers):
            pid = os.fork()
            if pid == 0:
                try:
                    for index in range(marks_each):
                        memlab.mark("worker-%d-mark-%d" % (worker, index))
                finally:
                    os._exit(0)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        return pids

    outcome = FakeMemlab().run(program)
    assert outcome.exit_status == 0 and not outcome.stderr, outcome.stderr
    assert len(outcome.messages) == workers * marks_each
    for worker, pid in enumerate(outcome.result):
        names = [m["name"] for m in outcome.messages if m["pid"] == pid]
        assert names == ["worker-%d-mark-%d" % (worker, i) for i in range(marks_each)]


def check_first_calls_from_many_threads_all_arrive() -> None:
    threads_count = 8

    def program() -> None:
        import threading

        barrier = threading.Barrier(threads_count)
        # A slow first resolution (it reads memlab's /proc/PID/fd): the other threads call
        # while it runs, and must wait for it rather than find markers off.
        holds_pipe = _markers._memlab_holds_pipe

        def slow_holds_pipe(memlab_pid: int, inode: int) -> bool | None:
            time.sleep(0.05)
            return holds_pipe(memlab_pid, inode)

        _markers._memlab_holds_pipe = slow_holds_pipe

        def first_call(index: int) -> None:
            barrier.wait()
            memlab.mark("thread-%d" % index)

        threads = [threading.Thread(target=first_call, args=(i,)) for i in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    outcome = FakeMemlab().run(program)
    assert outcome.exit_status == 0 and not outcome.stderr, outcome.stderr
    assert sorted(m["name"] for m in outcome.messages) == sorted(
        "thread-%d" % i for i in range(threads_count)), outcome.messages


def _spawned_worker_marks() -> bool:
    """In a multiprocessing spawn worker: the environment came along, the fd did not. If that
    number is free here, make it one of the worker's own pipes (as its connections might be);
    if it is in use, it is the worker's own already. Mark; nothing may reach that file."""
    fd = int(os.environ["MEMLAB_MARKER_FD"])
    try:
        os.fstat(fd)
        own_read = None  # in use by the worker: the pool's answer arriving intact tells
    except OSError:
        own_read, own_write = os.pipe()
        os.dup2(own_write, fd)
        os.close(own_write)
    memlab.mark("from-spawned-worker")
    markers_off = _markers._channel is None
    return markers_off and (own_read is None or _nothing_readable(own_read))


def check_spawned_worker_without_the_fd_writes_nothing() -> None:
    def program() -> bool:
        memlab.mark("before-pool")
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            untouched = pool.apply(_spawned_worker_marks)
        memlab.mark("after-pool")
        return untouched

    outcome = FakeMemlab().run(program)
    _expect(outcome, [("mark", "before-pool"), ("mark", "after-pool")], warnings=1)
    assert outcome.result is True, "a marker went into the worker's own pipe"
    assert "a pipe that memlab" in outcome.warnings[0], outcome.warnings


# -- off: not run by memlab ----------------------------------------------------------------------
def check_unset_environment_does_nothing() -> None:
    def program() -> list[Any]:
        memlab.mark("a")
        with memlab.phase("b"):
            pass
        return [memlab.checkpoint("c"), _markers._channel is None]

    outcome = FakeMemlab().run(
        program, {"MEMLAB_MARKER_FD": None, "MEMLAB_MARKER_PID": None})
    _expect(outcome, [], warnings=0)
    assert outcome.result == [False, True]


def check_unset_environment_imports_nothing() -> None:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import memlab\n"
        "memlab.mark('a')\n"
        "with memlab.phase('b'):\n"
        "    pass\n"
        "assert memlab.checkpoint('c') is False\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n")
    env = {k: v for k, v in os.environ.items() if k not in MARKER_VARIABLES}
    env["PYTHONPATH"] = _package_dir()
    output = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert output.stderr == b"", output.stderr
    imported = set(json.loads(output.stdout))
    assert imported <= {"memlab", "memlab._markers", "__future__"}, imported


# -- bad input: one warning, no exception --------------------------------------------------------
def check_bad_names_skip_that_call_with_one_warning() -> None:
    def program() -> list[Any]:
        memlab.mark("Loaded")
        memlab.mark("")
        memlab.mark("x" * 41)
        memlab.mark(None)  # type: ignore[arg-type]
        memlab.mark("new\nline")
        with memlab.phase("p" * 35):  # 35 + "-begin" is over 40
            pass
        answered = memlab.checkpoint("not ok")
        memlab.mark("x" * 40)
        with memlab.phase("p" * 34):
            pass
        memlab.mark("ok_name-2")
        return [answered]

    outcome = FakeMemlab().run(program)
    _expect(outcome, [("mark", "x" * 40), ("begin", "p" * 34), ("end", "p" * 34),
                      ("mark", "ok_name-2")], warnings=1)
    assert outcome.result == [False]
    assert "'Loaded'" in outcome.warnings[0]


def check_garbage_environment_turns_markers_off() -> None:
    def program() -> bool:
        memlab.mark("a")
        answered = memlab.checkpoint("b")
        memlab.mark("c")
        return answered

    environments: list[dict[str, str | None]] = [
        {"MEMLAB_MARKER_FD": "three"}, {"MEMLAB_MARKER_PID": "-5"},
        {"MEMLAB_MARKER_PID": None}, {"MEMLAB_MARKER_FD": None}]
    for env in environments:
        outcome = FakeMemlab().run(program, env)
        _expect(outcome, [], warnings=1)
        assert outcome.result is False
        assert "not an fd number and a pid" in outcome.warnings[0], (env, outcome.warnings)


def check_closed_fd_turns_markers_off() -> None:
    unused = 900

    def program() -> None:
        try:
            os.close(unused)
        except OSError:
            pass
        memlab.mark("a")
        memlab.mark("b")

    outcome = FakeMemlab().run(program, {"MEMLAB_MARKER_FD": str(unused)})
    _expect(outcome, [], warnings=1)
    assert "MEMLAB_MARKER_FD=900 is not an open file descriptor" in outcome.warnings[0]


def check_fd_that_is_not_a_pipe_turns_markers_off() -> None:
    def program() -> int:
        with tempfile.TemporaryFile() as regular:
            os.environ["MEMLAB_MARKER_FD"] = str(regular.fileno())
            memlab.mark("a")
            memlab.mark("b")
            return os.fstat(regular.fileno()).st_size

    outcome = FakeMemlab().run(program)
    _expect(outcome, [], warnings=1)
    assert outcome.result == 0, "a marker was written into a regular file"
    assert "is not a pipe" in outcome.warnings[0]


def check_pipe_memlab_does_not_hold_turns_markers_off() -> None:
    def program() -> bool:
        own_read, own_write = os.pipe()
        os.environ["MEMLAB_MARKER_FD"] = str(own_write)
        memlab.mark("a")
        memlab.mark("b")
        return _nothing_readable(own_read)

    outcome = FakeMemlab().run(program)
    _expect(outcome, [], warnings=1)
    assert outcome.result is True, "a marker went into a pipe memlab does not hold"


def check_broken_pipe_turns_markers_off() -> None:
    def program() -> list[Any]:
        # This program is its own 'memlab': it holds the read end, then closes it.
        own_read, own_write = os.pipe()
        os.environ["MEMLAB_MARKER_FD"] = str(own_write)
        os.environ["MEMLAB_MARKER_PID"] = str(os.getpid())
        memlab.mark("one")
        first = os.read(own_read, 4096)
        os.close(own_read)
        memlab.mark("two")  # EPIPE
        memlab.mark("three")
        return [first.decode(), memlab.checkpoint("four")]

    outcome = FakeMemlab().run(program)
    _expect(outcome, [], warnings=1)
    first, answered = outcome.result
    assert json.loads(first)["name"] == "one" and answered is False
    assert "memlab has closed the marker pipe" in outcome.warnings[0]


def check_reused_fd_number_is_never_written() -> None:
    def program() -> bool:
        memlab.mark("before")
        fd = int(os.environ["MEMLAB_MARKER_FD"])
        own_read, own_write = os.pipe()
        os.dup2(own_write, fd)  # the number now names another pipe
        os.close(own_write)
        memlab.mark("after")
        memlab.mark("again")
        return _nothing_readable(own_read)

    outcome = FakeMemlab().run(program)
    _expect(outcome, [("mark", "before")], warnings=1)
    assert outcome.result is True
    assert "no longer memlab's marker pipe" in outcome.warnings[0]


def check_garbage_timeout_uses_the_default() -> None:
    outcome = FakeMemlab().run(lambda: memlab.checkpoint("t"),
                               {"MEMLAB_CHECKPOINT_TIMEOUT": "soon"})
    _expect(outcome, [("checkpoint", "t")], warnings=1)
    assert outcome.result is True
    assert "MEMLAB_CHECKPOINT_TIMEOUT='soon'" in outcome.warnings[0]


def check_name_rule() -> None:
    valid = ["a", "z" * 40, "0", "load_data-2", "-", "_"]
    invalid = ["", "z" * 41, "A", "a b", "é", "a.b", "a/b", None, 3, b"bytes"]
    assert all(_markers.is_valid_name(name) for name in valid)
    assert not any(_markers.is_valid_name(name) for name in invalid)
    assert _markers.MAX_PHASE_NAME_CHARS == 34
    assert _markers.is_valid_name("p" * 34, _markers.MAX_PHASE_NAME_CHARS)
    assert not _markers.is_valid_name("p" * 35, _markers.MAX_PHASE_NAME_CHARS)


CHECKS = [value for name, value in sorted(globals().items()) if name.startswith("check_")]


def main() -> int:
    failed = 0
    for check in CHECKS:
        try:
            check()
            print("ok    %s" % check.__name__)
        except Exception:
            failed += 1
            print("FAIL  %s\n%s" % (check.__name__, traceback.format_exc()))
    print("Python %s" % sys.version.split()[0])
    print("marker-checks: %d passed, %d failed" % (len(CHECKS) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
