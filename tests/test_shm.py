"""Large arguments and results through shared memory (pickle protocol 5
out-of-band buffers in memfd segments; docs/WORKER_PROTOCOL.md): what
arrives, and that no segment outlives its job, its worker or its client."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import textwrap

import pytest

import pp
import shm_jobs
from cluster import SECRET, Node
from helpers import is_alive, wait_until, worker_pids

np = pytest.importorskip("numpy")

pytestmark = pytest.mark.ppgo_only

MIB = 1 << 20
LARGE = 32 * MIB  # well over the out-of-band threshold (pp.worker.OUT_OF_BAND_MIN)


def large_bytes(size: int = LARGE, seed: int = 7) -> bytes:
    return bytes((seed + i) % 256 for i in range(256)) * (size // 256)


def memfds(pid: int | str = "self") -> tuple[list[str], list[str]]:
    """A process's descriptors and mappings of ppgo segments."""
    fds = []
    for fd in os.listdir("/proc/%s/fd" % pid):
        try:
            if "memfd:ppgo" in os.readlink("/proc/%s/fd/%s" % (pid, fd)):
                fds.append(fd)
        except OSError:
            pass
    with open("/proc/%s/maps" % pid) as f:
        maps = [line for line in f if "memfd:ppgo" in line]
    return fds, maps


def rss_kib(pid: int | str = "self") -> int:
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %s" % pid)


def no_segments_left(server: pp.Server) -> None:
    """Neither this client nor any of its workers holds a segment."""
    assert memfds() == ([], [])
    for fds, maps in [server.submit(shm_jobs.memfds)() for _ in range(8)]:
        assert fds == [] and maps == []


