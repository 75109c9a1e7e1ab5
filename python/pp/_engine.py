"""One Server's Go engine as Python reaches it: a handle into pp._core.

The data path, one job without a callback (cgo calls in brackets):

    Server.submit ─► Engine.submit [ppgoSubmit; ppgoRegister the first time
                     a function's source is used] ─► Go schedules, a worker
                     runs it
    Task() ───────► Engine.result [ppgoWait per 50 ms slice, ppgoResult,
                     ppgoCopyResult] ─► Engine.forget [ppgoForget]

With a callback (or for a future), the CallbackRunner's thread takes
finished jobs in batches [ppgoNextNotified, up to 256 jobs] and for each
[ppgoResult, ppgoCopyResult], then, once the callback ran, [ppgoRelease].

``await task`` takes neither route: the core writes a byte to a pipe the
event loop watches [ppgoSignal, ppgoSignalFd] and the loop's thread takes
the finished ids [ppgoTakeSignalled] (pp._aio).

Errors: a call that reaches the core after destroy() raises pp._core.Closed,
which is a DestroyedServerError, so nothing here translates it.
"""

from __future__ import annotations

import functools
import os
import weakref
from typing import Any, NamedTuple

from pp import _prestart
from pp._workers import worker_command, worker_environment

# How a job ended. pp._core exports the same values (from pybind/shim.h,
# which core/sched's statuses are mapped onto); Engine checks they agree.
STATUS_DONE, STATUS_FAILED, STATUS_CANCELLED, STATUS_TIMED_OUT = 0, 1, 2, 3


class NodeRow(NamedTuple):
    """One node (the local pool, or a ppserver) as the core describes it."""

    name: str
    workers: int
    connected: bool
    running: int
    jobs: int
    busy: float  # seconds of job execution


def _nul_join(items: list[str]) -> bytes:
    return b"".join(os.fsencode(item) + b"\0" for item in items)


def _free(core: Any, handle: int) -> None:
    """Frees a core handle once its Engine is gone."""
    if not core.forked():  # in a forked child the core is the parent's
        core.free(handle)


class Engine:
    """A handle into pp._core and the calls made on it.

    The calls on the per-job path (submit, result, take, wait, forget,
    release, next_notified) are the core's functions with the handle bound,
    so they cost no Python frame. close() stops the engine but keeps the
    handle: results of finished jobs stay readable until the Engine is
    garbage, when the handle is freed.
    """

    def __init__(self, workers: int, restart: bool, secret: str, silence: float,
                 proto: int) -> None:
        """Starts the engine: ``workers`` local worker processes (restarted
        after every job when ``restart``), ``secret`` for ppservers, which
        may stay ``silence`` seconds silent, results pickled with ``proto``."""
        from pp import _core  # loads the Go runtime: once per process, on first use

        if (_core.STATUS_DONE, _core.STATUS_FAILED, _core.STATUS_CANCELLED,
                _core.STATUS_TIMED_OUT) != \
                (STATUS_DONE, STATUS_FAILED, STATUS_CANCELLED, STATUS_TIMED_OUT):
            raise ImportError("pp._core's job statuses do not match pp._engine's")
        self.proto = proto  # of the results the workers send
        self.closed = False
        self._core = _core
        argv, env, cwd = worker_command(proto), worker_environment(), os.getcwd()
        handle = _core.new(_nul_join(argv), _nul_join(env), cwd, workers, restart, secret,
                           silence, _prestart.take(argv, env, cwd, workers))
        self._handle = handle
        weakref.finalize(self, _free, _core, handle)
        bind = functools.partial
        self.register = bind(_core.register, handle)
        self.submit = bind(_core.submit, handle)
        self.result = bind(_core.result, handle)
        self.take = bind(_core.take, handle)
        self.wait = bind(_core.wait, handle)
        self.forget = bind(_core.forget, handle)
        self.release = bind(_core.release, handle)
        self.next_notified = bind(_core.next_notified, handle)
        self.next_event = bind(_core.next_event, handle)
        self.wait_group = bind(_core.wait_group, handle)
        self.connect = bind(_core.connect, handle)
        self.discover = bind(_core.discover, handle)
        self.serve_metrics = bind(_core.serve_metrics, handle)
        self.workers = bind(_core.workers, handle)
        self.set_workers = bind(_core.set_workers, handle)
        self.pending = bind(_core.pending, handle)
        self.queued = bind(_core.queued, handle)
        self.worker_states = bind(_core.worker_states, handle)
        self.cancel = bind(_core.cancel, handle)
        self.watch = bind(_core.watch, handle)
        self.signal = bind(_core.signal, handle)
        self.signal_fd = bind(_core.signal_fd, handle)
        self.take_signalled = bind(_core.take_signalled, handle)

    def segment(self, buffers: list[memoryview]) -> tuple[int, int]:
        """A new segment holding a job's out-of-band buffers: (descriptor,
        size); the caller closes the descriptor once the core has its own."""
        from pp import worker

        return worker.make_segment(buffers)

    def submit_out_of_band(self, key: int, sargs: bytes, buffers: list[memoryview], group: str,
                           notify: bool, timeout: float) -> int:
        """submit(), for arguments with large buffers: they go in a segment
        the core hands to the worker."""
        fd, size = self.segment(buffers)
        try:
            return self.submit(key, sargs, group, notify, timeout, fd, size)
        finally:
            os.close(fd)

    def done(self, job_id: int) -> bool:
        """Whether the job is finished (a job the core forgot counts as
        finished)."""
        return self._core.wait(self._handle, job_id, 0.0)

    def nodes(self) -> list[NodeRow]:
        """Every node, the local pool first."""
        return [NodeRow(*row) for row in self._core.nodes(self._handle)]

    def forked(self) -> bool:
        """Whether this process is a child forked after the engine started:
        then the Go runtime is the parent's and every call raises."""
        return self._core.forked()

    def close(self) -> None:
        """Stops the engine: pending jobs are cancelled, workers killed,
        node connections closed. Finished results stay readable."""
        if not self.closed:
            self.closed = True
            if not self.forked():
                self._core.close(self._handle)
