"""The task object: results, raw results, errors and output of jobs."""

import pickle

import pytest

import pp
import jobs
from helpers import call_within, wait_until


def test_task_returns_the_result(server):
    task = server.submit(jobs.add, (20, 22))
    assert task() == 42
    # Cached: calling again returns the same result.
    assert task() == 42


def test_results_of_many_types(server):
    values = [None, True, 3, 2.5, 1 + 2j, "text", b"bytes", [1, [2]], (1, 2),
              {"a": {1, 2}}, frozenset({3}), range(4)]
    tasks = [server.submit(jobs.identity, (v,)) for v in values]
    assert [t() for t in tasks] == values


def test_result_is_unpickled_once_and_cached(server):
    task = server.submit(jobs.identity, ([1, 2, 3],))
    first = task()
    assert first == [1, 2, 3]
    assert task() is first


def test_raw_result(server):
    task = server.submit(jobs.square, (12,))
    raw = task(raw_result=True)
    assert isinstance(raw, bytes)
    loaded = pickle.loads(raw)
    assert loaded[0] == 144
    # The unpickled result is still there afterwards.
    assert task() == 144


def test_finished_flag_and_wait(server, tmp_path):
    gate = tmp_path / "gate"
    task = server.submit(jobs.wait_for_path, (str(gate), "opened"))
    assert task.finished is False
    gate.touch()
    assert call_within(task.wait, 30) is None
    assert task.finished is True
    assert task() == "opened"


def test_finished_becomes_true_without_calling(server):
    task = server.submit(jobs.square, (3,))
    # Legacy scripts poll job.finished in a loop without calling the task.
    assert wait_until(lambda: task.finished, timeout=15)
    assert task.finished is True
    assert task() == 9


def test_job_exception_returns_none_and_prints_traceback(server, capfd):
    task = server.submit(jobs.divide, (1, 0))
    assert task() is None
    out, err = capfd.readouterr()
    assert "ZeroDivisionError" in out
    assert "Traceback" in out


@pytest.mark.ppgo_only
def test_job_traceback_names_the_users_file_and_line(server, capfd):
    import inspect

    assert server.submit(jobs.divide, (1, 0))() is None
    out, _ = capfd.readouterr()
    lines, first = inspect.getsourcelines(jobs.divide)
    line = first + next(i for i, text in enumerate(lines) if "/" in text and "def" not in text)
    assert 'File "%s", line %d, in divide' % (inspect.getsourcefile(jobs.divide), line) in out
    assert "pp/worker.py" not in out  # the worker's own frames are noise


def test_job_exception_message_is_printed(server, capfd):
    assert server.submit(jobs.raise_value_error, ("a very particular message",))() is None
    out, _ = capfd.readouterr()
    assert "ValueError" in out
    assert "a very particular message" in out


def test_job_exception_does_not_affect_other_jobs(server, capfd):
    bad = server.submit(jobs.divide, (1, 0))
    good = server.submit(jobs.divide, (1, 4))
    assert bad() is None
    assert good() == 0.25


def test_job_output_is_printed_at_task_call(server, capfd):
    task = server.submit(jobs.print_and_return, ("hello from the job 7f3a", 5))
    task.wait()
    out, _ = capfd.readouterr()
    assert "hello from the job 7f3a" not in out  # not before the result is unpickled
    assert task() == 5
    out, _ = capfd.readouterr()
    assert "hello from the job 7f3a" in out
    # Printed once: a second call only returns the cached result.
    assert task() == 5
    out, _ = capfd.readouterr()
    assert "hello from the job 7f3a" not in out


def test_job_output_in_order_of_task_calls(server, capfd):
    tasks = [server.submit(jobs.print_and_return, ("line-%d-marker" % i, i)) for i in range(5)]
    for t in reversed(tasks):
        t()
    out, _ = capfd.readouterr()
    positions = [out.index("line-%d-marker" % i) for i in range(5)]
    assert positions == sorted(positions, reverse=True)


def test_job_stderr_output_is_printed_by_client(server, capfd):
    task = server.submit(jobs.print_to_stderr_and_return, ("stderr marker 91c2", 1))
    assert task() == 1
    out, err = capfd.readouterr()
    assert "stderr marker 91c2" in out + err


def test_failed_module_import_returns_none_and_prints(server, capfd):
    task = server.submit(jobs.use_missing_module, (), modules=("no_such_module_ppgo_test",))
    assert task() is None
    out, _ = capfd.readouterr()
    assert "no_such_module_ppgo_test" in out
    assert "ModuleNotFoundError" in out or "No module named" in out


def test_pending_task_after_destroy_raises(tmp_path):
    server = pp.Server(ncpus=1)
    gate = tmp_path / "gate"
    running = server.submit(jobs.wait_for_path, (str(gate), 1))
    queued = server.submit(jobs.square, (2,))
    server.destroy()
    with pytest.raises(pp.DestroyedServerError):
        call_within(running, 30)
    with pytest.raises(pp.DestroyedServerError):
        call_within(queued, 30)


def test_finished_task_still_returns_after_destroy():
    server = pp.Server(ncpus=1)
    task = server.submit(jobs.square, (6,))
    assert task() == 36
    server.destroy()
    assert task() == 36


def test_unread_results_survive_destroy():
    server = pp.Server(ncpus=1)
    results = []
    plain = server.submit(jobs.square, (7,))
    with_callback = server.submit(jobs.square, (8,), callback=results.append)
    server.wait()
    server.destroy()
    assert plain.finished and with_callback.finished
    assert plain() == 49 and with_callback() == 64 and results == [64]
    assert pickle.loads(plain(raw_result=True))[0] == 49


def test_pending_tasks_after_destroy_are_finished_and_wait_returns(tmp_path):
    server = pp.Server(ncpus=1)
    running = server.submit(jobs.wait_for_path, (str(tmp_path / "never"), 1))
    queued = server.submit(jobs.square, (2,))
    server.destroy()
    for task in (running, queued):
        call_within(task.wait, 30)  # returns, as in pp 1.7.0; task() raises
        assert task.finished
    call_within(server.wait, 30)


def test_task_ids_count_from_zero_as_in_pp(server):
    tasks = [server.submit(jobs.square, (i,)) for i in range(3)]
    assert [t.tid for t in tasks] == [0, 1, 2]
    assert [t() for t in tasks] == [0, 1, 4]


def test_legacy_task_attributes(server):
    def note(*args):
        pass

    task = server.submit(jobs.square, (5,), callback=note, callbackargs=("x",), group="g")
    assert task.server is server and task.callback is note and task.callbackargs == ("x",)
    with task.lock:  # pp's lock: held until the job is done
        assert task.finished
    assert pickle.loads(task.sresult) == (25, "")
    assert task.group == "g"


def test_task_lock_times_out_while_the_job_runs(server, tmp_path):
    gate = tmp_path / "gate"
    task = server.submit(jobs.wait_for_path, (str(gate), "opened"))
    assert task.lock.acquire(timeout=0.2) is False
    assert task.lock.acquire(blocking=False) is False
    assert task.sresult is None
    gate.touch()
    assert call_within(task.lock.acquire, 30)
    task.lock.release()
    assert task() == "opened"


# pp 1.7.0 reports a lost job without ppgo's retries.
@pytest.mark.ppgo_only
def test_failure_message_names_the_task(server1, capfd):
    server1.submit(jobs.square, (1,))()
    task = server1.submit(jobs.kill_own_worker)
    assert call_within(task, 90) is None
    out, _ = capfd.readouterr()
    assert "pp: job 1 failed after 3 attempts" in out
