"""pp.Executor: a concurrent.futures.Executor on ppgo's engine.

The same scheduler, workers and ppserver nodes as pp.Server, behind the
interface of ProcessPoolExecutor:

    with pp.Executor(ppservers=("node1:35000",), secret=...) as executor:
        futures = [executor.submit(simulate, seed) for seed in range(100)]
        for future in concurrent.futures.as_completed(futures):
            print(future.result())

The data path: submit ships the function (its source, or the function
itself by value through cloudpickle when it has none) and the pickled
arguments like Server.submit, as one job with notification; when the job
is done, the server's callback runner (pp._callbacks) hands its outcome
to the future, which sets its result or raises the job's exception with
the worker's traceback as ``__cause__``. A future knows how to cancel its
job and nothing else of the executor.

The executor's own exceptions derive from concurrent.futures': a job whose
worker died every time it ran raises WorkerLostError (a BrokenExecutor),
one that ran past its timeout JobTimeoutError (a TimeoutError).
"""

from __future__ import annotations

import collections
import itertools
import pickle
import threading
import time
from concurrent.futures import BrokenExecutor, CancelledError, TimeoutError
from concurrent.futures import Executor as _Executor
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from pp import _outcome, _source
from pp._engine import STATUS_CANCELLED, STATUS_FAILED, STATUS_TIMED_OUT

if TYPE_CHECKING:
    from pp._server import Server

__all__ = ["CancelledError", "Executor", "JobTimeoutError", "TimeoutError",
           "WorkerLostError"]

# Chunks a map keeps in flight unless told (buffersize): enough to keep
# every worker and node busy, few enough that an endless iterable does not
# fill the client's memory.
MIN_MAP_BUFFER = 64
MAP_BUFFER_PER_WORKER = 4


class WorkerLostError(BrokenExecutor):
    """A job could not finish: the worker (or node) running it died, every
    time it was run. The message says how (a signal, an exit code)."""


class JobTimeoutError(TimeoutError):
    """A job ran longer than its timeout; its worker was killed."""


def core_error(status: int | None, message: str) -> BaseException | None:
    """The exception for a job the core ended, failed (its worker died too
    often) or timed out, with the core's message; None for any other
    status."""
    if status == STATUS_FAILED:
        return WorkerLostError(message)
    if status == STATUS_TIMED_OUT:
        return JobTimeoutError(message)
    return None


class JobFuture(Future):
    """A concurrent.futures.Future for one job: cancel() withdraws the job if
    no worker has started it."""

    def __init__(self, cancel: Callable[[], bool], tag: object = None) -> None:
        super().__init__()
        self._cancel_job = cancel
        self.tag = tag  # whose it is, for shutdown(cancel_futures=True)

    def cancel(self) -> bool:
        if self.done():
            return self.cancelled()
        if not self._cancel_job():
            return False
        return super().cancel()

    def _complete(self, status: int, payload: bytes, buffers: list[memoryview] | None,
                  report: Callable[..., None]) -> None:
        """The callback runner hands over the job's outcome (buffers: its
        out-of-band buffers)."""
        try:
            if status == STATUS_CANCELLED:
                # Withdrawn by cancel(), by shutdown(cancel_futures=True),
                # or as the server was destroyed: cancelled all the same.
                if not self.cancelled():
                    super().cancel()
                self.set_running_or_notify_cancel()
                return
            if self.done():
                return
            error = core_error(status, payload.decode("utf-8", "replace"))
            if error is not None:
                self.set_exception(error)
            else:
                outcome = _outcome.decode(payload, buffers)
                if outcome.printed:
                    print(outcome.printed, end="", flush=True)
                if outcome.error is not None:
                    self.set_exception(_outcome.exception_of(outcome.error))
                else:
                    self.set_result(outcome.value)
        except BaseException as exc:  # an unpicklable result, say: the future says so
            if not self.done():
                self.set_exception(exc)
            else:
                report("finishing a future raised %s", type(exc).__name__, error=exc)


