"""pp.Executor: a concurrent.futures.Executor on ppgo's engine, checked the
way CPython's own executor tests check ProcessPoolExecutor (submit, map,
timeouts, shutdown, cancel, exceptions), with real workers and nodes."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import importlib.util
import itertools
import subprocess
import sys
import time

import pytest

import jobs
import pp
from cluster import SECRET, Node
from helpers import call_within, run_script

needs_cloudpickle = pytest.mark.skipif(importlib.util.find_spec("cloudpickle") is None,
                                       reason="ships lambdas by value: needs cloudpickle")

pytestmark = pytest.mark.ppgo_only


@pytest.fixture
def executor():
    with pp.Executor(2) as ex:
        yield ex


def test_is_a_concurrent_futures_executor(executor):
    future = executor.submit(jobs.add, 2, 3)
    assert isinstance(executor, cf.Executor) and isinstance(future, cf.Future)
    assert future.result(timeout=30) == 5 and future.done() and not future.cancelled()


def test_keyword_arguments_and_bound_methods(executor):
    assert executor.submit(jobs.add, 1, b=2).result(30) == 3
    assert executor.submit(jobs.Square(3).area).result(30) == 9
    assert executor.submit(jobs.Square(3).scaled_area, factor=2).result(30) == (36, 0, 4)


def test_exception_is_raised_with_the_remote_traceback(executor):
    future = executor.submit(jobs.divide, 1, 0)
    with pytest.raises(ZeroDivisionError) as info:
        future.result(30)
    cause = info.value.__cause__
    assert isinstance(cause, pp.RemoteTraceback)
    assert "def divide" in cause.tb or "return a / b" in cause.tb
    assert isinstance(future.exception(30), ZeroDivisionError)


def test_as_completed_wait_and_done_callbacks(executor):
    seen = []
    futures = [executor.submit(jobs.square, i) for i in range(20)]
    futures[0].add_done_callback(lambda f: seen.append(f.result()))
    assert sorted(f.result() for f in cf.as_completed(futures, timeout=60)) == \
        [i * i for i in range(20)]
    done, not_done = cf.wait(futures, timeout=60)
    assert len(done) == 20 and not not_done
    assert seen == [0]


def test_map_keeps_order_chunks_and_raises_at_the_failing_item(executor):
    assert list(executor.map(jobs.add, range(50), range(50))) == [2 * i for i in range(50)]
    assert list(executor.map(jobs.square, range(1000), chunksize=64)) == \
        [i * i for i in range(1000)]
    # Several iterables in chunks; the shortest ends the map, as map() does.
    assert list(executor.map(jobs.add, range(100), range(0, 300, 3), chunksize=7)) == \
        [4 * i for i in range(100)]
    assert list(executor.map(jobs.add, range(5), range(3), chunksize=2)) == [0, 2, 4]
    results = executor.map(jobs.divide, [4, 6, 8], [2, 0, 4])
    assert next(results) == 2
    with pytest.raises(ZeroDivisionError):
        next(results)
    # As in ProcessPoolExecutor, a chunk raises as a whole, at its first item.
    results = executor.map(jobs.divide, [4, 6, 8], [2, 0, 4], chunksize=2)
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_map_timeout(executor):
    results = executor.map(jobs.sleep_and_return, [5, 5], ["a", "b"], timeout=0.5)
    with pytest.raises(cf.TimeoutError):
        list(results)


def test_map_consumes_an_endless_iterable_lazily(executor):
    consumed = itertools.count()

    def numbers():
        for i in itertools.count():
            next(consumed)
            yield i

    results = executor.map(jobs.square, numbers(), buffersize=16)
    assert [next(results) for _ in range(100)] == [i * i for i in range(100)]
    assert next(consumed) <= 100 + 16 + 1  # no more than the buffer ahead
    results.close()


def test_map_of_many_items_in_bounded_memory(executor):
    total = sum(executor.map(jobs.identity, (i for i in range(100_000)), chunksize=1000))
    assert total == sum(range(100_000))


def test_submit_after_shutdown_is_refused():
    ex = pp.Executor(1)
    ex.shutdown()
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(jobs.square, 2)


def test_cancel_a_queued_future_but_not_a_running_one(tmp_path):
    gate = tmp_path / "gate"
    with pp.Executor(1) as ex:
        running = ex.submit(jobs.wait_for_path, str(gate), "ran")
        queued = ex.submit(jobs.square, 3)
        time.sleep(0.3)  # the first job has reached the worker
        assert queued.cancel() and queued.cancelled()
        with pytest.raises(cf.CancelledError):
            queued.result(1)
        assert not running.cancel()
        gate.touch()
        assert running.result(30) == "ran"


def test_shutdown_cancel_futures_drops_the_queued_ones(tmp_path):
    gate = tmp_path / "gate"
    ex = pp.Executor(1)
    running = ex.submit(jobs.wait_for_path, str(gate), "ran")
    queued = [ex.submit(jobs.square, i) for i in range(5)]
    time.sleep(0.3)
    gate.touch()
    call_within(lambda: ex.shutdown(wait=True, cancel_futures=True), 60)
    assert running.result(1) == "ran"
    assert all(f.cancelled() for f in queued)


def test_job_timeout_kills_the_job_and_the_next_one_runs():
    with pp.Executor(1, job_timeout=1) as ex:
        stuck = ex.submit(jobs.sleep_and_return, 3600, "never")
        with pytest.raises(pp.JobTimeoutError) as info:
            stuck.result(30)
        assert isinstance(info.value, cf.TimeoutError) and "1s" in str(info.value)
        assert ex.submit(jobs.square, 4).result(30) == 16


def test_a_job_that_kills_its_worker_every_time_raises_worker_lost(executor):
    with pytest.raises(pp.WorkerLostError) as info:
        executor.submit(jobs.kill_own_worker).result(90)
    assert isinstance(info.value, cf.BrokenExecutor) and "SIGKILL" in str(info.value)
    assert executor.submit(jobs.square, 5).result(30) == 25


def test_asyncio_gather_of_a_thousand(executor):
    async def main():
        futures = [asyncio.wrap_future(executor.submit(jobs.square, i)) for i in range(1000)]
        return await asyncio.gather(*futures)

    assert asyncio.run(main()) == [i * i for i in range(1000)]


def test_max_workers_checks():
    with pytest.raises(ValueError):
        pp.Executor(0)
    with pytest.raises(ValueError):
        pp.Executor(-1)
    with pytest.raises(TypeError):
        pp.Executor("2")


def test_server_executor_leaves_the_server_running():
    server = pp.Server(1)
    try:
        with server.executor() as ex:
            assert ex.submit(jobs.square, 6).result(30) == 36
        assert server.submit(jobs.square, (7,))() == 49
    finally:
        server.destroy()


def test_nodes_only_and_cancelling_jobs_queued_on_a_node(tmp_path):
    gate, ran = tmp_path / "gate", tmp_path / "ran"
    with Node(workers=1) as node:
        with pp.Executor(0, ppservers=(node.addr,), secret=SECRET) as ex:
            assert ex.submit(jobs.square, 8).result(30) == 64
            blocker = ex.submit(jobs.wait_for_path, str(gate), "done")
            later = [ex.submit(jobs.append_line, str(ran), "job %d" % i) for i in range(4)]
            time.sleep(0.5)  # the node has them all, one running
            assert all(f.cancel() for f in later)
            gate.touch()
            assert blocker.result(30) == "done"
            assert ex.submit(jobs.square, 9).result(30) == 81
    assert not ran.exists(), ran.read_text()


SCRIPT_EXCEPTION = """
import pp


