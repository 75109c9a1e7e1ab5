"""Legacy tasks with the methods of a concurrent.futures.Future (result,
exception, done, cancel, add_done_callback, await), job timeouts on the
legacy interface, and progress bars, while task() keeps pp's behaviour."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import threading
import time

import pytest

import jobs
import pp
from helpers import call_within

pytestmark = pytest.mark.ppgo_only


def test_result_raises_what_the_job_raised_while_task_keeps_pps_way(server, capfd):
    task = server.submit(jobs.divide, (1, 0))
    assert task() is None  # pp: the traceback is printed, None returned
    out, _ = capfd.readouterr()
    assert "ZeroDivisionError" in out
    with pytest.raises(ZeroDivisionError) as info:
        task.result()
    assert isinstance(info.value.__cause__, pp.RemoteTraceback)
    assert isinstance(task.exception(), ZeroDivisionError)
    assert task.done() and not task.cancelled()


def test_result_prints_the_jobs_output_once(server, capfd):
    task = server.submit(jobs.print_and_return, ("marker 4711", 5))
    assert task.result(30) == 5 and task() == 5
    out, _ = capfd.readouterr()
    assert out.count("marker 4711") == 1


def test_result_timeout(server, tmp_path):
    task = server.submit(jobs.wait_for_path, (str(tmp_path / "gate"), 1))
    with pytest.raises(cf.TimeoutError):
        task.result(timeout=0.2)
    (tmp_path / "gate").touch()
    assert task.result(30) == 1


def test_cancel_a_queued_task(server1, tmp_path):
    gate = tmp_path / "gate"
    running = server1.submit(jobs.wait_for_path, (str(gate), "ran"))
    queued = server1.submit(jobs.square, (3,))
    time.sleep(0.3)
    assert queued.cancel() and queued.cancelled() and queued.done()
    with pytest.raises(cf.CancelledError):
        queued.result()
    with pytest.raises(cf.CancelledError):
        queued()
    assert not running.cancel()
    gate.touch()
    assert running() == "ran"


def test_done_callbacks_plain_and_with_callback(server):
    seen = []
    event = threading.Event()

    def note(task):
        seen.append(task.result())
        if len(seen) == 3:
            event.set()

    plain = server.submit(jobs.sleep_and_return, (0.2, "plain"))
    plain.add_done_callback(note)
    with_callback = server.submit(jobs.square, (4,), callback=lambda r: None)
    with_callback.add_done_callback(note)
    done = server.submit(jobs.square, (5,))
    done.wait()
    done.add_done_callback(note)  # already done: called at once
    assert event.wait(30), seen
    assert sorted(map(str, seen)) == ["16", "25", "plain"]
    assert plain() == "plain"


def test_await_tasks(server):
    async def main():
        return await asyncio.gather(*(server.submit(jobs.square, (i,)) for i in range(1000)))

    assert asyncio.run(main()) == [i * i for i in range(1000)]


def test_legacy_timeout_gives_none_and_says_why(server1, capfd):
    stuck = server1.submit(jobs.sleep_and_return, (3600, "never"), timeout=1)
    assert call_within(stuck, 30) is None
    out, _ = capfd.readouterr()
    assert "timeout" in out
    with pytest.raises(pp.JobTimeoutError):
        stuck.result()
    assert server1.submit(jobs.square, (6,))() == 36


@pytest.mark.parametrize("bad", [0, -1, "1", True])
def test_timeout_checks(server, bad):
    with pytest.raises((TypeError, ValueError)):
        server.submit(jobs.square, (1,), timeout=bad)


def test_a_task_whose_worker_dies_every_time_raises_worker_lost(server1):
    task = server1.submit(jobs.kill_own_worker)
    with pytest.raises(pp.WorkerLostError):
        task.result(90)
    assert task() is None  # pp's way: None and the reason printed


def test_progress_bars(server, capfd):
    for i in range(20):
        server.submit(jobs.sleep_and_return, (0.02, i))
    server.wait(progress="always")
    _, err = capfd.readouterr()
    assert "20/20" in err or "20it" in err or "20/" in err, err
    with server.executor() as ex:
        assert list(ex.map(jobs.square, range(10), progress="always")) == [i * i for i in range(10)]
    _, err = capfd.readouterr()
    assert "10/10" in err or "10/" in err, err
    server.wait(progress=True)  # not a terminal: nothing drawn
    assert capfd.readouterr().err == ""