class Executor(_Executor):
    """A concurrent.futures.Executor that runs calls on local worker
    processes and on ppserver nodes.

    max_workers: local worker processes (None: one per CPU; 0 with
    ppservers: nodes only). ppservers, secret, restart, socket_timeout,
    loglevel, broadcast, metrics: as for pp.Server. job_timeout: seconds a call may
    run before its worker is killed (it then raises JobTimeoutError); None
    for no limit. server: an existing pp.Server to use instead (it is not
    destroyed by shutdown()).
    """

    def __init__(self, max_workers: int | None = None, ppservers: tuple = (),
                 secret: str | None = None, *, job_timeout: float | None = None,
                 restart: bool = False, socket_timeout: float = 3600,
                 loglevel: int | str | None = None, broadcast: str | None = None,
                 metrics: str | None = None, server: Server | None = None) -> None:
        from pp._server import Server, _check_timeout

        self._timeout = _check_timeout(job_timeout)
        if server is None:
            if max_workers is None:
                max_workers = "autodetect"  # type: ignore[assignment]
            elif isinstance(max_workers, bool) or not isinstance(max_workers, int):
                raise TypeError("max_workers must be an int or None, not %s"
                                % type(max_workers).__name__)
            elif max_workers < 0 or (max_workers == 0 and not ppservers):
                raise ValueError("max_workers must be greater than 0 (or 0 with ppservers)")
            server = Server(max_workers, ppservers, secret, restart,  # type: ignore[arg-type]
                            pickle.HIGHEST_PROTOCOL, socket_timeout, loglevel, broadcast,
                            metrics=metrics)
            self._owns_server = True
        else:
            self._owns_server = False
        self._server = server
        self._lock = threading.Lock()
        self._shutdown = False
        self._tag = object()  # marks this executor's futures

    @property
    def server(self) -> Server:
        """The pp.Server the executor runs on."""
        return self._server

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        """Runs fn(*args, **kwargs) as a job; returns its future."""
        if kwargs:
            return self._submit(fn, (args, kwargs), _source.CALL_KWARGS)
        return self._submit(fn, args, _source.CALL_ARGS)

    def map(self, fn: Callable, *iterables: Iterable, timeout: float | None = None,
            chunksize: int = 1, buffersize: int | None = None,
            progress: bool = False) -> Iterator:
        """Like map(fn, *iterables), each call a job (or each chunksize of
        them one job), results in order. The iterables are consumed as
        results are: at most buffersize jobs are in flight (by default
        enough to keep every worker busy), so an endless iterable does not
        queue without limit. timeout counts from this call: a result not
        ready by then raises TimeoutError. progress draws a progress bar on
        stderr (when it is a terminal; progress="always" anyway)."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if buffersize is not None and (isinstance(buffersize, bool) or buffersize < 1):
            raise ValueError("buffersize must be None or > 0.")
        end = None if timeout is None else time.monotonic() + timeout
        limit = buffersize or self._default_buffer()
        if chunksize == 1:
            jobs: Iterator[Any] = zip(*iterables)
            call = _source.CALL_ARGS
        else:
            jobs = _columns(iterables, chunksize)
            call = _source.CALL_CHUNK
        memo: dict = {}  # fn by value, pickled once for the whole map
        pending: collections.deque[Future] = collections.deque()
        for job in itertools.islice(jobs, limit):  # submitted now, as map does
            pending.append(self._submit(fn, job, call, memo))
        total = _length(iterables)
        results = self._results(fn, jobs, call, memo, pending, end, chunksize, total, progress)
        if chunksize == 1:
            return results
        # Chunks of results, flattened in C: no Python frame per item.
        return itertools.chain.from_iterable(results)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more jobs; with cancel_futures, the queued ones are cancelled;
        with wait, returns once the others are done. A server the executor
        made is destroyed once its jobs are done."""
        with self._lock:
            self._shutdown = True
        futures = [f for f in self._server._callbacks.pending()
                   if isinstance(f, JobFuture) and f.tag is self._tag]
        if cancel_futures:
            for future in futures:
                future.cancel()
        if not self._owns_server:
            if wait:
                _wait_all(futures)
            return
        if wait:
            self._finish(futures)
        else:
            threading.Thread(target=self._finish, args=(futures,),
                             name="pp-executor-shutdown", daemon=True).start()

    def _finish(self, futures: list[JobFuture]) -> None:
        _wait_all(futures)
        self._server.destroy()

    # -- internals -------------------------------------------------------

    def _submit(self, fn: Callable, args: Any, call: str, memo: dict | None = None) -> JobFuture:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")

        tag = self._tag
        return self._server._submit_notified(
            fn, args, call, self._timeout,
            lambda job_id, cancel: JobFuture(cancel, tag), memo)

    def _default_buffer(self) -> int:
        workers = sum(self._server.get_active_nodes().values())
        return max(MIN_MAP_BUFFER, MAP_BUFFER_PER_WORKER * workers)

    def _results(self, fn: Callable, jobs: Iterator, call: str, memo: dict,
                 pending: collections.deque, end: float | None, chunksize: int,
                 total: int | None, progress: bool | str) -> Iterator:
        from pp._progress import Progress

        bar = Progress(total, "map", progress)
        try:
            while pending:
                future = pending.popleft()
                left = None if end is None else max(end - time.monotonic(), 0)
                value = future.result(left)
                for job in itertools.islice(jobs, 1):  # one in, as one came out
                    pending.append(self._submit(fn, job, call, memo))
                bar.advance(1 if chunksize == 1 else len(value))
                yield value
        finally:
            for future in pending:
                future.cancel()
            bar.close()


def _wait_all(futures: list[JobFuture]) -> None:
    for future in futures:
        try:
            future.exception()
        except CancelledError:
            pass


def _columns(iterables: tuple, chunksize: int) -> Iterator[tuple[list, ...]]:
    """The map's chunks as CALL_CHUNK ships them: per chunk, one list of
    up to chunksize arguments per iterable, all of one length."""
    if len(iterables) == 1:  # the common case, without a tuple per item
        items = iter(iterables[0])
        return iter(lambda: (list(itertools.islice(items, chunksize)),), ([],))
    rows = zip(*iterables)
    return (tuple(map(list, zip(*chunk)))
            for chunk in iter(lambda: list(itertools.islice(rows, chunksize)), []))


def _length(iterables: tuple) -> int | None:
    """How many items a map has, when its iterables know their length."""
    try:
        return min(len(it) for it in iterables)  # type: ignore[arg-type]
    except TypeError:
        return None
