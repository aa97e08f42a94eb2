"""The client side of memlab's marker pipe (docs/protocol.md, "Markers from any program").

`memlab run -- COMMAND` hands the program the write end of a pipe (MEMLAB_MARKER_FD) and its
own pid (MEMLAB_MARKER_PID). Without them every call returns at once: one check of a cached
flag, nothing imported, no thread. Nothing here may crash the measured program: a problem
prints one `memlab: warning: ...` line per kind and either skips that call (a bad name) or
turns markers off (a bad environment, a broken pipe).

Standard library only, Python >= 3.8.
"""

from __future__ import annotations

import _thread
import os
import stat
import sys

PROTOCOL_VERSION = 1
# PIPE_BUF: a write of at most this many bytes to a pipe is atomic, so lines written by
# forked workers through the same inherited fd never interleave.
MAX_MESSAGE_BYTES = 4096
MAX_NAME_CHARS = 40
# phase(NAME) is recorded as NAME-begin and NAME-end, which must be valid names too.
MAX_PHASE_NAME_CHARS = MAX_NAME_CHARS - len("-begin")
NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
DEFAULT_CHECKPOINT_TIMEOUT_SECONDS = 300.0
LIVENESS_CHECK_SECONDS = 0.5


class _Channel:
    """The marker pipe as this process found it: its fd, and which pipe it was (so a later
    fd of the same number that is something else is never written to)."""

    __slots__ = ("fd", "memlab_pid", "device", "inode")

    def __init__(self, fd: int, memlab_pid: int, device: int, inode: int) -> None:
        self.fd = fd
        self.memlab_pid = memlab_pid
        self.device = device
        self.inode = inode


_lock = _thread.allocate_lock()
_resolved = False  # the environment has been read (in this process or before fork)
_channel: _Channel | None = None  # None: markers are off
_warned: set[str] = set()  # the kinds of problem already reported


def _reset_after_fork_in_child() -> None:
    # A fork while another thread held the lock would leave it held forever in the child.
    global _lock
    _lock = _thread.allocate_lock()


os.register_at_fork(after_in_child=_reset_after_fork_in_child)


def _reset() -> None:
    """Forgets everything (tests: a new environment, new warnings)."""
    global _resolved, _channel
    with _lock:
        _resolved = False
        _channel = None
        _warned.clear()


def _warn(kind: str, message: str) -> None:
    """One line on stderr, once per kind of problem per process. Never raises."""
    with _lock:
        if kind in _warned:
            return
        _warned.add(kind)
    stream = sys.stderr
    if stream is None:  # e.g. a daemon that closed its standard streams
        return
    try:
        stream.write("memlab: warning: %s\n" % message)
        stream.flush()
    except Exception:  # a broken stderr must not break the program either
        pass


def _turn_off(kind: str, message: str) -> None:
    global _channel
    _channel = None
    _warn(kind, message + "; memlab markers are off")


def is_valid_name(name: object, max_chars: int = MAX_NAME_CHARS) -> bool:
    """1..max_chars characters of a-z 0-9 _ - (the phase-name rule of docs/protocol.md)."""
    return (isinstance(name, str) and 1 <= len(name) <= max_chars
            and all(c in NAME_CHARACTERS for c in name))


def _check_name(name: object, max_chars: int, what: str) -> bool:
    if is_valid_name(name, max_chars):
        return True
    _warn("name", "%s name %r is not 1-%d characters of a-z 0-9 _ -; that %s is skipped"
          % (what, name, max_chars, what))
    return False


def _memlab_holds_pipe(memlab_pid: int, inode: int) -> bool | None:
    """Whether memlab has this pipe open (it holds the read end). None: cannot tell (its
    /proc/PID/fd is not readable by this process).

    The environment reaches processes the fd does not: a program exec'd by a multiprocessing
    spawn or forkserver worker inherits MEMLAB_MARKER_FD, but the number may be one of its
    own pipes there, which a marker must never be written into.
    """
    target = "pipe:[%d]" % inode
    fd_dir = "/proc/%d/fd" % memlab_pid
    try:
        entries = os.listdir(fd_dir)
    except OSError:
        return None
    for entry in entries:
        try:
            if os.readlink(os.path.join(fd_dir, entry)) == target:
                return True
        except OSError:  # closed while we looked
            continue
    return False


