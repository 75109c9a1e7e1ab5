"""Finishing jobs on a thread of the client: callbacks, done callbacks and
futures.

Go never calls into Python: a job submitted with a callback (or by the
futures interface, or one someone asked to be told of) is put, once
finished, on the core's notification queue, and one thread of this process
(pp-callbacks) takes them off in batches, in completion order, and hands
each its outcome: a Task runs its callback, a future gets its result. The
job counts as finished for wait() only after that (release()).
"""

from __future__ import annotations

import _thread
import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Protocol

from pp import _outcome
from pp._aio import LoopSignals
from pp._engine import Engine
from pp._task import Task

if TYPE_CHECKING:
    import asyncio

# Seconds destroy() waits for the callback thread to notice.
JOIN_TIMEOUT = 5.0

# How long one wait for notifications lasts before the thread checks again.
POLL_SECONDS = 0.5


class Completion(Protocol):
    """What the runner hands a finished job's outcome to."""

    def _complete(self, status: int, payload: bytes, buffers: list[memoryview] | None,
                  report: Callable[..., None]) -> None: ...


class CallbackRunner:
    """The pp-callbacks thread and the jobs it will finish."""

    def __init__(self, engine: Engine, logger: Any) -> None:
        self._engine = engine
        self._logger = logger
        self._targets: dict[int, Completion] = {}  # by job id; guarded by _lock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._signals = LoopSignals(engine)  # for await, which skips this thread

    def submit(self, key: int, sargs: bytes, buffers: list[memoryview], group: str,
               timeout: float, make: Callable[[int], Completion]) -> Completion:
        """Submits a job this runner will finish: make(job_id) builds what
        receives its outcome (a Task, a future)."""
        self._start()
        # Made before the lock: filling a segment copies megabytes.
        segment = self._engine.segment(buffers) if buffers else ()
        try:
            with self._lock:  # the job must be known before its notification is read
                job_id = self._engine.submit(key, sargs, group, True, timeout, *segment)
                target = make(job_id)
                self._targets[job_id] = target
        finally:
            if segment:
                os.close(segment[0])
        return target

    def watch(self, task: Task) -> bool:
        """Takes over finishing a job submitted without notification (its
        task got a done callback); False if the job is already done."""
        self._start()
        with self._lock:
            self._targets[task.job_id] = task
            task._notified = True
            if self._engine.watch(task.job_id):
                return True
            del self._targets[task.job_id]
            task._notified = False
            return False

    def loop_waiter(self, loop: asyncio.AbstractEventLoop,
                    task: Task) -> asyncio.Future[None] | None:
        """A future of the running loop, done once task's job has finished,
        set by the loop's own thread (pp._aio); None where that cannot be,
        and the caller must watch() instead."""
        return self._signals.waiter(loop, task.job_id)

    def wait_for(self, task: Task) -> None:
        """Blocks until the runner has finished task, or the engine is closed."""
        if threading.current_thread() is self._thread:
            # A callback waits for another job's callback: run them here, as
            # nothing else would while this thread is busy.
            while not task.done() and self._run_notified(0.05):
                pass
            return
        self._engine.wait(task.job_id, -1.0)

    def close(self) -> None:
        """Once the engine is closed: wakes what awaits a job, and waits
        (boundedly) for the thread to end."""
        self._signals.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT)

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="pp-callbacks",
                                                    daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while self._run_notified(POLL_SECONDS):
            pass

    def _run_notified(self, timeout: float) -> bool:
        """Finishes the jobs done within timeout; False once the engine is
        closed."""
        engine = self._engine
        try:
            ids = engine.next_notified(timeout)
        except RuntimeError:  # a forked child: the core is the parent's
            return False
        if ids is None:
            return False
        take, release, targets, lock, report = (engine.take, engine.release, self._targets,
                                                self._lock, self._report)
        for job_id in ids:
            with lock:
                target = targets.pop(job_id, None)
            outcome = take(job_id)
            if outcome is not None:
                status, payload, buffers = _outcome.take(*outcome)
                if target is not None:
                    target._complete(status, payload, buffers, report)
            release(job_id)  # only now does wait() see the job finished
        return True

    def pending(self) -> list[Completion]:
        """What the runner has yet to finish (for shutdown)."""
        with self._lock:
            return list(self._targets.values())

    def _report(self, message: str, *args: Any, error: BaseException | None = None) -> None:
        """Logs what a callback did wrong. Nothing it raises ends this thread
        (every later callback would be lost, and wait() hang); a
        KeyboardInterrupt is passed on to the main thread."""
        exc_info = (type(error), error, error.__traceback__) if error is not None else True
        self._logger.log(40, message, *args, exc_info=exc_info)
        if isinstance(error, KeyboardInterrupt):
            _thread.interrupt_main()
