"""The task object that Server.submit returns.

A task knows its job's engine (pp._engine.Engine), not the server that
made it: it waits for, fetches and forgets its job through the engine.
A job with a callback finishes on the callback runner's thread, which keeps
the task's outcome, runs the callback and only then marks it finished.
"""

from __future__ import annotations

import pickle
import threading
from typing import TYPE_CHECKING, Any, Callable, Protocol

from pp._engine import STATUS_CANCELLED, STATUS_FAILED
from pp._errors import DestroyedServerError

if TYPE_CHECKING:
    from pp._engine import Engine

DESTROYED_MESSAGE = "Server was destroyed before the job completion"


class CallbackWaiter(Protocol):
    """What a task with a callback waits on: the runner of its callback."""

    def wait_for(self, task: Task) -> None: ...


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

    __slots__ = ("_engine", "_id", "group", "_owner", "_callback", "_callbackargs",
                 "_callbacks", "_finished", "_cancelled", "_sresult", "_result",
                 "_unpickled", "_lock", "_done_lock", "__weakref__")

    def __init__(self, engine: Engine, job_id: int, group: str, owner: Any = None,
                 callback: Callable | None = None, callbackargs: tuple = (),
                 callbacks: CallbackWaiter | None = None) -> None:
        self._engine = engine
        self._id = job_id  # the core's; 1 for the first job
        self.group = group
        self._owner = owner  # the legacy ``server`` attribute; never called
        self._callback = callback
        self._callbackargs = callbackargs
        self._callbacks = callbacks
        self._finished = False
        self._cancelled = False  # the server was destroyed before the job finished
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
        if self._callback is not None and not self._engine.closed:
            return False
        return self._engine.done(self._id)

    def __call__(self, raw_result: bool = False) -> Any:
        if not self._finished:
            self.wait()
        if self._cancelled:
            raise DestroyedServerError(DESTROYED_MESSAGE)
        if raw_result:
            return self._sresult
        if self._unpickled:
            return self._result
        return self._unpickled_result()

    def wait(self) -> None:
        """Blocks until the job is done (for a job with a callback: until
        the callback has run, or the server is destroyed)."""
        if self._finished:
            return
        if self._callbacks is not None:
            self._callbacks.wait_for(self)
            if self._finished:
                return
            # Destroyed before its callback could run: the result, if the
            # job got one, is still the task's.
        with self._lock:
            if not self._finished:
                engine = self._engine
                self._keep(*engine.result(self._id, -1.0))
                self._finished = True
                engine.forget(self._id)

    @property
    def job_id(self) -> int:
        """The core's id of the job (tid + 1)."""
        return self._id

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
    def server(self) -> Any:
        """The server the job was submitted to."""
        return self._owner

    @property
    def callback(self) -> Callable | None:
        return self._callback

    @property
    def callbackargs(self) -> tuple:
        return self._callbackargs

    @property
    def callback_done(self) -> bool:
        """Whether a job with a callback has finished and its callback run."""
        return self._finished

    @property
    def has_result(self) -> bool:
        """Whether the task holds the job's result (it finished before the
        server was destroyed)."""
        return self._sresult is not None

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
            if not self._finished and not self._engine.forked():
                self._engine.forget(self._id)
        except Exception:
            pass

    # -- for the callback runner ----------------------------------------

    def _keep(self, status: int, payload: bytes) -> None:
        """Keeps the job's outcome; the caller marks the task finished."""
        if status == STATUS_CANCELLED:
            self._cancelled = True
        elif status == STATUS_FAILED:
            message = "pp: job %d %s\n" % (self.tid, payload.decode("utf-8", "replace"))
            self._sresult = pickle.dumps((None, message), protocol=self._engine.proto)
        else:
            self._sresult = payload

    def _mark_finished(self) -> None:
        self._finished = True

    def _unpickled_result(self) -> Any:
        """The job's result, unpickled once; the job's output is printed then."""
        with self._lock:
            if self._unpickled:
                return self._result
            assert self._sresult is not None, "unpickling a task that has no result"
            self._result, output = pickle.loads(self._sresult)
            self._unpickled = True
        if output:
            print(output, end="", flush=True)
        return self._result

    def _wait_finished(self, timeout: float) -> bool:
        """Waits up to timeout seconds for the job (and its callback) to be
        done; reports whether it is."""
        if not self.finished:
            self._engine.wait(self._id, timeout)
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
