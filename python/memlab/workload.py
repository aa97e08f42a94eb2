"""The workload side of memlab's phase protocol (docs/protocol.md), for Python workloads.

Standard library only: it must run under every CPython memlab finds, numpy or not (memlab puts
this package on the workload's PYTHONPATH, so it need not be installed there).

    from memlab.workload import Workload
    w = Workload.start("py-numpy-sum")      # hello; stdout now belongs to the protocol
    w.phase("baseline")                      # blocks until memlab has measured the tree
    data = ...
    w.region("data", address, address + nbytes)
    w.phase("allocated")
    ...
    w.done()

memlab runs the workload as `python SCRIPT` with the parameters as JSON in MEMLAB_PARAMS.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TextIO

if TYPE_CHECKING:
    from multiprocessing.context import (
        BaseContext, DefaultContext, ForkContext, ForkServerContext, SpawnContext)
    from multiprocessing.pool import Pool
    from multiprocessing.process import BaseProcess
    from typing import Union

    # What multiprocessing.get_context() returns (BaseContext has no Process).
    Context = Union[DefaultContext, ForkContext, ForkServerContext, SpawnContext]

PROTOCOL_VERSION = 1
_PR_SET_PDEATHSIG = 1
_SIGKILL = 9


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG).

    Call it first thing in every process a workload forks (pool initializer, Process target):
    no worker may outlive memlab, even if memlab itself is SIGKILLed.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class ProtocolError(Exception):
    pass


class Workload:
    """A connection to the memlab orchestrator."""

    def __init__(self, name: str, proto_in: TextIO, proto_out: TextIO,
                 params: dict[str, Any]) -> None:
        self.name = name
        self._in = proto_in
        self._out = proto_out
        self.params = params

    @classmethod
    def start(cls, name: str) -> Workload:
        """Takes the protocol pipes, sends hello, and returns the connection.

        The protocol owns the process's original stdout; afterwards fd 1 (and sys.stdout)
        point at stderr, so a stray print() - in this process or any child it forks - cannot
        corrupt the protocol stream.
        """
        die_with_parent()
        expected_parent = os.environ.get("MEMLAB_ORCHESTRATOR_PID")
        if expected_parent and os.getppid() != int(expected_parent):
            sys.exit(1)
        proto_out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8")
        os.dup2(2, 1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        # Children must not inherit the protocol pipes (they would hide the parent's death).
        os.set_inheritable(proto_out.fileno(), False)
        os.set_inheritable(proto_in.fileno(), False)
        sys.stdout = sys.stderr
        params = json.loads(os.environ.get("MEMLAB_PARAMS", "{}"))
        workload = cls(name, proto_in, proto_out, params)
        runtime = "%s %s" % (platform.python_implementation(), platform.python_version())
        workload._send({"msg": "hello", "protocol": PROTOCOL_VERSION, "workload": name,
                        "pid": os.getpid(), "runtime": runtime})
        return workload

    # -- parameters -------------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        return int(self.params.get("size_bytes", 256 << 20))

    @property
    def children(self) -> int:
        return int(self.params.get("children", 4))

    @property
    def op(self) -> str | None:
        return self.params.get("op")

    @property
    def scale(self) -> str:
        """'default' (sizes that fit the machine) or 'paper' (the documents' own sizes)."""
        return self.params.get("scale") or "default"

    # -- messages ---------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        if os.getpid() != self._owner_pid():
            raise ProtocolError("only the workload process may speak the protocol")
        self._out.write(json.dumps(message, separators=(",", ":")) + "\n")
        self._out.flush()

    def _owner_pid(self) -> int:
        # The pid that started the protocol; set lazily so forked children are refused.
        if not hasattr(self, "_pid"):
            self._pid = os.getpid()
        return self._pid

    def region(self, name: str, start: int, end: int) -> None:
        self._send({"msg": "region", "name": name, "start": int(start), "end": int(end)})

    def children_started(self, pids: Iterable[int]) -> None:
        self._send({"msg": "children", "pids": [int(p) for p in pids]})

    def fact(self, name: str, value: Any) -> None:
        self._send({"msg": "fact", "name": name, "value": value})

    def phase(self, name: str) -> None:
        """Announces a phase and blocks until memlab has measured it."""
        self._send({"msg": "phase", "name": name})
        line = self._in.readline()
        if not line:
            raise ProtocolError("orchestrator closed the protocol pipe")
        reply = json.loads(line)
        if reply.get("msg") == "go":
            return
        if reply.get("msg") == "abort":
            raise ProtocolError("orchestrator aborted: %s" % reply.get("reason"))
        raise ProtocolError("unexpected reply %r" % line)

    def skip(self, reason: str, install: str | None = None) -> None:
        message = {"msg": "skip", "reason": reason}
        if install:
            message["install"] = install
        self._send(message)

    def error(self, message: str) -> None:
        self._send({"msg": "error", "message": message})

    def done(self) -> None:
        self._send({"msg": "done"})


def run(name: str, body: Callable[[Workload], object]) -> None:
    """Runs `body(workload)` and reports any exception as a protocol error (exit 1)."""
    workload = Workload.start(name)
    try:
        body(workload)
    except SystemExit:
        raise  # a deliberate exit (e.g. after a skip) is not a failure
    except BaseException as error:  # report everything, then fail
        import traceback
        traceback.print_exc()
        try:
            workload.error("%s: %s" % (type(error).__name__, error))
        finally:
            sys.exit(1)
    workload.done()


INSTALL_HINT = "make venv  (creates .venv with experiments/requirements.txt)"


def require(workload: Workload, module_name: str, install: str | None = INSTALL_HINT) -> Any:
    """Imports a dependency, or reports the scenario as skipped (with how to install it) and exits.

    A missing dependency is a skip with a reason, never a silent drop or a crash.
    """
    import importlib
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        workload.skip("%s is not importable by %s (%s)" % (module_name, sys.executable, error), install)
        sys.exit(0)


def pool_pids(pool: Pool) -> list[int]:
    """The worker pids of a multiprocessing Pool (it keeps them in a private attribute)."""
    return [process.pid for process in pool._pool]  # type: ignore[attr-defined]


def doc001_free_bytes() -> int:
    """Document 001's 'free memory': MemFree + Buffers + Cached from /proc/meminfo, in bytes."""
    total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            field, amount = line.split(":", 1)
            if field in ("MemFree", "Buffers", "Cached"):
                number, unit = amount.split()
                if unit != "kB":
                    raise ValueError("unknown unit %r in /proc/meminfo" % unit)
                total += int(number) * 1024
    return total


class Checkpoint:
    """Holds forked workers at a quiet moment so memlab can measure them.

    Create it before forking (it uses the context's primitives, inherited by children, or passed
    to spawn/forkserver workers through a Pool's initargs). A worker calls `arrive_and_wait()`;
    the parent calls `wait_all(n)`, measures (`workload.phase(...)`), then `release()`. Two
    checkpoints frame an operation:

        start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
        # worker:  start_line.arrive_and_wait(); operate(); finish_line.arrive_and_wait()
        # parent:  start_line.wait_all(n); w.phase("forked"); start_line.release()
        #          finish_line.wait_all(n); w.phase("operated"); finish_line.release()

    Measuring at `forked` (before any child operates) is what lets memlab tell what each
    child copied *because of* its operation. Releasing hands out one permit per worker that
    arrived (a semaphore, never blocking: multiprocessing's Event.set() would wait forever for a
    waiter that was killed).
    """

    def __init__(self, ctx: BaseContext) -> None:
        self._arrived = ctx.Semaphore(0)
        self._go = ctx.Semaphore(0)
        self._counted = 0  # arrivals the parent has seen (parent-side state)
        self._released = 0

    def arrive(self) -> None:
        """Signal arrival without waiting (e.g. from a Pool initializer: workers are up)."""
        self._arrived.release()

    def arrive_and_wait(self) -> None:
        self._arrived.release()
        self._go.acquire()

    def wait_all(self, count: int, timeout: float = 600,
                 procs: Sequence[BaseProcess] | None = None) -> None:
        """Waits until `count` more workers arrived. With `procs` (multiprocessing processes,
        e.g. `pool._pool`), fails as soon as one of them has ended instead, naming how."""
        deadline = time.monotonic() + timeout
        remaining = count
        while remaining:
            if self._arrived.acquire(timeout=0.2):
                remaining -= 1
                self._counted += 1
                continue
            if procs is not None:
                check_alive(procs)
            if time.monotonic() > deadline:
                raise ProtocolError("%d of %d workers never reached the checkpoint" % (remaining, count))

    def release(self) -> None:
        """Lets every worker that arrived go on."""
        for _ in range(self._counted - self._released):
            self._go.release()
        self._released = self._counted


# -- the children's life cycle -----------------------------------------------------------------
def describe_exit(code: int | None) -> str:
    """How a multiprocessing child ended, naming the signal (as docs/protocol.md asks)."""
    if code is not None and code < 0:
        try:
            return "was killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "was killed by signal %d" % -code
    return "exited with status %s" % code


def check_alive(procs: Sequence[BaseProcess]) -> None:
    """Raises (naming the signal) if one of `procs` has ended."""
    for index, proc in enumerate(procs):
        code = proc.exitcode
        if code is not None:
            raise RuntimeError("child %s (child %d of %d) %s" % (
                proc.pid, index + 1, len(procs), describe_exit(code)))


def start_children(w: Workload, ctx: Context, target: Callable[..., object],
                   *args: Any) -> tuple[Sequence[BaseProcess], Checkpoint, Checkpoint]:
    """Starts `w.children` processes `target(i, start_line, finish_line, *args)` and announces
    them. Returns (procs, start_line, finish_line); `target` calls die_with_parent() first."""
    start_line, finish_line = Checkpoint(ctx), Checkpoint(ctx)
    # daemon: if the workload fails, multiprocessing terminates them at exit instead of
    # waiting forever for children held at a checkpoint.
    procs = [ctx.Process(target=target, args=(i, start_line, finish_line) + tuple(args), daemon=True)
             for i in range(w.children)]
    for proc in procs:
        proc.start()
    # A started process has a pid.
    w.children_started([proc.pid for proc in procs])  # type: ignore[misc]
    return procs, start_line, finish_line


def operate_children(w: Workload, procs: Sequence[BaseProcess], start_line: Checkpoint,
                     finish_line: Checkpoint,
                     before_operated: Callable[[], object] | None = None) -> None:
    """The measuring shape of the Process workloads: `forked` once all are up, `operated` once all
    have operated (still alive), then release and join. `before_operated()` may emit facts."""
    start_line.wait_all(len(procs), procs=procs)
    w.phase("forked")
    start_line.release()
    finish_line.wait_all(len(procs), procs=procs)
    if before_operated is not None:
        before_operated()
    w.phase("operated")
    check_alive(procs)
    finish_line.release()
    join_all(procs)


def join_all(procs: Sequence[BaseProcess]) -> None:
    for proc in procs:
        proc.join()
    for index, proc in enumerate(procs):
        if proc.exitcode != 0:
            raise RuntimeError("child %s (child %d of %d) %s" % (
                proc.pid, index + 1, len(procs), describe_exit(proc.exitcode)))


def run_pool_tasks(w: Workload, pool: Pool, start_line: Checkpoint, finish_line: Checkpoint,
                   func: Callable[[Any], Any], iterable: Iterable[Any],
                   timeout: float = 600) -> list[Any]:
    """The measuring shape of the Pool workloads; returns the tasks' results.

    Announces the pool's workers, waits until every one is up (its initializer called
    `start_line.arrive()`), measures `forked`, then submits `func` over `iterable` with
    chunksize=1 - one task per worker, since each task holds its worker at `finish_line` until
    released - waits until every task holds, measures `operated`, releases them and collects the
    results. The pool is closed and joined; if anything failed, abandoned (see abandon_pool).
    """
    finished = False
    workers = list(pool._pool)  # type: ignore[attr-defined]
    try:
        w.children_started([p.pid for p in workers])
        start_line.wait_all(len(workers), timeout, procs=workers)
        w.phase("forked")
        check_alive(workers)
        result = pool.map_async(func, iterable, chunksize=1)
        finish_line.wait_all(len(workers), timeout, procs=workers)
        w.phase("operated")
        check_alive(workers)
        finish_line.release()
        values = result.get(timeout=timeout)
        finished = True
        return values
    finally:
        if finished:
            pool.close()
            pool.join()
        else:
            abandon_pool(pool, workers)


def abandon_pool(pool: Pool, workers: Sequence[BaseProcess], timeout: float = 5) -> None:
    """Tears a failed pool down without hanging.

    Pool.terminate() can block forever: it takes the task queue's read lock, which an idle
    worker holds while it waits for a task - forever, if that worker was killed. So the workers
    are SIGKILLed first, and terminate() runs in a daemon thread given `timeout` seconds (it
    is then marked done, so the exit handlers do not call it again).
    """
    for proc in workers:
        if proc.exitcode is None:
            proc.kill()
    for proc in workers:
        proc.join(timeout)
    stopper = threading.Thread(target=pool.terminate, daemon=True)
    stopper.start()
    stopper.join(timeout)
