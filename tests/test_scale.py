"""Many jobs, big payloads, many groups."""

import hashlib
import threading

import jobs
from helpers import call_within


def test_ten_thousand_small_jobs(server):
    tasks = [server.submit(jobs.add, (i, 1)) for i in range(10000)]
    results = [t() for t in tasks]
    assert results == [i + 1 for i in range(10000)]
    assert server.get_stats()["local"].njobs == 10000


def test_many_jobs_with_callbacks(server):
    total = []
    lock = threading.Lock()
    done = threading.Event()
    n = 2000

    def collect(i, value):
        with lock:
            total.append((i, value))
            if len(total) == n:
                done.set()

    for i in range(n):
        server.submit(jobs.square, (i,), callback=collect, callbackargs=(i,))
    assert done.wait(120)
    assert sorted(total) == [(i, i * i) for i in range(n)]


def test_fifty_megabyte_argument_round_trip(server):
    data = bytes(range(256)) * (50 * 1024 * 1024 // 256)
    assert len(data) == 50 * 1024 * 1024
    task = server.submit(jobs.digest, (data,))
    size, digest, middle = call_within(task, 110)
    assert size == len(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert middle == data[1000:1010]


def test_twenty_megabyte_result(server):
    task = server.submit(jobs.make_bytes, (20 * 1024 * 1024, 7))
    result = call_within(task, 110)
    assert isinstance(result, bytes)
    assert len(result) == 20 * 1024 * 1024
    assert result == bytes([7]) * (20 * 1024 * 1024)


def test_many_concurrent_groups(server):
    groups = ["group-%d" % g for g in range(60)]
    tasks = {g: [server.submit(jobs.add, (k, j), group=g) for j in range(5)]
             for k, g in enumerate(groups)}
    # Wait for the groups in an order unrelated to submission.
    for g in reversed(groups[::2]):
        call_within(server.wait, 60, g)
        assert [t() for t in tasks[g]] == [groups.index(g) + j for j in range(5)]
    call_within(server.wait, 60)
    for k, g in enumerate(groups):
        assert [t() for t in tasks[g]] == [k + j for j in range(5)]


# What one queued task may hold on the client's Python side: the task and
# its id (about 200 bytes on CPython 3.11). A lock or a list of its own
# would take it past this; a million queued tasks are a million of them.
QUEUED_TASK_BYTES = 240


def test_a_queued_task_is_small(server):
    import tracemalloc

    n = 5000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tasks = [server.submit(jobs.add, (i, 1)) for i in range(n)]
        per_task = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_task <= QUEUED_TASK_BYTES, "%.0f bytes per queued task" % per_task
    assert [t() for t in tasks[-3:]] == [n - 2, n - 1, n]
