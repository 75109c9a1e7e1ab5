"""Jobs that attack the worker protocol: a child that outlives its worker
with the protocol pipes open, bytes written to fd 4 or to the protocol pipe
itself. Nothing may hang, the server goes on, locally and on a ppserver.

ppgo_only: pp 1.7.0 hangs on the first kind (its worker's pipes are its
stdin and stdout, which a forked child holds) and has no fds 3 and 4.
"""

from __future__ import annotations

import os
import resource
import time

import pytest

import jobs
import pp
from cluster import SECRET, Node
from helpers import call_within, is_alive, kill_quietly, wait_until, worker_pids

pytestmark = pytest.mark.ppgo_only

# How long a hostile job may take to come back, all its attempts included:
# each attempt should end as soon as its worker does (well under a second).
RESOLVE_WITHIN = 15.0

HOW = ["os.fork", "c fork", "subprocess"]


@pytest.fixture
def node():
    with Node(workers=1) as n:
        yield n


@pytest.fixture
def remote(node):
    """A server whose jobs all run on a one-worker ppserver."""
    server = pp.Server(0, ppservers=(node.addr,), secret=SECRET)
    try:
        assert wait_until(lambda: server.get_active_nodes().get(node.addr), timeout=30)
        yield server
    finally:
        server.destroy()


class Children:
    """Where a job records the children it leaves behind, and the gate that
    lets them go; every recorded child is killed at teardown."""

    def __init__(self, tmp_path) -> None:
        self.record = tmp_path / "children"
        self.gate = tmp_path / "gate"

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in self.record.read_text().split()]
        except OSError:
            return []

    def release(self) -> None:
        self.gate.touch()
        for pid in self.pids():
            kill_quietly(pid)


@pytest.fixture
def children(tmp_path):
    c = Children(tmp_path)
    yield c
    c.release()


def timed(task) -> tuple[object, float]:
    start = time.monotonic()
    result = call_within(task, 60)
    return result, time.monotonic() - start


def pipes(pid: int) -> set[str]:
    """The pipes ("pipe:[inode]") process pid holds."""
    found = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("pipe:"):
            found.add(link)
    return found


# -- a child that outlives its worker ------------------------------------------

def assert_lost_while_children_hold_pipes(server, children, how, capfd):
    """Each of the job's three attempts forks a child that keeps the worker's
    pipes open, then ends its worker with code 3: the job must come back lost
    at once, saying how the worker exited, and the next job must run."""
    task = server.submit(jobs.spawn_child_then_end_worker,
                         (how, str(children.record), str(children.gate), 3))
    result, elapsed = timed(task)
    assert result is None
    assert elapsed < RESOLVE_WITHIN, "took %.1f s" % elapsed
    out, _ = capfd.readouterr()
    assert "exited with code 3" in out
    assert len(children.pids()) == 3, children.pids()
    assert call_within(server.submit(jobs.square, (6,)), 30) == 36


@pytest.mark.parametrize("how", HOW)
def test_worker_death_is_seen_while_a_child_holds_its_pipes(one_worker, children, how, capfd):
    server, before = one_worker
    assert_lost_while_children_hold_pipes(server, children, how, capfd)
    # Every attempt left a child that still lives: the test proved something.
    assert all(is_alive(p) for p in children.pids()), children.pids()
    assert wait_until(lambda: len(set(worker_pids()) - before) == 1, timeout=30)


def test_first_attempt_leaving_a_child_then_retry_succeeds(one_worker, children, tmp_path):
    server, _ = one_worker
    task = server.submit(jobs.spawn_child_then_end_worker,
                         ("c fork", str(children.record), str(children.gate), 1,
                          str(tmp_path / "marker")))
    result, elapsed = timed(task)
    assert result == "retried"
    assert elapsed < RESOLVE_WITHIN, "took %.1f s" % elapsed
    assert len(children.pids()) == 1