def _channel_from_environment() -> tuple[_Channel | None, tuple[str, str] | None]:
    """The marker pipe the environment names, or None and why not (kind, message); None and
    no reason when the program is not run by memlab."""
    fd_text = os.environ.get("MEMLAB_MARKER_FD")
    pid_text = os.environ.get("MEMLAB_MARKER_PID")
    if fd_text is None and pid_text is None:
        return None, None  # not run by memlab: the silent, ordinary case
    try:
        fd = int(fd_text)  # type: ignore[arg-type]
        memlab_pid = int(pid_text)  # type: ignore[arg-type]
        if fd < 0 or memlab_pid <= 0:
            raise ValueError
    except (TypeError, ValueError):
        return None, ("environment", "MEMLAB_MARKER_FD=%r and MEMLAB_MARKER_PID=%r are not an "
                      "fd number and a pid" % (fd_text, pid_text))
    try:
        status = os.fstat(fd)
    except OSError as error:
        return None, ("fd", "MEMLAB_MARKER_FD=%d is not an open file descriptor (%s)"
                      % (fd, error.strerror))
    if not stat.S_ISFIFO(status.st_mode):
        return None, ("fd", "MEMLAB_MARKER_FD=%d is not a pipe" % fd)
    if _memlab_holds_pipe(memlab_pid, status.st_ino) is False:
        return None, ("fd", "MEMLAB_MARKER_FD=%d is a pipe that memlab (pid %d) does not hold "
                      "(the environment was inherited without the pipe)" % (fd, memlab_pid))
    return _Channel(fd, memlab_pid, status.st_dev, status.st_ino), None


def _resolve() -> _Channel | None:
    """Reads the environment once per process; returns the channel or None (markers off)."""
    global _resolved, _channel
    problem = None
    with _lock:  # a second thread waits here rather than see markers off for a moment
        if not _resolved:
            _channel, problem = _channel_from_environment()
            _resolved = True
        channel = _channel
    if problem is not None:
        _warn(problem[0], problem[1] + "; memlab markers are off")
    return channel


def _active_channel() -> _Channel | None:
    return _channel if _resolved else _resolve()


def _send(channel: _Channel, line: str) -> bool:
    """Writes one message line with one write. False (after a warning) if it did not go."""
    data = line.encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:  # names are short: only a bug gets here
        _warn("size", "a marker message of %d bytes is over %d; skipped"
              % (len(data), MAX_MESSAGE_BYTES))
        return False
    try:
        # The same number may have been closed and reused for something else since.
        status = os.fstat(channel.fd)
        if (status.st_dev, status.st_ino) != (channel.device, channel.inode):
            _turn_off("fd", "fd %d is no longer memlab's marker pipe" % channel.fd)
            return False
        written = os.write(channel.fd, data)
    except BrokenPipeError:
        _turn_off("gone", "memlab has closed the marker pipe (it has exited)")
        return False
    except BlockingIOError:
        _warn("full", "the marker pipe is full (memlab is not reading it); marker skipped")
        return False
    except OSError as error:
        _turn_off("fd", "cannot write to MEMLAB_MARKER_FD=%d (%s)" % (channel.fd, error.strerror))
        return False
    if written != len(data):  # not a pipe's behaviour for a write of at most PIPE_BUF
        _turn_off("fd", "a marker was cut short (%d of %d bytes written)" % (written, len(data)))
        return False
    return True


def _message(kind: str, name: str, extra: str = "") -> str:
    # Names are a-z 0-9 _ - only (checked), so they need no JSON escaping.
    return '{"v": %d, "type": "%s", "name": "%s", "pid": %d%s}\n' % (
        PROTOCOL_VERSION, kind, name, os.getpid(), extra)


def mark(name: str) -> None:
    """Records a named moment: memlab measures the process tree as it is now, without
    stopping the program. Does nothing unless the program runs under `memlab run`."""
    channel = _channel if _resolved else _resolve()
    if channel is None or not _check_name(name, MAX_NAME_CHARS, "marker"):
        return
    _send(channel, _message("mark", name))


