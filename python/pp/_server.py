"""pp.Server: the legacy Parallel Python job server, on ppgo's Go core.

The Server checks its arguments, works out what ships (pp._source), and
hands jobs to its Engine (pp._engine, the Go core); tasks (pp._task) and
the callback runner (pp._callbacks) talk to the engine, not to the Server.
"""

from __future__ import annotations

import atexit
import os
import pickle
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING

from pp import _source
from pp._address import expand_ppserver, join_host_port
from pp._callbacks import CallbackRunner
from pp._engine import Engine
from pp._errors import DestroyedServerError
from pp._legacy import LegacyServerState
from pp._log import Logger
from pp._task import Task
from pp._version import version
from pp._workers import DEFAULT_PROTO, detect_ncpus

if TYPE_CHECKING:
    from typing import Any, Callable

# Seconds destroy() waits for the node-events thread to notice.
EVENTS_JOIN_TIMEOUT = 5.0

# Every live server, destroyed at interpreter exit. Weak, so dropping a
# server lets it go.
_live_servers: weakref.WeakSet[Server] = weakref.WeakSet()


def _destroy_live_servers() -> None:
    for server in list(_live_servers):
        server.destroy()


atexit.register(_destroy_live_servers)


def _check_ncpus(ncpus: Any) -> int:
    if ncpus == "autodetect":
        return detect_ncpus()
    if not isinstance(ncpus, int):
        raise TypeError("ncpus must have 'int' type, not %s" % type(ncpus).__name__)
    if ncpus < 0:
        raise ValueError("ncpus must be an integer >= 0, not %d" % ncpus)
    return ncpus


def _report_node_events(engine: Engine, logger: Logger) -> None:
    """Logs node events (connected, refused, lost) until the engine closes."""
    while True:
        try:
            event = engine.next_event(0.5)
        except RuntimeError:  # a forked child: the core is the parent's
            return
        if event is None:
            return
        if event:
            level, message = event
            logger.log(level, "%s", message)


def _secret_from_environment(default: str) -> str:
    """$PP_SECRET, else the contents of $PP_SECRET_FILE (without its final
    newline), else default."""
    secret = os.environ.get("PP_SECRET")
    if secret is not None:
        return secret
    path = os.environ.get("PP_SECRET_FILE")
    if not path:
        return default
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().rstrip("\r\n")
    except OSError as exc:
        raise ValueError("PP_SECRET_FILE %r cannot be read: %s" % (path, exc.strerror)) from None


def _check_timeout(timeout: Any) -> float:
    """A job timeout in seconds as the core takes it: 0 for none."""
    if timeout is None:
        return 0.0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds, not %s" % type(timeout).__name__)
    if not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds, not %r" % (timeout,))
    return float(timeout)


def _check_metrics(metrics: Any) -> str:
    """A listen address for metrics, 'HOST:PORT' or ':PORT'; the core
    checks the parts and says what is wrong with them."""
    if isinstance(metrics, str):
        return metrics
    if isinstance(metrics, int) and not isinstance(metrics, bool):
        raise TypeError("metrics must be an address, 'HOST:PORT' or ':PORT', not the number %d "
                        "(try '127.0.0.1:%d')" % (metrics, metrics))
    raise TypeError("metrics must be an address, 'HOST:PORT' or ':PORT', not %s"
                    % type(metrics).__name__)


def _check_broadcast(broadcast: Any) -> None:
    """A dotted-quad IPv4 address, as legacy pp's inet_aton check wants."""
    if not isinstance(broadcast, str):
        raise TypeError("broadcast argument must be a string")
    parts = broadcast.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError("broadcast address %r is not a valid IPv4 address" % broadcast)


class Statistics:
    """Job statistics of one node, as get_stats() reports them."""

    def __init__(self, ncpus: int, njobs: int = 0, time: float = 0.0, rworker: Any = None) -> None:
        self.ncpus = ncpus
        self.njobs = njobs
        self.time = time
        self.rworker = rworker

    def __repr__(self) -> str:
        return "Statistics(ncpus=%d, njobs=%d, time=%.6f)" % (self.ncpus, self.njobs, self.time)