class Refused(Exception):
    pass


class Unpicklable(Exception):
    def __init__(self, lock):
        super().__init__("holds a lock")
        self.lock = lock


def refuse(x):
    raise Refused("no %d" % x)


def hold():
    import threading
    raise Unpicklable(threading.Lock())


with pp.Executor(1) as ex:
    try:
        ex.submit(refuse, 3).result()
    except Refused as exc:
        print("caught", type(exc).__name__, exc, type(exc.__cause__).__name__)
    try:
        ex.submit(hold).result()
    except pp.JobError as exc:
        print("substitute", exc.type_name)
    print(ex.submit(lambda x: x * 2, 21).result())
    offset = 5
    print(list(ex.map(lambda x: x + offset, range(3))))
"""


@needs_cloudpickle
def test_script_exceptions_lambdas_and_closures(tmp_path):
    proc = run_script(tmp_path, SCRIPT_EXCEPTION)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "caught Refused no 3 RemoteTraceback",
        "substitute __main__.Unpicklable",
        "42",
        "[5, 6, 7]",
    ]


@needs_cloudpickle
def test_a_node_without_cloudpickle_says_so(tmp_path):
    """A lambda ships by value; a node whose Python cannot load it answers
    with an error naming cloudpickle, and goes on serving."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    with Node("--python", str(bare / "bin" / "python"), workers=1) as node:
        with pp.Executor(0, ppservers=(node.addr,), secret=SECRET) as ex:
            with pytest.raises(ImportError, match="cloudpickle"):
                ex.submit(lambda x: x + 1, 1).result(60)
            assert ex.submit(jobs.square, 3).result(60) == 9
