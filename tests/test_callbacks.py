"""Callbacks: callback(*callbackargs, result), in the client, off the main thread."""

import os
import threading
import time

import pytest

import jobs
from helpers import call_within


class Recorder:
    def __init__(self, expected=1):
        self.calls = []
        self.lock = threading.Lock()
        self.expected = expected
        self.done = threading.Event()

    def __call__(self, *args):
        with self.lock:
            on_main = threading.current_thread() is threading.main_thread()
            self.calls.append((args, os.getpid(), on_main))
            if len(self.calls) >= self.expected:
                self.done.set()


def test_callback_gets_callbackargs_then_result(server):
    rec = Recorder()
    task = server.submit(jobs.square, (9,), callback=rec, callbackargs=("a", 2))
    assert rec.done.wait(30), "callback not called"
    (args, pid, on_main), = rec.calls
    assert args == ("a", 2, 81)
    assert task() == 81


def test_callback_without_callbackargs(server):
    rec = Recorder()
    server.submit(jobs.add, (1, 2), callback=rec)
    assert rec.done.wait(30)
    assert rec.calls[0][0] == (3,)


def test_callback_runs_in_client_process_off_the_main_thread(server):
    rec = Recorder()
    server.submit(jobs.square, (2,), callback=rec)
    assert rec.done.wait(30)
    _, pid, on_main = rec.calls[0]
    assert pid == os.getpid()
    assert on_main is False


def test_callback_called_without_calling_the_task(server):
    rec = Recorder(expected=5)
    for i in range(5):
        server.submit(jobs.square, (i,), callback=rec, callbackargs=(i,))
    assert rec.done.wait(30)
    assert sorted(args for args, _, _ in rec.calls) == [(i, i * i) for i in range(5)]


def test_callback_receives_none_for_failed_job(server, capfd):
    rec = Recorder()
    task = server.submit(jobs.divide, (1, 0), callback=rec, callbackargs=("x",))
    assert rec.done.wait(30)
    assert rec.calls[0][0] == ("x", None)
    assert task() is None
    out, _ = capfd.readouterr()
    assert "ZeroDivisionError" in out


def test_job_output_is_printed_before_the_callback(server, capfd):
    done = threading.Event()

    def callback(result):
        print("CALLBACK-RAN-%s" % result, flush=True)
        done.set()

    server.submit(jobs.print_and_return, ("JOB-OUTPUT-5e1d", 7), callback=callback)
    assert done.wait(30)
    call_within(server.wait, 30)
    out, _ = capfd.readouterr()
    assert "JOB-OUTPUT-5e1d" in out and "CALLBACK-RAN-7" in out
    assert out.index("JOB-OUTPUT-5e1d") < out.index("CALLBACK-RAN-7")


def test_task_after_callback_returns_result(server):
    rec = Recorder()
    task = server.submit(jobs.identity, ({"r": 1},), callback=rec)
    assert rec.done.wait(30)
    assert call_within(task, 30) == {"r": 1}
    assert task.finished is True


def test_callback_exception_does_not_hang(server):
    called = threading.Event()

    def bad_callback(result):
        called.set()
        raise RuntimeError("callback failure on purpose")

    task = server.submit(jobs.square, (5,), callback=bad_callback)
    assert called.wait(30)
    assert call_within(task, 30) == 25
    call_within(server.wait, 30)
    # Later jobs and their callbacks still work.
    rec = Recorder()
    again = server.submit(jobs.square, (6,), callback=rec)
    assert rec.done.wait(30)
    assert rec.calls[0][0] == (36,)
    assert call_within(again, 30) == 36


def test_wait_returns_after_callbacks(server):
    rec = Recorder(expected=4)
    for i in range(4):
        server.submit(jobs.square, (i,), callback=rec)
    call_within(server.wait, 30)
    assert rec.done.wait(30)
    assert len(rec.calls) == 4


def test_callback_may_wait_for_another_task(server, tmp_path):
    gate = tmp_path / "gate"
    rec = Recorder()
    other_seen = []
    other = server.submit(jobs.wait_for_path, (str(gate), "other"), callback=rec)

    def callback_waiting_for_other(result):
        gate.touch()
        other_seen.append((result, other()))

    first = server.submit(jobs.square, (4,), callback=callback_waiting_for_other)
    call_within(server.wait, 60)
    assert call_within(first, 30) == 16
    assert other_seen == [(16, "other")]
    assert rec.done.wait(30)
    assert rec.calls[0][0] == ("other",)


def test_callback_may_submit(server):
    results = []
    done = threading.Event()

    def chain(result):
        results.append(result)
        if result < 100:
            server.submit(jobs.square, (result,), callback=chain)
        else:
            done.set()

    server.submit(jobs.square, (2,), callback=chain)
    assert done.wait(60)
    assert results == [4, 16, 256]


# pp 1.7.0 runs callbacks on the worker's thread, which a SystemExit ends.
@pytest.mark.ppgo_only
@pytest.mark.parametrize("exception", [SystemExit, GeneratorExit, ValueError])
def test_no_exception_from_a_callback_stops_later_ones(server, caplog, exception):
    def bad(result):
        raise exception("from the callback")

    rec = Recorder(expected=3)
    first = server.submit(jobs.square, (2,), callback=bad)
    later = [server.submit(jobs.square, (i,), callback=rec) for i in range(3)]
    assert rec.done.wait(30), "callbacks stopped after one raised %s" % exception.__name__
    call_within(server.wait, 30)
    assert call_within(first, 30) == 4 and [call_within(t, 30) for t in later] == [0, 1, 4]
    assert any(exception.__name__ in r.getMessage() and "callback of job 0" in r.getMessage()
               for r in caplog.records)


@pytest.mark.ppgo_only
def test_keyboard_interrupt_in_a_callback_reaches_the_main_thread(server):
    def interrupt(result):
        raise KeyboardInterrupt

    server.submit(jobs.square, (2,), callback=interrupt)
    with pytest.raises(KeyboardInterrupt):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.01)
    rec = Recorder()
    server.submit(jobs.square, (3,), callback=rec)
    assert rec.done.wait(30), "the callback thread died with the interrupt"


@pytest.mark.ppgo_only
def test_unpicklable_result_is_reported_as_such(server, caplog):
    rec = Recorder()
    task = server.submit(jobs.make_bomb, callback=rec)
    call_within(server.wait, 30)
    assert rec.calls == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("could not be unpickled" in m and "did not run" in m for m in messages), messages
    assert not any("callback of job" in m for m in messages)
    with pytest.raises(ValueError, match="cannot be unpickled"):
        task()
