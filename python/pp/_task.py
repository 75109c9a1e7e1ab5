"""The task object that Server.submit returns.

A task knows its job's engine (pp._engine.Engine), not the server that
made it: it waits for, fetches and forgets its job through the engine.
A job with a callback, or one someone asked to be told of (a done callback,
``await``), finishes on the callback runner's thread, which hands the task
its outcome, runs the callback and only then marks it finished.

Legacy calls keep pp's behaviour (``task()`` prints a job's traceback and
returns None); the methods of concurrent.futures.Future are here too
(``result()`` raises the job's exception, with the worker's traceback as
its ``__cause__``), and ``await task`` works in asyncio.
"""

from __future__ import annotations

import pickle
import threading
from typing import TYPE_CHECKING, Any, Callable, Generator, Protocol

from pp import _outcome
from pp._engine import STATUS_CANCELLED, STATUS_FAILED, STATUS_TIMED_OUT
from pp._errors import DestroyedServerError

if TYPE_CHECKING:
    from pp._engine import Engine

DESTROYED_MESSAGE = "Server was destroyed before the job completion"

# Guards the moments a task changes hands between threads: taking in the
# outcome, the done callbacks, the unpickled outcome, the legacy lock. One
# lock for every task, not one each: a million queued tasks would carry a
# million locks, and these sections are short and never block.
_records_lock = threading.Lock()


class Runner(Protocol):
    """What a task needs from the callback runner."""

    def wait_for(self, task: Task) -> None: ...

    def watch(self, task: Task) -> bool: ...

    def loop_waiter(self, loop: Any, task: Task) -> Any: ...


