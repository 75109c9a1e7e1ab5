"""Timeouts and cancellation through pp._core directly, as the Python API
built on them will call them: submit(..., timeout) and cancel(h, id)."""

import math
import os
import pickle

import pytest

from pp import _core
from pp._engine import worker_command, worker_environment

SLEEP = pickle.dumps(("nap", [(
    "def nap(seconds):\n    import time\n    time.sleep(seconds)\n    return seconds\n",
    "<test>", 1, True)], []))
KEY = 1


@pytest.fixture
def core():
    """A core handle with one local worker and the nap function."""
    proto = pickle.HIGHEST_PROTOCOL
    nul = b"".join(os.fsencode(s) + b"\0" for s in worker_command(proto))
    env = b"".join(os.fsencode(s) + b"\0" for s in worker_environment())
    h = _core.new(nul, env, os.getcwd(), 1, False, "", 0.0)
    _core.register(h, KEY, SLEEP)
    yield h
    _core.free(h)


def submit(h, seconds, timeout=0.0):
    return _core.submit(h, KEY, pickle.dumps((seconds,)), "g", False, timeout)


def test_status_values():
    assert (_core.STATUS_DONE, _core.STATUS_FAILED, _core.STATUS_CANCELLED,
            _core.STATUS_TIMED_OUT) == (0, 1, 2, 3)


def test_timeout(core):
    job = submit(core, 60, timeout=0.3)
    status, message, _segment = _core.result(core, job, 30)
    assert status == _core.STATUS_TIMED_OUT
    assert b"ran longer than its 300ms timeout; its worker" in message
    # The worker was replaced; a job in time is done, and the timeout
    # argument may be left out.
    job = _core.submit(core, KEY, pickle.dumps((0,)), "g", False)
    status, data, _segment = _core.result(core, job, 30)
    assert status == _core.STATUS_DONE and pickle.loads(data)[0] == 0
    status, data, _segment = _core.result(core, submit(core, 0.01, timeout=30), 30)
    assert status == _core.STATUS_DONE


@pytest.mark.parametrize("timeout", [-1.0, math.nan])
def test_bad_timeout(core, timeout):
    with pytest.raises(ValueError, match="timeout"):
        submit(core, 0, timeout=timeout)
    assert _core.pending(core) == 0


def test_cancel(core):
    running = submit(core, 1.0)
    queued = submit(core, 0)
    assert _core.wait(core, running, 0.2) is False  # it runs; the other waits for the worker
    assert _core.cancel(core, queued) is True
    assert _core.cancel(core, queued) is False
    assert _core.cancel(core, running) is False
    status, _, _segment = _core.result(core, queued, 0)
    assert status == _core.STATUS_CANCELLED
    status, _, _segment = _core.result(core, running, 30)
    assert status == _core.STATUS_DONE
    assert _core.cancel(core, running) is False
    assert _core.cancel(core, 10**9) is False
    assert _core.pending(core) == 0


def test_cancel_after_free(core):
    h = core
    _core.free(h)
    with pytest.raises(_core.Closed):
        _core.cancel(h, 1)