class phase:
    """`with memlab.phase("load"):` marks `load-begin` on entry and `load-end` on exit
    (also when the block raises). NAME has at most 34 characters."""

    __slots__ = ("name", "_valid")

    def __init__(self, name: str) -> None:
        self.name = name
        self._valid = False

    def __enter__(self) -> phase:
        channel = _active_channel()
        self._valid = channel is not None and _check_name(
            self.name, MAX_PHASE_NAME_CHARS, "phase")
        if channel is not None and self._valid:
            _send(channel, _message("begin", self.name))
        return self

    def __exit__(self, *exc_info: object) -> None:
        channel = _channel  # off by now (memlab gone): no end marker
        if channel is not None and self._valid:
            _send(channel, _message("end", self.name))


def _checkpoint_timeout_seconds() -> float:
    text = os.environ.get("MEMLAB_CHECKPOINT_TIMEOUT")
    if text is None:
        return DEFAULT_CHECKPOINT_TIMEOUT_SECONDS
    try:
        seconds = float(text)
        if seconds > 0 and seconds == seconds:  # positive, not NaN
            return seconds
    except ValueError:
        pass
    _warn("timeout", "MEMLAB_CHECKPOINT_TIMEOUT=%r is not a positive number of seconds; "
          "using %g" % (text, DEFAULT_CHECKPOINT_TIMEOUT_SECONDS))
    return DEFAULT_CHECKPOINT_TIMEOUT_SECONDS


def _memlab_alive(memlab_pid: int) -> bool:
    try:
        os.kill(memlab_pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def checkpoint(name: str) -> bool:
    """Blocks until memlab has measured the whole process tree at this moment.

    Returns True once memlab answered that it measured; False (at once) when markers are off,
    and False after one warning when memlab failed to measure, went away, or took longer than
    MEMLAB_CHECKPOINT_TIMEOUT seconds (default 300).
    """
    channel = _channel if _resolved else _resolve()
    if channel is None or not _check_name(name, MAX_NAME_CHARS, "checkpoint"):
        return False
    reply_read_fd, reply_write_fd = os.pipe()
    try:
        # Both ends stay open while waiting: with the write end open here, reading blocks
        # until memlab writes (through /proc/PID/fd/R) instead of seeing end-of-file.
        if not _send(channel, _message("checkpoint", name, ', "reply_fd": %d' % reply_read_fd)):
            return False
        return _await_reply(channel, name, reply_read_fd)
    finally:
        os.close(reply_read_fd)
        os.close(reply_write_fd)


def _await_reply(channel: _Channel, name: str, reply_fd: int) -> bool:
    import json
    import select
    import time

    deadline = time.monotonic() + _checkpoint_timeout_seconds()
    poller = select.poll()
    poller.register(reply_fd, select.POLLIN)
    received = b""
    while b"\n" not in received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _warn("checkpoint-timeout", "checkpoint %r: no answer from memlab within %g s; "
                  "going on unmeasured" % (name, _checkpoint_timeout_seconds()))
            return False
        wait_ms = max(1, int(1000 * min(LIVENESS_CHECK_SECONDS, remaining)))
        if not poller.poll(wait_ms):
            if not _memlab_alive(channel.memlab_pid):
                _turn_off("gone", "memlab (pid %d) exited while checkpoint %r waited"
                          % (channel.memlab_pid, name))
                return False
            continue
        chunk = os.read(reply_fd, MAX_MESSAGE_BYTES)
        if not chunk:  # cannot happen while we hold the write end; never spin on it
            break
        received += chunk
    line = received.split(b"\n", 1)[0]
    try:
        reply = json.loads(line.decode("utf-8"))
    except ValueError:
        reply = None
    if isinstance(reply, dict) and reply.get("type") == "measured" and reply.get("name") == name:
        return True
    if isinstance(reply, dict) and reply.get("type") == "error":
        _warn("checkpoint-error", "memlab could not measure checkpoint %r: %s"
              % (name, reply.get("message")))
        return False
    _warn("checkpoint-reply", "checkpoint %r: unexpected answer from memlab: %r" % (name, line))
    return False