class Task:
    """A submitted job: call it for the result, as with legacy pp's tasks.

    ``task()`` blocks until the job is done and returns its result (None if
    the job raised; the worker's traceback is printed). ``task(raw_result=True)``
    returns the pickled ``(result, output)`` bytes. ``finished`` says whether
    it is done; ``wait()`` blocks until it is. A job that finished before
    its server was destroyed keeps its result; calling one that never
    finished raises DestroyedServerError.

    As a concurrent.futures.Future: ``result(timeout)``, ``exception(timeout)``,
    ``done()``, ``cancel()``, ``cancelled()``, ``add_done_callback(fn)``, and
    ``await task``.

    Legacy pp's task attributes that published code reads are here too,
    read-only: ``tid``, ``group``, ``server``, ``callback``, ``callbackargs``,
    ``sresult`` (the raw result, None until finished) and ``lock`` (see
    :class:`DoneLock`).
    """

    __slots__ = ("_engine", "_id", "group", "_owner", "_callback",
                 "_runner", "_notified", "_finished", "_status", "_payload", "_buffers",
                 "_outcome", "_printed", "_cancel_asked", "_done_callbacks", "_done_lock",
                 "__weakref__")

    def __init__(self, engine: Engine, job_id: int, group: str, owner: Any = None,
                 callback: Callable | None = None, callbackargs: tuple = (),
                 runner: Runner | None = None, notified: bool = False) -> None:
        self._engine = engine
        self._id = job_id  # the core's; 1 for the first job
        self.group = group
        self._owner = owner  # the legacy ``server`` attribute; never called
        # (callback, callbackargs), or None: one slot, not two, in each of
        # a million queued tasks.
        self._callback: tuple[Callable | None, tuple] | None = (
            (callback, callbackargs) if callback is not None or callbackargs else None)
        self._runner = runner  # the server's callback runner
        self._notified = notified  # the runner, not the task, will take in the outcome
        self._finished = False
        self._status: int | None = None
        # What the worker sent; for a job the core ended (failed, timed
        # out), why it did.
        self._payload: bytes | None = None
        self._buffers: list[memoryview] | None = None  # its out-of-band buffers
        self._outcome: _outcome.Outcome | None = None
        self._printed = False
        self._cancel_asked = False
        # Made by the first add_done_callback: most tasks never get one.
        self._done_callbacks: list[Callable[[Task], Any]] | None = None
        self._done_lock: DoneLock | None = None

    # -- legacy pp -------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether the job is done (and, with a callback, the callback ran).
        Once the server is destroyed every task is finished, as in pp 1.7.0."""
        if self._finished:
            return True
        if self._notified and not self._engine.closed:
            return False
        return self._engine.done(self._id)

    def __call__(self, raw_result: bool = False) -> Any:
        if not self._finished:
            self.wait()
        if self._status == STATUS_CANCELLED:
            raise self._cancelled_error()
        if raw_result:
            return self.sresult
        outcome = self._unpickled()
        self._print(outcome.output)
        return outcome.value

    def wait(self) -> None:
        """Blocks until the job is done (for a job with a callback: until
        the callback has run, or the server is destroyed)."""
        if self._finished:
            return
        if self._notified and self._runner is not None:
            self._runner.wait_for(self)
            if self._finished:
                return
            # Destroyed before the runner got to it: the result, if the job
            # got one, is still the task's.
        engine = self._engine
        # Waits with no lock held: two threads may wait for one task.
        result = engine.result(self._id, -1.0)
        # Forgotten in the core before it was taken in here: only a
        # destroyed server's unfinished job ends that way.
        outcome = (_outcome.take(*result) if result is not None
                   else (STATUS_CANCELLED, b"", None))
        with _records_lock:
            if self._finished:  # the other thread took it in
                return
            self._keep(*outcome)
            self._finished = True
            engine.forget(self._id)

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
        if self._payload is None:
            return None
        if self._ended_by_core():
            return pickle.dumps((None, self._core_report()), protocol=self._engine.proto)
        return _outcome.legacy(self._payload, self._engine.proto, self._buffers)

    @property
    def server(self) -> Any:
        """The server the job was submitted to."""
        return self._owner

    @property
    def callback(self) -> Callable | None:
        return None if self._callback is None else self._callback[0]

    @property
    def callbackargs(self) -> tuple:
        return () if self._callback is None else self._callback[1]

    @property
    def lock(self) -> DoneLock:
        """Legacy pp's task lock: acquiring it waits for the job to finish."""
        with _records_lock:
            if self._done_lock is None:
                self._done_lock = DoneLock(self)
            return self._done_lock

    # -- concurrent.futures.Future -----------------------------------------

    @property
    def job_id(self) -> int:
        """The core's id of the job (tid + 1)."""
        return self._id

    def done(self) -> bool:
        """Whether the job is done (finished, failed or cancelled)."""
        return self.finished

    def cancelled(self) -> bool:
        return self._cancel_asked and self._status == STATUS_CANCELLED

    def running(self) -> bool:
        """Always False: ppgo does not know when a remote node starts a job."""
        return False

    def cancel(self) -> bool:
        """Cancels the job if no worker has started it; True if it is
        cancelled (then result() raises CancelledError)."""
        if self._finished:
            return self.cancelled()
        self._cancel_asked = True
        if not self._engine.cancel(self._id):
            self._cancel_asked = False
            return False
        self.wait()  # ended cancelled in the core: take that in
        return True

    def result(self, timeout: float | None = None) -> Any:
        """The job's return value; raises what the job raised (the worker's
        traceback as its ``__cause__``), TimeoutError if it is not done
        within timeout seconds, CancelledError if it was cancelled,
        WorkerLostError if its worker died every time it ran, JobTimeoutError
        if it ran past its timeout."""
        error = self.exception(timeout)
        if error is not None:
            raise error
        outcome = self._unpickled()
        self._print(outcome.printed)
        return outcome.value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """What result() would raise, or None."""
        from pp import _futures  # concurrent.futures: only for this interface

        if not self._wait_finished(-1.0 if timeout is None else timeout):
            raise _futures.TimeoutError("job %d is not done after %s s" % (self.tid, timeout))
        self.wait()
        if self._status == STATUS_CANCELLED:
            return self._cancelled_error()
        if self._ended_by_core():
            return _futures.core_error(self._status,
                                       "job %d %s" % (self.tid, self._core_message()))
        outcome = self._unpickled()
        if outcome.error is None:
            return None
        self._print(outcome.printed)
        return _outcome.exception_of(outcome.error)

    def add_done_callback(self, fn: Callable[[Task], Any]) -> None:
        """Calls fn(task) once the job is done: at once if it is, else on the
        callback runner's thread."""
        with _records_lock:
            if not self._finished:
                if self._done_callbacks is None:
                    self._done_callbacks = []
                self._done_callbacks.append(fn)
                fn = None  # type: ignore[assignment]
        if fn is None:
            if not self._notified and not self._watch():
                self._run_done_callbacks()
            return
        fn(self)

    def __await__(self) -> Generator[Any, None, Any]:
        if not self.done():
            import asyncio

            loop = asyncio.get_running_loop()
            runner = self._runner
            waiter = runner.loop_waiter(loop, self) if runner is not None else None
            if waiter is None:  # the general way, through the callback runner's thread
                waiter = loop.create_future()

                def settle() -> None:
                    if not waiter.done():
                        waiter.set_result(None)

                def wake(_task: Task) -> None:
                    loop.call_soon_threadsafe(settle)

                self.add_done_callback(wake)
            yield from waiter.__await__()
        return self.result()

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

    def _complete(self, status: int, payload: bytes, buffers: list[memoryview] | None,
                  report: Callable[..., None]) -> None:
        """The runner hands over the job's outcome: keep it, run the legacy
        callback, finish, run the done callbacks. Raises nothing, whatever
        the callbacks do (a KeyboardInterrupt goes to report too)."""
        try:
            self._keep(status, payload, buffers)
            callback, callbackargs = self._callback or (None, ())
            if callback is not None and self._payload is not None:
                try:
                    outcome = self._unpickled()
                except Exception:
                    report("the result of job %d could not be unpickled, so its callback did "
                           "not run; calling the task raises the error", self.tid)
                else:
                    self._print(outcome.output)
                    try:
                        callback(*callbackargs, outcome.value)
                    except BaseException as exc:
                        report("callback of job %d raised %s; its result is still available "
                               "from the task", self.tid, type(exc).__name__, error=exc)
        finally:
            self._finished = True
            self._run_done_callbacks(report)

    def _keep(self, status: int, payload: bytes, buffers: list[memoryview] | None) -> None:
        """Keeps the job's outcome and its out-of-band buffers; the caller
        marks the task finished."""
        self._status = status
        if status != STATUS_CANCELLED:
            self._payload = payload
            self._buffers = buffers

    def _ended_by_core(self) -> bool:
        """Whether the core, not the job, ended it: failed or timed out."""
        return self._status == STATUS_FAILED or self._status == STATUS_TIMED_OUT

    def _core_message(self) -> str:
        """Why the core ended the job."""
        return (self._payload or b"").decode("utf-8", "replace")

    def _core_report(self) -> str:
        """What the job's output reads when the core ended it, as pp prints it."""
        return "pp: job %d %s\n" % (self.tid, self._core_message())

    def _unpickled(self) -> _outcome.Outcome:
        """The job's outcome, unpickled once (two threads may both unpickle
        it; the first one's is kept)."""
        outcome = self._outcome
        if outcome is None:
            if self._payload is None:
                raise self._cancelled_error()
            if self._ended_by_core():
                outcome = _outcome.Outcome(None, self._core_report(), None)
            else:
                outcome = _outcome.decode(self._payload, self._buffers)
            with _records_lock:
                if self._outcome is None:
                    self._outcome = outcome
                else:
                    outcome = self._outcome
        return outcome

    def _print(self, output: str) -> None:
        """Prints the job's output the first time the result is read."""
        if output and not self._printed:
            self._printed = True
            print(output, end="", flush=True)

    def _cancelled_error(self) -> BaseException:
        if self._cancel_asked:
            from pp import _futures

            return _futures.CancelledError("job %d was cancelled" % self.tid)
        return DestroyedServerError(DESTROYED_MESSAGE)

    def _watch(self) -> bool:
        """Asks the runner to take in this task's outcome when its job is
        done (for done callbacks); False if the job is done already."""
        return self._runner is not None and self._runner.watch(self)

    def _run_done_callbacks(self, report: Callable[..., None] | None = None) -> None:
        with _records_lock:
            callbacks, self._done_callbacks = self._done_callbacks, None
        for fn in callbacks or ():
            try:
                fn(self)
            except BaseException as exc:
                if report is None:
                    raise
                report("a done callback of job %d raised %s", self.tid, type(exc).__name__,
                       error=exc)

    def _wait_finished(self, timeout: float) -> bool:
        """Waits up to timeout seconds (negative: no limit) for the job (and
        its callback) to be done; reports whether it is."""
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