def test_forked_child_holds_no_protocol_pipe(children):
    """A child forked by a job lets go of the protocol pipes (those whose
    other ends the client opened for the worker) while its worker keeps them."""
    inherited = pipes(os.getpid())
    server = pp.Server(ncpus=1)
    try:
        worker, child = call_within(server.submit(jobs.fork_child,
                                                  (str(children.record), str(children.gate))), 30)
        protocol = pipes(worker) & pipes(os.getpid()) - inherited
        assert len(protocol) == 2, "worker %d's protocol pipes: %s" % (worker, protocol)
        assert is_alive(child)
        # The child lets go in its at-fork hook, which may run only after
        # the worker's result (sent right after the fork) got here.
        assert wait_until(lambda: not pipes(child) & protocol, timeout=10), \
            "forked child %d holds %s" % (child, pipes(child))
        assert call_within(server.submit(jobs.square, (5,)), 30) == 25
    finally:
        server.destroy()


def test_forked_child_that_returns_from_the_job_exits(server1, children):
    """A child that returns into its copy of the worker loop ends there: it
    sends no result and runs no job."""
    worker, child = call_within(server1.submit(jobs.fork_child,
                                               (str(children.record), None)), 30)
    assert wait_until(lambda: not is_alive(child), timeout=30), "child %d lives on" % child
    tasks = [server1.submit(jobs.square, (i,)) for i in range(20)]
    assert [call_within(t, 30) for t in tasks] == [i * i for i in range(20)]
    assert call_within(server1.submit(jobs.getpid), 30) == worker


# -- bytes written where the protocol was, or is ---------------------------------

def test_fds_3_and_4_lead_nowhere(server1):
    result = call_within(server1.submit(jobs.use_fds_3_and_4, (b"junk", 7)), 30)
    assert result == (7, b"")
    assert call_within(server1.submit(jobs.square, (3,)), 30) == 9


def test_junk_on_the_protocol_pipe_breaks_only_that_worker(one_worker, capfd):
    server, before = one_worker
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    task = server.submit(jobs.write_to_worker_pipes, (b"junk", 5))
    result, elapsed = timed(task)
    assert result is None
    assert elapsed < RESOLVE_WITHIN, "took %.1f s" % elapsed
    out, _ = capfd.readouterr()
    assert "worker process" in out and ("kind" in out or "limit" in out), out
    # "junk" read as a length announces 1.7 GiB: none of it was allocated.
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown < 256 << 10, "client peak RSS grew by %d MiB" % (grown >> 10)
    assert call_within(server.submit(jobs.square, (8,)), 30) == 64
    assert wait_until(lambda: len(set(worker_pids()) - before) == 1, timeout=30)


def test_job_that_wrote_junk_once_succeeds_on_retry(one_worker, tmp_path):
    server, _ = one_worker
    task = server.submit(jobs.write_to_worker_pipes, (b"junk", 5, str(tmp_path / "marker")))
    result, elapsed = timed(task)
    assert result == 5
    assert elapsed < RESOLVE_WITHIN, "took %.1f s" % elapsed


# -- the same through a ppserver -------------------------------------------------

@pytest.mark.parametrize("how", ["os.fork", "c fork"])
def test_ppserver_worker_death_while_a_child_holds_its_pipes(remote, children, how, capfd):
    assert_lost_while_children_hold_pipes(remote, children, how, capfd)


def test_ppserver_junk_on_the_protocol_pipe(remote, capfd):
    task = remote.submit(jobs.write_to_worker_pipes, (b"junk", 5))
    result, elapsed = timed(task)
    assert result is None
    assert elapsed < RESOLVE_WITHIN, "took %.1f s" % elapsed
    out, _ = capfd.readouterr()
    assert "worker process" in out and ("kind" in out or "limit" in out), out
    assert call_within(remote.submit(jobs.square, (8,)), 30) == 64
    assert call_within(remote.submit(jobs.use_fds_3_and_4, (b"junk", 7)), 30) == (7, b"")
