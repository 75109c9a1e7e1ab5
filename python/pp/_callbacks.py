"""Running the callbacks of one server's jobs.

Go never calls into Python: a job submitted with a callback is put, once
finished, on the core's notification queue, and one thread of this process
(pp-callbacks) takes them off in batches, in completion order, and runs
each callback. The job counts as finished for wait() only after its
callback ran (release()).
"""

from __future__ import annotations

import _thread
import threading
from typing import Any, Callable

from pp._engine import Engine
from pp._task import Task

# Seconds destroy() waits for the callback thread to notice.
JOIN_TIMEOUT = 5.0

# How long one wait for notifications lasts before the thread checks again.
POLL_SECONDS = 0.5


class CallbackRunner:
    """The pp-callbacks thread and the tasks whose callbacks it will run."""

    def __init__(self, engine: Engine, logger: Any) -> None:
        self._engine = engine
        self._logger = logger
        self._tasks: dict[int, Task] = {}  # by job id; guarded by _lock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, key: int, sargs: bytes, group: str, callback: Callable,
               callbackargs: tuple, owner: Any) -> Task:
        """Submits a job whose callback this runner will run."""
        self._start()
        with self._lock:  # the job must be known before its notification is read
            job_id = self._engine.submit(key, sargs, group, True)
            task = Task(self._engine, job_id, group, owner, callback, callbackargs, self)
            self._tasks[job_id] = task
        return task

    def wait_for(self, task: Task) -> None:
        """Blocks until task's callback has run, or the engine is closed."""
        if threading.current_thread() is self._thread:
            # A callback waits for another job's callback: run them here, as
            # nothing else would while this thread is busy.
            while not task.callback_done and self._run_notified(0.05):
                pass
            return
        self._engine.wait(task.job_id, -1.0)

    def join(self) -> None:
        """Waits (boundedly) for the thread to end once the engine is closed."""
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
        """Runs the callbacks of jobs that finished within timeout; False
        once the engine is closed."""
        engine = self._engine
        try:
            ids = engine.next_notified(timeout)
        except RuntimeError:  # a forked child: the core is the parent's
            return False
        if ids is None:
            return False
        for job_id in ids:
            with self._lock:
                task = self._tasks.pop(job_id, None)
            outcome = engine.take(job_id)
            if task is not None and outcome is not None:
                self._run_one(task, *outcome)
            engine.release(job_id)
        return True

    def _run_one(self, task: Task, status: int, payload: bytes) -> None:
        """Runs one job's callback. Nothing it raises, SystemExit included,
        ends this thread (every later callback would be lost, and wait()
        hang); a KeyboardInterrupt is passed on to the main thread."""
        try:
            task._keep(status, payload)
            if not task.has_result:
                return
            try:
                result = task._unpickled_result()
            except Exception:
                self._logger.exception(
                    "the result of job %d could not be unpickled, so its callback did not "
                    "run; calling the task raises the error", task.tid)
                return
            callback = task.callback
            assert callback is not None
            callback(*task.callbackargs, result)
        except BaseException as exc:
            self._logger.exception(
                "callback of job %d raised %s; its result is still available from the task",
                task.tid, type(exc).__name__)
            if isinstance(exc, KeyboardInterrupt):
                _thread.interrupt_main()
        finally:
            task._mark_finished()
