"""Compatibility shims: legacy pp's semi-private Server state that published
code reads.

pp keeps its state in name-mangled attributes (``self.__queue`` is
``server._Server__queue`` from outside) and a few undocumented ones.
Published code reaches for some of them (docs/COMPATIBILITY.md lists which
code, and which members were looked for and not found); ppgo's Server keeps
no such state in Python, so each shim below asks the Go core and answers in
legacy pp's shape. They are read-only, except where the code that uses them
writes (``_exiting``; ``_Server__queue`` after destroy()).
"""

from __future__ import annotations

import pickle
import threading
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from pp._errors import DestroyedServerError

if TYPE_CHECKING:
    from pp._engine import Engine
    from pp._source import Shipment, Shipper
    from pp._task import Task


def start_thread(name: str, target: Callable[..., Any], args: tuple = (),
                 kwargs: dict | None = None, daemon: bool = True) -> threading.Thread:
    """Starts a named thread (pp 1.7.0's helper)."""
    thread = threading.Thread(target=target, args=args, kwargs=kwargs or {}, name=name,
                              daemon=daemon)
    thread.start()
    return thread


def get_class_hierarchy(cls: type) -> list[type]:
    """cls's classes, bases first, without ``object`` (pp 1.7.0's helper)."""
    return [c for c in reversed(getattr(cls, "__mro__", ())) if c is not object]


class LegacyWorker(NamedTuple):
    """One local worker as ``server._Server__workers`` lists it."""

    pid: int
    is_free: bool  # not running a job


class LegacyServerState:
    """The legacy members of pp.Server (mixed into it)."""

    # Provided by Server.
    _engine: Engine
    _callbacks: Any
    _destroyed: bool
    _closed: bool
    _proto: int
    _logger: Any
    _shipper: Shipper
    _discovered: list[tuple[str, int]]
    _broadcast: str | None
    _node_table: Callable[[], dict[str, tuple[Any, bool]]]
    _register: Callable[[Shipment], None]

    # Code that mutates pp's queue takes this lock first; ppgo's queue is
    # in the core, so it guards nothing but must exist.
    _Server__queue_lock = threading.Lock()

    @property
    def _exiting(self) -> bool:
        """pp's "no more jobs" flag: set by destroy(), and by pathos's
        ParallelPool.close() (which clears it again in restart()). While it
        is set submit() raises DestroyedServerError; jobs already submitted
        still run (pp would drop the queued ones)."""
        return self._closed

    @_exiting.setter
    def _exiting(self, value: bool) -> None:
        self._closed = bool(value) or self._destroyed  # a destroyed server stays so

    @property
    def _Server__queue(self) -> list[int]:
        """pp's queue of jobs not yet handed to a worker: as long as pp's
        (what scheduler wrappers throttle on), holding the jobs' ``tid``s."""
        return [job_id - 1 for job_id in self._engine.queued()]

    @_Server__queue.setter
    def _Server__queue(self, value: Any) -> None:
        # Shutdown helpers empty pp's queue after destroy(), which has
        # already emptied ppgo's.
        if not (self._destroyed and len(value) == 0):
            raise AttributeError("pp.Server._Server__queue is read-only in ppgo; "
                                 "destroy() drops the queued jobs")

    @property
    def _Server__workers(self) -> list[LegacyWorker]:
        """The local worker processes, with ``pid`` and ``is_free``; none
        after destroy()."""
        if self._destroyed:
            return []
        return [LegacyWorker(pid, not busy)
                for pid, busy in self._engine.worker_states()]

    @property
    def autopp_list(self) -> dict[str, int]:
        """Remote nodes by "host:port": their worker count while connected,
        0 while not (pp counts its open connections to each; non-zero means
        the node is in use)."""
        table = self._node_table()
        return {name: stat.ncpus if connected else 0
                for name, (stat, connected) in table.items() if name != "local"}

    @property
    def auto_ppservers(self) -> list[tuple[tuple[str, int], tuple[str, int]]]:
        """The wildcard ppservers entries as pp keeps them:
        ``((interface, port), (broadcast, port))``."""
        entries = []
        for host, port in self._discovered:
            pattern = "*.*.*.*" if host == "*" else host
            broadcast = self._broadcast or pattern.replace("*", "255")
            entries.append(((pattern.replace("*", "0"), port), (broadcast, port)))
        return entries

    @property
    def logger(self) -> Any:
        """The "pp" logger (``logging.getLogger("pp")``)."""
        return self._logger.get()

    @property
    def pickle_proto(self) -> int:
        """The pickle protocol of arguments and results."""
        return self._proto

    def insert(self, sfunc: bytes, sargs: bytes, task: Task | None = None) -> Task:
        """Queues a job already serialized the way pp's own ppserver gets
        it: ``sfunc`` is ``pickle((name, sources, modules))`` with sources
        as text, ``sargs`` the pickled argument tuple. Internal in pp; kept
        for code that drives a Server like pp's ppserver does."""
        from pp._task import Task

        if self._closed:
            raise DestroyedServerError("Cannot insert jobs: server instance has been destroyed")
        if task is not None:
            raise ValueError("insert(): ppgo cannot put an existing task back in the "
                             "queue; it re-runs a job whose worker or node was lost "
                             "by itself")
        if not isinstance(sfunc, bytes) or not isinstance(sargs, bytes):
            raise TypeError("insert(): sfunc and sargs must be bytes (pickles)")
        try:
            name, sources, modules = pickle.loads(sfunc)
        except Exception as exc:
            raise ValueError("insert(): sfunc is not a pickled (name, sources, modules) "
                             "tuple: %s" % exc) from None
        shipment = self._shipper.ship_sources(name, sources, modules)
        self._register(shipment)
        job_id = self._engine.submit(shipment.key, sargs, "default", False, 0.0)
        return Task(self._engine, job_id, "default", self, runner=self._callbacks)
