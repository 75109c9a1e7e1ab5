"""The fault campaign's soak: many jobs through three ppservers and local
workers while a chaos loop kills and restarts nodes, stops and continues
their workers, kills the client's own workers and partitions a node.

Every task must get exactly one result, the right one; every callback must
run exactly once; and afterwards the client's file descriptors, Python
threads and goroutines, and a surviving node's descriptors, goroutines and
memory, must be back where they were (OS threads are reported, not checked:
Go keeps idle ones for reuse).

CI runs it bounded (PP_SOAK_JOBS, 20 000 by default); `make soak` runs
200 000. The figures go to stdout and, with PP_SOAK_REPORT=path, to a JSON
file (docs/RELIABILITY.md quotes them). The partitioned node sits behind a
relay (relay.py) that silently drops what it relays, as a lost network does
(this kernel has no netem). Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pp
from cluster import SECRET, Node, free_port, wait_until
from helpers import children, kill_quietly, worker_pids

pytestmark = pytest.mark.ppgo_only

JOBS = int(os.environ.get("PP_SOAK_JOBS", "20000"))
# Jobs go on being submitted, in batches, until this much chaos has passed
# too, so that every kind of fault strikes while jobs run.
MIN_SECONDS = float(os.environ.get("PP_SOAK_SECONDS", "30"))
BATCH = 2000
REPORT = os.environ.get("PP_SOAK_REPORT")
RELAY = Path(__file__).resolve().parent / "relay.py"

# The silence a client tolerates from a node (socket_timeout's floor): a
# partition lasts longer, so the node is given up and its jobs re-run.
SILENCE = 4
PARTITION_SECONDS = SILENCE + 2

# How much a process's resident memory may grow over a soak: allocators
# keep some of what they used; a leak of a result or a job per job is far
# more.
RSS_SLACK_MIB = 64


def work(i):
    """A job: a little computation, now and then a short wait, so jobs are
    in flight on every node when it is hit."""
    import time
    if i % 97 == 0:
        time.sleep(0.02)
    total = 0
    for k in range(200):
        total += k * i
    return i, total


def expected(i):
    return i, sum(k * i for k in range(200))


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def os_threads(pid):
    """OS threads: reported, not checked, since Go keeps idle ones for reuse."""
    return len(os.listdir("/proc/%d/task" % pid))


def node_goroutines(node):
    """The node's goroutines, from the statistics SIGUSR1 prints."""
    node.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = node.proc.stdout.readline()
        if "goroutines" in line:
            return int(line.split("goroutines")[-1].strip(" :=\n"))
    raise AssertionError("ppserver printed no goroutine count on SIGUSR1")


class Relay:
    def __init__(self, target_port):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(RELAY), str(self.port),
                                      str(target_port)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "relaying"
        self.addr = "127.0.0.1:%d" % self.port

    def partition(self):
        self.proc.send_signal(signal.SIGUSR1)

    def heal(self):
        self.proc.send_signal(signal.SIGUSR2)

    def close(self):
        self.proc.kill()
        self.proc.wait(10)


class Chaos:
    """Injects one fault after another until stopped, and counts them."""

    def __init__(self, victims, stable, relay):
        self.victims = victims  # nodes that may be killed and restarted
        self.stable = stable    # a node whose workers are only stopped
        self.relay = relay
        self.faults = collections.Counter()
        self.stop = threading.Event()
        self.rng = random.Random(1234)
        self.errors = []
        self.thread = threading.Thread(target=self.run, name="chaos", daemon=True)

    def run(self):
        # Every kind of fault in each round, in a random order.
        actions = [self.kill_node, self.stop_workers, self.kill_local_worker, self.partition]
        try:
            while not self.stop.is_set():
                self.rng.shuffle(actions)
                for action in actions:
                    if self.stop.wait(self.rng.uniform(0.3, 1.0)):
                        return
                    action()
        except Exception as exc:  # reported by the test
            self.errors.append(exc)

    def kill_node(self):
        i = self.rng.randrange(len(self.victims))
        node = self.victims[i]
        node.kill()
        self.faults["node SIGKILLed and restarted"] += 1
        if self.stop.wait(self.rng.uniform(0.2, 1.0)):
            return
        self.victims[i] = Node(port=node.port, workers=2)

    def stop_workers(self):
        pids = children(self.stable.proc.pid)
        for pid in pids:
            kill_quietly(pid, signal.SIGSTOP)
        self.faults["node's workers SIGSTOPped and continued"] += 1
        self.stop.wait(self.rng.uniform(0.3, 1.5))
        for pid in pids:
            kill_quietly(pid, signal.SIGCONT)

    def kill_local_worker(self):
        pids = worker_pids()
        if pids:
            kill_quietly(self.rng.choice(pids))
            self.faults["client's worker SIGKILLed"] += 1

    def partition(self):
        self.relay.partition()
        self.faults["node partitioned for %d s" % PARTITION_SECONDS] += 1
        self.stop.wait(PARTITION_SECONDS)
        self.relay.heal()


