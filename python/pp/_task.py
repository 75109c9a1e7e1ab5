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
    it is done; ``wait()`` blocks until it is. A job that finished before
    its server was destroyed keeps its result; calling one that never
    finished raises DestroyedServerError.

    Legacy pp's task attributes that published code reads are here too,
    read-only: ``tid``, ``group``, ``server``, ``callback``, ``callbackargs``,
    ``sresult`` (the raw result, None until finished) and ``lock`` (see
    :class:`DoneLock`).
    """

    __slots__ = ("_server", "_id", "group", "_finished", "_cancelled", "_callback",
                 "_callbackargs", "_sresult", "_result", "_unpickled", "_lock",
                 "_done_lock", "__weakref__")

    def __init__(self, server: Server, job_id: int, callback: Callable | None,
                 callbackargs: tuple, group: str) -> None:
        self._server = server
        self._id = job_id  # the core's; 1 for the first job
        self.group = group
        self._finished = False
        self._cancelled = False  # the server was destroyed before the job finished
        self._callback = callback
        self._callbackargs = callbackargs
        self._sresult: bytes | None = None
        self._result: Any = None
        self._unpickled = False
        self._lock = threading.Lock()
        self._done_lock: DoneLock | None = None

    @property
    def finished(self) -> bool:
        """Whether the job is done (and, with a callback, the callback ran).
        Once the server is destroyed every task is finished, as in pp 1.7.0."""
        if self._finished:
            return True
        if self._callback is not None and not self._server._destroyed:
            return False
        return self._server._job_done(self._id)

    def __call__(self, raw_result: bool = False) -> Any:
        if not self._finished:
            self.wait()
        if self._cancelled:
            raise DestroyedServerError(DESTROYED_MESSAGE)
        if raw_result:
            return self._sresult
        if not self._unpickled:
            self._unpickle()
        return self._result

    def wait(self) -> None:
        """Blocks until the job is done (for a job with a callback: until
        the callback has run, or the server is destroyed)."""
        if self._finished:
            return
        if self._callback is not None:
            self._server._wait_callback_task(self)
            if not self._finished:
                # Destroyed before its callback could run: the result, if the
                # job got one, is still the task's.
                self._fetch()
            return
        self._fetch()

    def _fetch(self) -> None:
        """Waits for the core's result and keeps it."""
        with self._lock:
            if not self._finished:
                # The hot path of every task(): core calls made here, not
                # through the server's helpers, cost a microsecond less.
                server = self._server
                core = server._core
                try:
                    status, payload = core.result(server._handle, self._id, -1.0)
                except core.Closed:
                    status, payload = STATUS_CANCELLED, b""
                self._keep(status, payload)
                self._finished = True
                core.forget(server._handle, self._id)

    @property
    def tid(self) -> int:
        """The job's number: 0 for a server's first job, as in pp."""
        return self._id - 1

    @property
    def sresult(self) -> bytes | None:
        """The pickled ``(result, output)`` of a finished job (legacy pp's
        attribute); None until then."""
        if not self._finished and self.finished:
            self.wait()  # done: takes the result in at once
        return self._sresult

    @property
    def server(self) -> Server:
        """The server the job was submitted to."""
        return self._server

    @property
    def callback(self) -> Callable | None:
        return self._callback

    @property
    def callbackargs(self) -> tuple:
        return self._callbackargs

    @property
    def lock(self) -> DoneLock:
        """Legacy pp's task lock: acquiring it waits for the job to finish."""
        with self._lock:
            if self._done_lock is None:
                self._done_lock = DoneLock(self)
            return self._done_lock

    def __repr__(self) -> str:
        state = "finished" if self.finished else "pending"
        return "<pp task %d, group %r, %s>" % (self.tid, self.group, state)

    def __del__(self) -> None:
        # A task dropped unfinished must not leave its result in the core.
        # (A subclass that skipped __init__, as pathos's ApplyResult does,
        # has no job of its own.)
        try:
            if not self._finished:
                self._server._forget(self._id)
        except Exception:
            pass

    def _keep(self, status: int, payload: bytes) -> None:
        """Keeps the job's outcome; the caller marks the task finished."""
        if status == STATUS_CANCELLED:
            self._cancelled = True
        elif status == STATUS_FAILED:
            message = "pp: job %d %s\n" % (self.tid, payload.decode("utf-8", "replace"))
            self._sresult = pickle.dumps((None, message), protocol=self._server._proto)
        else:
            self._sresult = payload

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
            self._keep(status, payload)
            if not self._cancelled:
                self._unpickle()
                assert self._callback is not None
                self._callback(*self._callbackargs, self._result)
        except Exception:
            self._server._logger.exception(
                "callback of job %d raised; its result is still available from the task",
                self.tid)
        finally:
            self._finished = True

    def _wait_finished(self, timeout: float) -> bool:
        """Waits up to timeout seconds for the job (and its callback) to be
        done; reports whether it is."""
        if not self.finished:
            server = self._server
            try:
                server._core.wait(server._handle, self._id, timeout)
            except server._core.Closed:
                pass
        return self.finished


class DoneLock:
    """A task's ``lock`` as legacy pp code uses it: pp holds a task's lock
    from submission until the job finishes, so ``acquire()`` blocks until
    then (``threading.Condition(task.lock)`` works as with pp). Once the job
    is done it is a plain lock."""

    __slots__ = ("_task", "_mutex")

    def __init__(self, task: Task) -> None:
        self._task = task
        self._mutex = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        task = self._task
        if not task.finished and (not blocking or
                                  (timeout >= 0 and not task._wait_finished(timeout))):
            return False
        task.wait()  # takes the result in, as pp's task has it once finished
        return self._mutex.acquire(blocking, timeout)

    def release(self) -> None:
        self._mutex.release()

    def locked(self) -> bool:
        return not self._task.finished or self._mutex.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
