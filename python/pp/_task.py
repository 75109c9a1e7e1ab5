"""The task object that Server.submit returns."""

from __future__ import annotations

import pickle
import threading
from typing import TYPE_CHECKING, Any, Callable

from pp._errors import DestroyedServerError

if TYPE_CHECKING:
    from pp._server import Server

# Statuses of a finished job, as pp._core reports them (core/sched's Status).
STATUS_DONE, STATUS_FAILED, STATUS_CANCELLED = 0, 1, 2

DESTROYED_MESSAGE = "Server was destroyed before the job completion"


class Task:
    """A submitted job: call it for the result, as with legacy pp's tasks.

    ``task()`` blocks until the job is done and returns its result (None if
    the job raised; the worker's traceback is printed). ``task(raw_result=True)``
    returns the pickled ``(result, output)`` bytes. ``finished`` says whether
    it is done; ``wait()`` blocks until it is.
    """

    __slots__ = ("_server", "tid", "group", "_finished", "_callback", "_callbackargs",
                 "_sresult", "_result", "_unpickled", "_lock", "__weakref__")

    def __init__(self, server: Server, tid: int, callback: Callable | None,
                 callbackargs: tuple, group: str) -> None:
        self._server = server
        self.tid = tid
        self.group = group
        self._finished = False
        self._callback = callback
        self._callbackargs = callbackargs
        self._sresult: bytes | None = None
        self._result: Any = None
        self._unpickled = False
        self._lock = threading.Lock()

    @property
    def finished(self) -> bool:
        """Whether the job is done (and, with a callback, the callback ran)."""
        if self._finished:
            return True
        if self._callback is not None:
            return False
        return self._server._job_done(self.tid)

    def __call__(self, raw_result: bool = False) -> Any:
        if not self._finished:
            self.wait()
        if raw_result:
            return self._sresult
        if not self._unpickled:
            self._unpickle()
        return self._result

    def wait(self) -> None:
        """Blocks until the job is done (for a job with a callback: until
        the callback has run)."""
        if self._finished:
            return
        if self._callback is not None:
            self._server._wait_callback_task(self)
            if not self._finished:
                raise DestroyedServerError(DESTROYED_MESSAGE)
            return
        with self._lock:
            if not self._finished:
                # The hot path of every task(): core calls made here, not
                # through the server's helpers, cost a microsecond less.
                server = self._server
                core = server._core
                try:
                    status, payload = core.result(server._handle, self.tid, -1.0)
                except core.Closed:
                    raise DestroyedServerError(DESTROYED_MESSAGE) from None
                self._store(status, payload)
                core.forget(server._handle, self.tid)

    def __repr__(self) -> str:
        state = "finished" if self.finished else "pending"
        return "<pp task %d, group %r, %s>" % (self.tid, self.group, state)

    def __del__(self) -> None:
        # A task dropped unfinished must not leave its result in the core.
        if not self._finished:
            try:
                self._server._forget(self.tid)
            except Exception:
                pass

    def _store(self, status: int, payload: bytes) -> None:
        if status == STATUS_CANCELLED:
            raise DestroyedServerError(DESTROYED_MESSAGE)
        if status == STATUS_FAILED:
            message = "pp: %s\n" % payload.decode("utf-8", "replace")
            payload = pickle.dumps((None, message), protocol=self._server._proto)
        self._sresult = payload
        self._finished = True

    def _unpickle(self) -> None:
        with self._lock:
            if self._unpickled:
                return
            assert self._sresult is not None, "unpickling a task that has no result"
            self._result, output = pickle.loads(self._sresult)
            self._unpickled = True
        if output:
            print(output, end="", flush=True)

    def _finish_with_callback(self, status: int, payload: bytes) -> None:
        """Runs on the server's callback thread once the job is done."""
        try:
            self._store(status, payload)
            self._unpickle()
            assert self._callback is not None
            self._callback(*self._callbackargs, self._result)
        except DestroyedServerError:
            return
        except Exception:
            self._server._logger.exception(
                "callback of job %d raised; its result is still available from the task",
                self.tid)
        self._finished = True
