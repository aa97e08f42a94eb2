"""Workers that copy a known number of pages between markers (tests/run_markers.rs).

The parent allocates and fills a buffer of BUFFER_PAGES pages, forks WORKERS workers, and
then, for each step, lets every worker write its first K pages of the buffer (each page once,
through one readinto from /dev/zero, so that the interpreter touches nothing new), waits until
all of them are done and blocked again, and sends a checkpoint: memlab measures the tree while
nothing moves. A warm-up step (K = 0) comes first so that the workers' own interpreter pages
are copied before the baseline checkpoint `forked`, and the parent takes a checkpoint `loaded`
before forking. Before the last checkpoint the parent itself rewrites the buffer's last
PARENT_REWRITES pages, which no worker writes: the workers' copies must not grow with them.

argv: PID_LOG [garbage]: writes `parent PID` and `worker PID` lines to PID_LOG; with
`garbage`, also writes malformed lines and a bad name to the marker pipe between steps.
"""

import os
import sys

import memlab

PAGE = os.sysconf("SC_PAGE_SIZE")
BUFFER_PAGES = 256
WORKERS = 2
# (marker, pages each worker has written by then)
STEPS = [("forked", 0), ("first", 8), ("second", 24), ("third", 56)]
# Pages the parent rewrites before the checkpoint `third` (the buffer's last ones).
PARENT_REWRITES = 16

log_path = sys.argv[1]
garbage = len(sys.argv) > 2 and sys.argv[2] == "garbage"
buffer = bytearray(b"\x01" * (BUFFER_PAGES * PAGE))
# Views made before the fork: a worker's step allocates nothing.
views = [memoryview(buffer)[: pages * PAGE] for _, pages in STEPS]
parent_rewrites = memoryview(buffer)[-PARENT_REWRITES * PAGE :]
zero = open("/dev/zero", "rb", buffering=0)

with open(log_path, "w") as log:
    log.write("parent %d\n" % os.getpid())
# Before the fork: the parent's first checkpoint imports what checkpoints need, so that
# the parent rewrites no more of its pages between the workers' checkpoints.
if not memlab.checkpoint("loaded"):
    sys.exit("checkpoint loaded was not measured")

workers = []
for _ in range(WORKERS):
    go_read, go_write = os.pipe()
    done_read, done_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_write)
        os.close(done_read)
        # One warm-up round, then one round per step; each round: wait, write, report.
        for view in [views[0]] + views:
            if os.read(go_read, 1) != b"g":
                os._exit(1)
            zero.readinto(view)
            os.write(done_write, b"d")
        os.read(go_read, 1)
        os._exit(0)
    os.close(go_read)
    os.close(done_write)
    workers.append((pid, go_write, done_read))
    with open(log_path, "a") as log:
        log.write("worker %d\n" % pid)


def step():
    for _, go, _ in workers:
        os.write(go, b"g")
    for _, _, done in workers:
        assert os.read(done, 1) == b"d"


step()  # warm-up
for name, _ in STEPS:
    step()
    if name == "third":
        zero.readinto(parent_rewrites)
    if not memlab.checkpoint(name):
        sys.exit("checkpoint %s was not measured" % name)
    if garbage and name == "first":
        fd = int(os.environ["MEMLAB_MARKER_FD"])
        os.write(fd, b"this is not json\n")
        os.write(fd, b'{"v": 1, "type": "mark", "name": "Bad Name", "pid": %d}\n' % os.getpid())
        os.write(fd, b"{also not json}\n")
        os.write(fd, b'{"v": 1, "type": "mark", "name": "from-init", "pid": 1}\n')
for pid, go, _ in workers:
    os.write(go, b"x")
    os.waitpid(pid, 0)
# A mark does not wait: sent right before the program exits, it can come after the whole
# tree is gone, with nothing left to measure. The checkpoint after it is answered only once
# memlab has handled both (in order), so the mark is measured while this process is alive.
memlab.mark("done")
if not memlab.checkpoint("finished"):
    sys.exit("checkpoint finished was not measured")