@pytest.mark.parametrize("make", [
    pytest.param(large_bytes, id="bytes"),
    pytest.param(lambda: bytearray(large_bytes()), id="bytearray"),
    pytest.param(lambda: np.arange(LARGE // 8, dtype=np.float64), id="numpy"),
    pytest.param(lambda: np.arange(3 * MIB, dtype=np.int32).reshape(3, -1)[:, ::2],
                 id="numpy-strided"),
])
def test_large_values_come_back_equal(server, make):
    value = make()
    back = server.submit(shm_jobs.echo, (value,))()
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        assert np.array_equal(back, value)
        back[0] = 42  # a result is the caller's to change
    else:
        assert back == value
    del back  # a zero-copy result maps its segment while it lives
    no_segments_left(server)


def test_memoryview_arrives_as_a_flat_view(server):
    data = large_bytes()
    assert server.submit(shm_jobs.describe, (memoryview(data),))() == [("memoryview", LARGE)]
    back = server.submit(shm_jobs.echo, (memoryview(data),))()
    assert type(back) is memoryview and back.nbytes == LARGE and back == data


def test_numpy_made_in_the_worker(server):
    array = np.arange(LARGE // 8, dtype=np.int64)
    back = server.submit(shm_jobs.doubled, (array,))()
    assert back.flags.writeable and np.array_equal(back, array * 2)


def test_mixed_small_and_large_arguments(server):
    big, other = large_bytes(), np.ones(2 * MIB, dtype=np.uint8)
    args = (1, "small", b"tiny", big, [bytearray(big), b"x" * 100], {"a": other}, other)
    assert server.submit(shm_jobs.describe, args)() == [
        ("int", None), ("str", 5), ("bytes", 4), ("bytes", LARGE), ("list", 2), ("dict", 1),
        ("ndarray", 2 * MIB)]
    got = server.submit(shm_jobs.echo, args)()
    assert got[0] == 1 and got[1] == "small" and got[2] == b"tiny" and got[3] == big
    assert got[4] == [bytearray(big), b"x" * 100] and type(got[4][0]) is bytearray
    assert np.array_equal(got[5]["a"], other) and np.array_equal(got[6], other)
    del got
    no_segments_left(server)


def test_job_that_raises_on_a_large_argument(server):
    task = server.submit(shm_jobs.fail_with, (large_bytes(),))
    assert task() is None  # legacy pp: None, and the traceback printed
    with pytest.raises(ValueError, match="refused %d bytes" % LARGE):
        task.result()
    no_segments_left(server)


def test_retry_after_a_worker_death_gets_the_data(tmp_path):
    data = large_bytes(seed=3)
    server = pp.Server(1)
    try:
        before = server.submit(shm_jobs.memfds)  # the worker is up
        before()
        task = server.submit(shm_jobs.die_once, (str(tmp_path / "died"), data))
        assert task() == (LARGE, hashlib.sha256(data).hexdigest())
        assert (tmp_path / "died").exists()  # it did die once
        no_segments_left(server)
    finally:
        server.destroy()


def test_executor_map_with_large_items():
    items = [large_bytes(4 * MIB, seed=i) for i in range(6)]
    with pp.Executor(2) as ex:
        assert list(ex.map(shm_jobs.echo, items)) == items
        futures = [ex.submit(shm_jobs.echo, np.full(MIB, i, dtype=np.float32)) for i in range(4)]
        for i, f in enumerate(futures):
            assert np.array_equal(f.result(60), np.full(MIB, i, dtype=np.float32))


def test_callbacks_get_large_results(server):
    got = []
    data = large_bytes()
    server.submit(shm_jobs.echo, (data,), callback=got.append)
    server.wait()
    assert got == [data]


def test_round_trips_do_not_grow_memory():
    """200 round trips of 32 MiB: neither the client nor its worker keeps
    what it sent or received."""
    server = pp.Server(1)
    data = large_bytes()
    try:
        for _ in range(10):  # warm up: the allocators settle
            assert server.submit(shm_jobs.echo, (data,))() == data
        client_before = rss_kib()
        workers_before = {pid: rss_kib(pid) for pid in worker_pids()}
        for _ in range(200):
            assert len(server.submit(shm_jobs.echo, (data,))()) == LARGE
        bound = 4 * LARGE // 1024  # KiB: a few payloads of slack, not 200
        assert rss_kib() - client_before < bound
        for pid, before in workers_before.items():
            if is_alive(pid):
                assert rss_kib(pid) - before < bound
        no_segments_left(server)
    finally:
        server.destroy()


CLIENT = """
import os, sys, time
import pp, shm_jobs
gate, started = sys.argv[1], sys.argv[2]
server = pp.Server(2)
data = bytes(32 << 20)
done = server.submit(shm_jobs.echo, (data,))
assert done() == data  # a result segment the client holds
held = server.submit(shm_jobs.hold, (gate, started, data))  # an argument segment in flight
while not os.path.exists(started):
    time.sleep(0.02)
print(" ".join(str(pid) for pid, _busy in server._engine.worker_states()), flush=True)
time.sleep(600)
"""


def shm_names() -> set[str]:
    return set(os.listdir("/dev/shm"))


def test_client_sigkill_leaves_no_segment(tmp_path):
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(CLIENT))
    gate, started = tmp_path / "gate", tmp_path / "started"
    names = shm_names()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(shm_jobs.__file__),
                                         env.get("PYTHONPATH", "")])
    client = subprocess.Popen([sys.executable, str(script), str(gate), str(started)],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = client.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert pids, "the client printed no worker pids"
        assert any(memfds(pid)[1] for pid in pids), "no worker maps the argument segment"
        assert memfds(client.pid) != ([], []), "the client holds no segment"
    finally:
        client.kill()
        client.wait()
    assert wait_until(lambda: not any(is_alive(pid) for pid in pids)), \
        "workers outlived their client"
    assert shm_names() <= names, "new entries in /dev/shm: %s" % (shm_names() - names)
    assert memfds() == ([], [])


def test_ppserver_round_trip_of_large_values():
    data = large_bytes()
    array = np.arange(LARGE // 8, dtype=np.float64)
    with Node(workers=1) as node:
        server = pp.Server(0, ppservers=(node.addr,), secret=SECRET)
        try:
            assert server.submit(shm_jobs.echo, (data,))() == data
            back = server.submit(shm_jobs.echo, (array,))()
            assert np.array_equal(back, array) and back.flags.writeable
            got = server.submit(shm_jobs.echo, (b"small", bytearray(data)))()
            assert got == (b"small", bytearray(data))
            assert server.get_stats()[node.addr].njobs == 3
        finally:
            server.destroy()


def sealed_memfd(data: bytes) -> int:
    import fcntl
    fd = os.memfd_create("ppgo-test", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
    return fd


@pytest.mark.parametrize("table, why", [
    (struct.pack("<Q", 1000), "announces 1000 buffers"),
    (struct.pack("<QQQ", 1, 24, 1 << 40), "has a buffer at 24.."),
    (struct.pack("<QQQ", 1, 0, 8), "has a buffer at 0..8"),  # over its own table
    (b"\x01", "malformed segment"),
])
def test_a_segment_whose_table_does_not_fit_fails_its_job(table, why):
    """A result segment is read as untrusted: a bad table fails the job with
    what was wrong (no crash, no read outside the mapping), and its
    descriptor is closed."""
    from pp import _engine, _outcome
    fd = sealed_memfd(table + bytes(64))
    status, payload, buffers = _outcome.take(_engine.STATUS_DONE, b"pickle",
                                             (fd, len(table) + 64))
    assert status == _engine.STATUS_FAILED and buffers is None
    assert b"shared-memory segment is unreadable" in payload and why.encode() in payload
    with pytest.raises(OSError):
        os.fstat(fd)  # closed


def test_a_python_that_cannot_make_segments_keeps_buffers_in_band(monkeypatch):
    """A worker Python without os.memfd_create (the standalone ppserver's
    embedded one) pickles everything in band, and still loads."""
    from pp import worker
    value = (large_bytes(), np.arange(MIB, dtype=np.int64))
    data, buffers = worker.dumps(value, 4)
    assert len(buffers) == 2 and len(data) < MIB
    monkeypatch.setattr(worker, "CAN_MAKE_SEGMENTS", False)
    data, buffers = worker.dumps(value, 4)
    assert buffers == [] and len(data) > LARGE
    back = worker.load(data)
    assert back[0] == value[0] and np.array_equal(back[1], value[1])


def test_a_bad_second_buffer_in_a_segment():
    from pp import worker
    table = struct.pack("<QQQQQ", 2, 64, 8, 72, 1 << 30)
    fd = sealed_memfd(table + bytes(80))
    try:
        with pytest.raises(ValueError, match="has a buffer at 72.."):
            worker.map_segment(fd, len(table) + 80)
    finally:
        os.close(fd)
    fd = sealed_memfd(table[:-8] + struct.pack("<Q", 8) + bytes(80))
    try:
        first, second = worker.map_segment(fd, len(table) + 80)
        assert first.nbytes == 8 and second.nbytes == 8
    finally:
        os.close(fd)


def test_large_bytes_deeper_in_still_go_out_of_band():
    """dumps() looks first only near the top; a large bytes deeper in (in
    a list, a dict) makes the pickle large, and it looks again."""
    from pp import worker
    big = large_bytes(MIB)
    for value in ([big], {"k": [1, bytearray(big)]}, (1, 2, [3, (big,)])):
        data, buffers = worker.dumps(value, 4)
        assert len(buffers) == 1 and len(data) < 1024, type(value)
        assert worker.load(data, buffers) == value
    data, buffers = worker.dumps((1, "x", 2.5, b"small"), 4)
    assert buffers == [] and worker.load(data) == (1, "x", 2.5, b"small")
