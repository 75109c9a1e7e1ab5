"""Waking an asyncio event loop as the jobs it awaits finish.

``await task`` should cost little more than ``task()``. The general way to
be told of a finished job runs through the pp-callbacks thread, which would
then have to wake the loop with call_soon_threadsafe: two thread hand-offs
and two GIL hand-overs per job. Instead the core writes a byte to a pipe
that the loop's selector watches, and the loop's own thread asks the core
which jobs have finished:

    job finishes (Go) ─► byte on the pipe ─► the loop's selector wakes ─►
    LoopSignals._drain [take_signalled] ─► each waiter.set_result(None) ─►
    the awaiting coroutine reads the result as task() would

One pipe per engine, watched by one loop at a time: the first loop that
awaits a task, until it is closed (asyncio.run makes a new loop each time;
the next one takes the pipe over). A task awaited from another loop that is
still open (loops in several threads) takes the general way; so does one
on a loop that cannot watch a file descriptor.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING

from pp._errors import DestroyedServerError

if TYPE_CHECKING:  # asyncio itself only once a task is awaited: import pp stays light
    import asyncio

    from pp._engine import Engine

# take_signalled hands out at most this many ids a call (pybind/shim.c).
BATCH = 256


def _close_fds(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    fds.clear()


class LoopSignals:
    """One engine's pipe, the loop that watches it, and that loop's waiters."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        # Guarded by _lock:
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop watching _fds[0]
        self._fds: list[int] = []  # the pipe (read end, write end), once made
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}  # _loop's, by job id
        self._closed = False
        # A loop closed before it ran close()'s _finish leaves the pipe open.
        weakref.finalize(self, _close_fds, self._fds)

    def waiter(self, loop: asyncio.AbstractEventLoop,
               job_id: int) -> asyncio.Future[None] | None:
        """A future of loop (the running loop of the calling thread) that is
        done once job_id has finished; None where this loop cannot be told
        through the pipe, and the caller must take the general way."""
        with self._lock:
            if self._closed or (self._loop is not loop and not self._adopt_locked(loop)):
                return None
            waiter = loop.create_future()
            self._waiters.setdefault(job_id, []).append(waiter)
        try:
            pending = self._engine.signal(job_id)
        except DestroyedServerError:
            pending = False
        if not pending:  # it has finished already
            self._settle([job_id])
        return waiter

    def _adopt_locked(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Has loop watch the pipe, unless another open loop does."""
        if self._loop is not None and not self._loop.is_closed():
            return False
        try:
            if not self._fds:
                self._fds.extend(os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC))
                self._engine.signal_fd(self._fds[1])
            loop.add_reader(self._fds[0], self._drain)
        except (NotImplementedError, OSError, DestroyedServerError):
            return False  # a loop with no add_reader (Windows' proactor), or no pipe
        self._loop = loop
        self._waiters.clear()  # the closed loop's: nothing awaits them any more
        return True

    def _drain(self) -> None:
        """On the loop's thread, when the pipe is readable: settles the
        waiters of every job that has finished."""
        try:
            os.read(self._fds[0], 4096)  # before take_signalled: no wake-up is lost
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            try:
                ids = self._engine.take_signalled()
            except DestroyedServerError:
                return
            self._settle(ids)
            if len(ids) < BATCH:
                return

    def _settle(self, ids: list[int]) -> None:
        with self._lock:
            waiters = [w for job_id in ids for w in self._waiters.pop(job_id, ())]
        for waiter in waiters:
            if not waiter.done():  # an awaiting coroutine cancelled cancels its waiter
                waiter.set_result(None)

    def close(self) -> None:
        """After the engine closed (it writes to the pipe no more): wakes
        every waiter, whose task now ends as destroyed or with its result,
        and closes the pipe, on the loop's thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop = self._loop
        if loop is None or loop.is_closed():
            _close_fds(self._fds)
            return
        import asyncio

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._finish(loop)
            return
        try:
            loop.call_soon_threadsafe(self._finish, loop)
        except RuntimeError:  # closed meanwhile
            _close_fds(self._fds)

    def _finish(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            ids = list(self._waiters)
        self._settle(ids)
        if self._fds:
            loop.remove_reader(self._fds[0])
        _close_fds(self._fds)