class Server(LegacyServerState):
    """Parallel Python execution server: runs jobs on local worker processes
    and on remote ppserver nodes.

    Beyond pp: ``metrics='HOST:PORT'`` serves Prometheus metrics (/metrics)
    and a live status page (/) over HTTP until destroy(); port 0 picks a
    free one, and ``metrics_address`` says which (docs/DEPLOY.md).
    """

    default_port = 60000
    default_secret = "epo20pdosl;dksldkmm"

    def __init__(self, ncpus: int | str = "autodetect", ppservers: tuple = (),
                 secret: str | None = None, restart: bool = False, proto: int = DEFAULT_PROTO,
                 socket_timeout: float = 3600, loglevel: int | str | None = None,
                 broadcast: str | None = None, *, metrics: str | None = None) -> None:
        # Until the engine exists: destroy() is then a no-op, submit() refuses.
        self._destroyed = self._closed = True
        if not isinstance(ppservers, tuple):
            raise TypeError("ppservers argument must be a tuple")
        for entry in ppservers:
            if not isinstance(entry, str):
                raise TypeError("ppservers entries must be strings, not %r" % (entry,))
        if broadcast is not None:
            _check_broadcast(broadcast)
        if metrics is not None:
            metrics = _check_metrics(metrics)
        if secret is not None and not isinstance(secret, str):
            raise TypeError("secret must be of a string type")
        if not isinstance(proto, int) or isinstance(proto, bool):
            raise TypeError("proto must be an int")
        if not 0 <= proto <= pickle.HIGHEST_PROTOCOL:
            raise ValueError("proto must be a pickle protocol from 0 to %d, not %d"
                             % (pickle.HIGHEST_PROTOCOL, proto))
        ncpus = _check_ncpus(ncpus)
        if not sys.executable:
            raise RuntimeError("pp: sys.executable is empty, so there is no Python to run workers")

        self._logger = Logger(loglevel)
        if secret is None:
            secret = _secret_from_environment(self.default_secret)
        self.secret = secret
        if not isinstance(socket_timeout, (int, float)) or socket_timeout <= 0:
            raise ValueError("socket_timeout must be a positive number of seconds, not %r"
                             % (socket_timeout,))
        self.socket_timeout = socket_timeout
        nodes = [node for entry in ppservers for node in self._parse_nodes(entry)]
        self.ppservers = [node for node in nodes if "*" not in node[0]]
        self._discovered = [node for node in nodes if "*" in node[0]]
        self._broadcast = broadcast
        self._proto = proto
        self._shipper = _source.Shipper()
        self._registered: set[int] = set()
        self._warned_idle = False
        self._register_lock = threading.Lock()
        self._events_thread: threading.Thread | None = None
        self.metrics_address: str | None = None

        # The engine outlives destroy(), which only stops it: finished
        # results stay readable until the server and its tasks are gone.
        self._engine = Engine(ncpus, bool(restart), secret, float(socket_timeout), proto)
        self._callbacks = CallbackRunner(self._engine, self._logger)
        self._destroyed = self._closed = False
        self._creation_time = time.time()
        _live_servers.add(self)
        try:
            if metrics is not None:
                self.metrics_address = self._engine.serve_metrics(metrics)
                self._logger.info("pp metrics on http://%s/metrics, status page on http://%s/",
                                  self.metrics_address, self.metrics_address)
            if nodes:
                self._connect_nodes()
        except BaseException:
            self.destroy()
            raise
        self._logger.info("pp local server started with %d workers (ppgo %s)", ncpus, version)

    def _connect_nodes(self) -> None:
        """Starts connecting to the named ppservers and discovering the
        wildcard ones, in the background; a thread reports what happens."""
        # The thread holds the engine and the logger, not the Server, so a
        # Server dropped without destroy() is still collected.
        self._events_thread = threading.Thread(
            target=_report_node_events, args=(self._engine, self._logger), name="pp-nodes",
            daemon=True)
        self._events_thread.start()
        for host, port in self.ppservers:
            self._engine.connect(join_host_port(host, port))
        for host, port in self._discovered:
            self._engine.discover("%s:%d" % (host, port), self._broadcast or "")

    @staticmethod
    def _parse_nodes(entry: str) -> list[tuple[str, int]]:
        return expand_ppserver(entry, Server.default_port)

    # -- submitting ------------------------------------------------------

    def submit(self, func: Callable, args: tuple = (), depfuncs: tuple = (),
               modules: tuple = (), callback: Callable | None = None,
               callbackargs: tuple = (), group: str = "default",
               globals: dict | None = None, *, timeout: float | None = None) -> Task:
        """Submits ``func(*args)`` for execution and returns its task.

        depfuncs: functions and classes func uses; modules: modules to import
        (names or "from x import y" statements); callback(*callbackargs,
        result) runs in this process when the job is done; group: label for
        wait(group); globals: a dict from which modules and functions are
        taken, e.g. globals(). Beyond pp: timeout, the seconds the job may
        run before its worker is killed (the task then gives None and
        prints why; result() raises JobTimeoutError).
        """
        if self._closed:
            raise DestroyedServerError("Cannot submit jobs: server instance has been destroyed")
        if not isinstance(args, tuple):
            raise TypeError("args argument must be a tuple")
        if not isinstance(depfuncs, tuple):
            raise TypeError("depfuncs argument must be a tuple")
        if not isinstance(modules, tuple):
            raise TypeError("modules argument must be a tuple")
        if not isinstance(callbackargs, tuple):
            raise TypeError("callbackargs argument must be a tuple")
        if globals is not None and not isinstance(globals, dict):
            raise TypeError("globals argument must be a dictionary")
        if not isinstance(group, str):
            raise TypeError("group argument must be a string")
        for module in modules:
            if not isinstance(module, str):
                raise TypeError("modules argument must be a tuple of strings")
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        seconds = _check_timeout(timeout)

        key, sargs, buffers = self._ship(func, args, depfuncs, modules, globals)
        engine, runner = self._engine, self._callbacks
        if callback is None:
            if buffers:
                job_id = engine.submit_out_of_band(key, sargs, buffers, group, False, seconds)
            else:
                job_id = engine.submit(key, sargs, group, False, seconds)
            return Task(engine, job_id, group, self, runner=runner)
        return runner.submit(  # type: ignore[return-value]
            key, sargs, buffers, group, seconds,
            lambda job_id: Task(engine, job_id, group, self, callback, callbackargs, runner,
                                notified=True))

    def _ship(self, func: Callable, args: Any, depfuncs: tuple = (), modules: tuple = (),
              globals: dict | None = None, call: str = _source.CALL_ARGS,
              by_value: dict | None = None,
              follow_globals: bool = False) -> tuple[int, bytes, list[memoryview]]:
        """Works out what ships for a call (pp._source), hands the core the
        function's source the first time, and returns its key, the pickled
        arguments and their out-of-band buffers."""
        shipment, sargs, buffers = self._shipper.prepare(func, args, depfuncs, modules,
                                                         globals, self._proto, call, by_value,
                                                         follow_globals)
        if shipment.key not in self._registered:
            self._register(shipment)
        return shipment.key, sargs, buffers

    def _submit_notified(self, func: Callable, args: Any, call: str, timeout: float,
                         make: Callable[[int, Callable[[], bool]], Any],
                         by_value: dict | None = None, group: str = "executor") -> Any:
        """Submits a job the callback runner will finish, for pp._futures:
        make(job_id, cancel) builds what receives its outcome."""
        if self._closed:
            raise DestroyedServerError("Cannot submit jobs: server instance has been destroyed")
        key, sargs, buffers = self._ship(func, args, call=call, by_value=by_value,
                                         follow_globals=True)
        engine = self._engine
        return self._callbacks.submit(
            key, sargs, buffers, group, timeout,
            lambda job_id: make(job_id, lambda: engine.cancel(job_id)))

    def _nothing_can_run(self) -> bool:
        """True when nothing could ever run a job submitted now."""
        return not self.ppservers and not self._discovered and self.get_ncpus() == 0

    def _register(self, shipment: _source.Shipment) -> None:
        """Hands the core a function's source the first time its key is used."""
        if not self._warned_idle and self._nothing_can_run():
            self._warned_idle = True
            self._logger.warning("pp: this server has no local workers and no remote nodes; "
                                 "jobs wait until set_ncpus() adds workers")
        with self._register_lock:
            if shipment.key not in self._registered:
                self._engine.register(shipment.key, shipment.blob)
                self._registered.add(shipment.key)

    def wait(self, group: str | None = None, progress: bool | str = False) -> None:
        """Blocks until every job of group (of all groups when None) is done.
        Beyond pp: progress draws a bar of the server's jobs on stderr (when
        it is a terminal; progress="always" anyway)."""
        if self._destroyed:
            return
        if not progress:
            self._engine.wait_group(group, -1.0)
            return
        from pp._progress import Progress

        total = self._engine.pending()
        bar = Progress(total, "pp", progress)
        try:
            while not self._engine.wait_group(group, 0.1):
                bar.set_done(total - min(self._engine.pending(), total))
            bar.set_done(total)
        finally:
            bar.close()

    def executor(self, job_timeout: float | None = None) -> Any:
        """A concurrent.futures.Executor over this server (pp.Executor);
        its shutdown() leaves the server running."""
        from pp._futures import Executor

        return Executor(server=self, job_timeout=job_timeout)

    # -- local workers ---------------------------------------------------

    def get_ncpus(self) -> int:
        """The number of local worker processes (after destroy(): as many as
        it had, as in pp)."""
        return self._engine.workers()

    def set_ncpus(self, ncpus: int | str = "autodetect") -> None:
        """Sets the number of local worker processes; running jobs finish."""
        ncpus = _check_ncpus(ncpus)
        if self._destroyed:
            return
        self._engine.set_workers(ncpus)

    def get_active_nodes(self) -> dict[str, int]:
        """Connected nodes and their worker counts: {"local": ncpus, "host:port": n}."""
        return {name: stat.ncpus for name, (stat, connected) in self._node_table().items()
                if connected}

    # -- statistics ------------------------------------------------------

    def _node_table(self) -> dict[str, tuple[Statistics, bool]]:
        """Every node the server knows: its statistics and whether it is
        connected. pp lists a node once it has connected; so does this."""
        return {node.name: (Statistics(node.workers, node.jobs, node.busy), node.connected)
                for node in self._engine.nodes()
                if node.connected or node.workers or node.jobs}

    def _stats_by_node(self) -> dict[str, Statistics]:
        return {name: stat for name, (stat, _) in self._node_table().items()}

    def get_stats(self) -> dict[str, Statistics]:
        """Job statistics per node: {node: stats with .ncpus .njobs .time .rworker}."""
        return self._stats_by_node()

    def print_stats(self) -> None:
        """Prints legacy pp's job statistics table."""
        stats = self.get_stats()
        walltime = time.time() - self._creation_time
        total = sum(stat.njobs for stat in stats.values())
        active = self._engine.pending()
        print("Job execution statistics:")
        print(" job count | % of all jobs | job time sum | time per job | job server")
        for node, stat in stats.items():
            if stat.njobs:
                print("    %6i |        %6.2f |     %8.4f |  %11.6f | %s"
                      % (stat.njobs, 100.0 * stat.njobs / total, stat.time,
                         stat.time / stat.njobs, node))
        print("Time elapsed since server creation", walltime)
        print(active, "active tasks,", self.get_ncpus(), "cores")
        print(flush=True)

    # -- teardown --------------------------------------------------------

    def destroy(self) -> None:
        """Stops the workers; pending jobs are dropped and their tasks raise
        DestroyedServerError. Results of finished jobs stay readable."""
        if self._destroyed:
            return
        self._destroyed = self._closed = True
        _live_servers.discard(self)
        if self._engine.forked():
            return  # the Go runtime belongs to the parent process
        self._engine.close()
        self._callbacks.close()
        thread = self._events_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(EVENTS_JOIN_TIMEOUT)

    def __del__(self) -> None:
        try:
            self.destroy()
        except Exception:
            pass

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
