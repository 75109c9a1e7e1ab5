"""Worker processes that die: nothing hangs, the server goes on."""

import gc
import os
import signal
import threading
import weakref

import pytest

import pp
import jobs
from helpers import call_within, is_alive, kill_quietly, wait_until, worker_pids


def own(before):
    return set(worker_pids()) - before


def read_pid(path):
    try:
        text = path.read_text()
    except OSError:
        return None
    return int(text) if text else None


def kill_running_job_worker(server, before, tmp_path, value):
    """Submits a job that announces its pid and sleeps; kills that worker
    from outside while the job runs. Returns (task, killed pid)."""
    started = tmp_path / "started"
    task = server.submit(jobs.touch_then_sleep, (str(started), 1.0, value))
    assert wait_until(lambda: read_pid(started), timeout=30), "job did not start"
    pid = read_pid(started)
    assert pid in own(before)
    started.unlink()
    os.kill(pid, signal.SIGKILL)
    return task, pid


def test_killed_worker_is_replaced_and_task_returns(one_worker, tmp_path):
    server, before = one_worker
    task, pid = kill_running_job_worker(server, before, tmp_path, "v1")
    # Whatever the outcome (retried or failed), the task does not hang ...
    result = call_within(task, 60)
    assert result in ("v1", None)
    # ... and a fresh worker takes the dead one's place.
    assert wait_until(lambda: not is_alive(pid))
    assert wait_until(lambda: len(own(before)) == 1 and pid not in own(before), timeout=30)
    assert call_within(server.submit(jobs.square, (7,)), 60) == 49
    assert server.get_ncpus() == 1


# ppgo_only: pp 1.7.0 fails the job (None) instead of running it again.
@pytest.mark.ppgo_only
def test_killed_worker_job_is_retried(one_worker, tmp_path):
    server, before = one_worker
    task, pid = kill_running_job_worker(server, before, tmp_path, "the result")
    assert call_within(task, 60) == "the result"
    assert wait_until(lambda: len(own(before)) == 1 and pid not in own(before), timeout=30)


# ppgo_only: the retry of a job whose worker died is ppgo's (PP_COMPAT.md,
# "Where this project deliberately differs"); pp 1.7.0 returns None.
@pytest.mark.ppgo_only
def test_job_that_dies_once_is_retried(one_worker, tmp_path):
    server, _ = one_worker
    marker = tmp_path / "died-once"
    task = server.submit(jobs.kill_own_worker_once, (str(marker), 99))
    assert call_within(task, 60) == 99
    assert marker.exists()


def test_job_killing_its_worker_returns_none(one_worker, capfd):
    server, before = one_worker
    task = server.submit(jobs.kill_own_worker)
    assert call_within(task, 90) is None
    assert call_within(server.submit(jobs.square, (4,)), 60) == 16
    assert wait_until(lambda: len(own(before)) == 1, timeout=30)


# ppgo_only: pp 1.7.0 prints a generic "local worker failed" message.
@pytest.mark.ppgo_only
def test_job_killing_its_worker_names_the_signal(one_worker, capfd):
    server, _ = one_worker
    task = server.submit(jobs.kill_own_worker)
    assert call_within(task, 90) is None
    out, err = capfd.readouterr()
    assert "SIGKILL" in out


def test_job_exiting_its_worker_returns_none(one_worker):
    server, before = one_worker
    task = server.submit(jobs.exit_worker, (3,))
    assert call_within(task, 90) is None
    assert call_within(server.submit(jobs.square, (5,)), 60) == 25
    assert wait_until(lambda: len(own(before)) == 1, timeout=30)


# ppgo_only: pp 1.7.0 prints a generic "local worker failed" message.
@pytest.mark.ppgo_only
def test_job_exiting_its_worker_names_the_exit_code(one_worker, capfd):
    server, _ = one_worker
    task = server.submit(jobs.exit_worker, (3,))
    assert call_within(task, 90) is None
    out, _ = capfd.readouterr()
    assert "exit" in out and "3" in out
    assert "exited with code 3" in out


def test_dying_jobs_do_not_disturb_other_jobs(tmp_path):
    server = pp.Server(ncpus=2)
    try:
        bad = [server.submit(jobs.kill_own_worker) for _ in range(2)]
        bad.append(server.submit(jobs.exit_worker, (7,)))
        good = [server.submit(jobs.square, (i,)) for i in range(20)]
        assert [call_within(t, 120) for t in good] == [i * i for i in range(20)]
        assert [call_within(t, 120) for t in bad] == [None, None, None]
        call_within(server.wait, 60)
        assert call_within(server.submit(jobs.add, (1, 1)), 60) == 2
    finally:
        server.destroy()


def test_dying_job_with_callback(one_worker):
    server, _ = one_worker
    got = []
    done = threading.Event()

    def callback(result):
        got.append(result)
        done.set()

    server.submit(jobs.kill_own_worker, callback=callback)
    assert done.wait(90)
    assert got == [None]


def test_destroy_kills_workers_even_with_running_jobs(tmp_path):
    before = set(worker_pids())
    server = pp.Server(ncpus=2)
    started = tmp_path / "started"
    gate = tmp_path / "never-opened"
    tasks = [server.submit(jobs.touch_then_wait, (str(started), str(gate), i)) for i in range(4)]
    assert wait_until(lambda: started.exists(), timeout=30)
    pids = own(before)
    assert len(pids) == 2
    call_within(server.destroy, 30)
    assert wait_until(lambda: not any(is_alive(p) for p in pids), timeout=30)
    for t in tasks:
        with pytest.raises(pp.DestroyedServerError):
            call_within(t, 30)
    # destroy() twice is harmless.
    call_within(server.destroy, 30)
    for p in pids:
        kill_quietly(p)


def _pp_threads():
    return {t for t in threading.enumerate() if t.name in ("pp-nodes", "pp-callbacks")}


# ppgo_only: pp 1.7.0 keeps a dropped Server's workers until interpreter exit.
@pytest.mark.ppgo_only
def test_dropped_server_is_collected_with_its_threads_and_workers():
    threads_before, workers_before = _pp_threads(), set(worker_pids())
    results = []
    server = pp.Server(ncpus=2, ppservers=("127.0.0.1:1",))  # a node that refuses
    server.submit(jobs.square, (3,), callback=results.append)
    call_within(server.wait, 30)
    task = server.submit(jobs.square, (4,))
    assert call_within(task, 30) == 16
    workers = set(worker_pids()) - workers_before
    assert len(workers) == 2 and results == [9]
    ref = weakref.ref(server)
    del server, task
    gc.collect()
    assert ref() is None, gc.get_referrers(ref())
    assert wait_until(lambda: not set(worker_pids()) & workers, timeout=30)
    assert wait_until(lambda: _pp_threads() <= threads_before, timeout=30)