@pytest.mark.timeout(MIN_SECONDS + 600)
def test_soak_loses_and_duplicates_nothing():
    warm = pp.Server(1)
    warm.submit(work, (1,))()
    warm.destroy()
    from pp import _core

    victims = [Node(workers=2), Node(workers=2)]
    stable = Node(workers=2)
    relayed = Node(workers=2)
    relay = Relay(relayed.port)
    me = os.getpid()
    # After the nodes started: the test holds a pipe to each (a restarted
    # node's replaces the killed one's).
    client_before = {"fds": fds(me), "threads": threading.active_count(),
                     "goroutines": _core.goroutines(), "rss_mib": rss_mib(me)}
    chaos = None
    server = pp.Server(1, ppservers=tuple(n.addr for n in victims) + (stable.addr, relay.addr),
                       secret=SECRET, socket_timeout=SILENCE)
    try:
        wait_until(lambda: len(server.get_active_nodes()) == 5, timeout=30,
                   what="every node connected")
        # The stable node's baseline, once it has served this client.
        assert all(t() == expected(i) for i, t in
                   enumerate([server.submit(work, (i,)) for i in range(200)]))
        node_before = {"fds": fds(stable.proc.pid), "os_threads": os_threads(stable.proc.pid),
                       "goroutines": node_goroutines(stable),
                       "rss_mib": rss_mib(stable.proc.pid)}

        chaos = Chaos(victims, stable, relay)
        chaos.thread.start()
        started = time.monotonic()
        # How often each job's callback ran, a byte a job: the test's own
        # bookkeeping must not weigh in the client's memory figures.
        calls = bytearray()
        lock = threading.Lock()

        def called(result):
            with lock:
                calls[result[0]] = min(calls[result[0]] + 1, 255)

        jobs = 0
        wrong: list[int] = []
        while jobs < JOBS or time.monotonic() - started < MIN_SECONDS:
            batch = range(jobs, jobs + BATCH)
            with lock:
                calls.extend(bytes(BATCH))
            tasks = [server.submit(work, (i,), callback=called if i % 2 else None)
                     for i in batch]
            wrong += [i for i, t in zip(batch, tasks) if t() != expected(i)]
            jobs += BATCH
        server.wait()
        elapsed = time.monotonic() - started
        chaos.stop.set()
        chaos.thread.join(30)
        assert not chaos.errors, chaos.errors
        duplicated = [i for i in range(1, jobs, 2) if calls[i] > 1]
        missing = [i for i in range(1, jobs, 2) if calls[i] == 0]
        assert not wrong, "%d tasks without their result, e.g. %s" % (len(wrong), wrong[:10])
        assert not duplicated and not missing, (duplicated[:10], missing[:10])
        stats = {name: s.njobs for name, s in server.get_stats().items()}
    finally:
        if chaos is not None:
            chaos.stop.set()
        server.destroy()

    # The client: the server's threads, descriptors and goroutines are gone.
    del tasks
    wait_until(lambda: threading.active_count() <= client_before["threads"], timeout=30,
               what="client threads back to baseline")
    wait_until(lambda: fds(me) <= client_before["fds"], timeout=30,
               what="client descriptors back to baseline")
    wait_until(lambda: _core.goroutines() <= client_before["goroutines"], timeout=30,
               what="client goroutines back to baseline")
    client_after = {"fds": fds(me), "threads": threading.active_count(),
                    "goroutines": _core.goroutines(), "rss_mib": rss_mib(me)}
    # The stable node, now that its client is gone.
    wait_until(lambda: fds(stable.proc.pid) <= node_before["fds"], timeout=30,
               what="node descriptors back to baseline")
    wait_until(lambda: node_goroutines(stable) <= node_before["goroutines"], timeout=30,
               what="node goroutines back to baseline")
    node_after = {"fds": fds(stable.proc.pid), "os_threads": os_threads(stable.proc.pid),
                  "goroutines": node_goroutines(stable), "rss_mib": rss_mib(stable.proc.pid)}
    for node in victims + [stable, relayed]:
        node.kill()
    relay.close()

    report = {
        "jobs": jobs, "seconds": round(elapsed, 1), "jobs_per_node": stats,
        "faults": dict(chaos.faults), "lost": 0, "duplicated": 0,
        "client_before": client_before, "client_after": client_after,
        "node_before": node_before, "node_after": node_after,
    }
    print(json.dumps(report, indent=2))
    if REPORT:
        Path(REPORT).write_text(json.dumps(report, indent=2) + "\n")
    assert len(chaos.faults) == 4, "not every kind of fault struck: %s" % chaos.faults
    assert client_after["rss_mib"] - client_before["rss_mib"] < RSS_SLACK_MIB
    assert node_after["rss_mib"] - node_before["rss_mib"] < RSS_SLACK_MIB
