"""pp.Server: the legacy Parallel Python job server, on ppgo's Go core."""

from __future__ import annotations

import atexit
import os
import pickle
import sys
import threading
import time
import types
import weakref
from typing import TYPE_CHECKING

from pp import _source
from pp._address import join_host_port, parse_ppserver
from pp._errors import DestroyedServerError
from pp._legacy import LegacyServerState
from pp._task import Task
from pp._version import version

if TYPE_CHECKING:
    from typing import Any, Callable

# Seconds a destroy() waits for the callback thread to notice.
CALLBACK_JOIN_TIMEOUT = 5.0

# Every live server, destroyed at interpreter exit. Weak, so dropping a
# server lets it go.
_live_servers: weakref.WeakSet[Server] = weakref.WeakSet()


def _destroy_live_servers() -> None:
    for server in list(_live_servers):
        server.destroy()


atexit.register(_destroy_live_servers)


def _detect_ncpus() -> int:
    n: int | None
    try:
        n = os.sysconf("SC_NPROCESSORS_ONLN")
    except (AttributeError, ValueError, OSError):
        n = os.cpu_count()
    return n if n and n > 0 else 1


def _check_ncpus(ncpus: Any) -> int:
    if ncpus == "autodetect":
        return _detect_ncpus()
    if not isinstance(ncpus, int):
        raise TypeError("ncpus must have 'int' type, not %s" % type(ncpus).__name__)
    if ncpus < 0:
        raise ValueError("ncpus must be an integer >= 0, not %d" % ncpus)
    return ncpus


_worker_source: str | None = None


def _worker_command() -> list[str]:
    """How the interpreter runs pp/worker.py: as ``-c`` source, which skips
    runpy and the pp package at every worker start, else as ``-m``."""
    global _worker_source
    if _worker_source is None:
        try:
            with open(os.path.join(os.path.dirname(__file__), "worker.py")) as f:
                _worker_source = f.read()
        except OSError:  # not a plain file (a zip import, say)
            _worker_source = ""
    return ["-c", _worker_source] if _worker_source else ["-m", "pp.worker"]


def _check_broadcast(broadcast: Any) -> None:
    """A dotted-quad IPv4 address, as legacy pp's inet_aton check wants."""
    if not isinstance(broadcast, str):
        raise TypeError("broadcast argument must be a string")
    parts = broadcast.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError("broadcast address %r is not a valid IPv4 address" % broadcast)


class _Logger:
    """The "pp" logger, imported on first use: logging takes milliseconds to
    import, and a message below WARNING cannot be shown unless the program
    has set logging up, which imports it."""

    def __init__(self, level: int | str | None) -> None:
        self._logger: Any = None
        if level is not None:
            self.get().setLevel(level)

    def get(self) -> Any:
        if self._logger is None:
            import logging

            self._logger = logging.getLogger("pp")
        return self._logger

    def log(self, level: int, msg: str, *args: Any, **kwargs: Any) -> None:
        if level < 30 and self._logger is None and "logging" not in sys.modules:
            return
        self.get().log(level, msg, *args, **kwargs)

    def info(self, msg: str, *args: Any) -> None:
        self.log(20, msg, *args)

    def warning(self, msg: str, *args: Any) -> None:
        self.log(30, msg, *args)

    def exception(self, msg: str, *args: Any) -> None:
        self.log(40, msg, *args, exc_info=True)


def _free_core(core: Any, handle: int) -> None:
    """Frees a server's core handle once the server is gone."""
    if not core.forked():  # in a forked child the core is the parent's
        core.free(handle)


def _nul_join(items: list[str]) -> bytes:
    return b"".join(os.fsencode(item) + b"\0" for item in items)


def _worker_environment() -> list[str]:
    """The client's environment, with its cwd and sys.path importable."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    paths += [os.getcwd()] + [p for p in sys.path if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return ["%s=%s" % item for item in env.items()]


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
    and on remote ppserver nodes."""

    default_port = 60000
    default_secret = "epo20pdosl;dksldkmm"

    def __init__(self, ncpus: int | str = "autodetect", ppservers: tuple = (),
                 secret: str | None = None, restart: bool = False, proto: int = 4,
                 socket_timeout: float = 3600, loglevel: int | str | None = None,
                 broadcast: str | None = None) -> None:
        # Until the core exists: destroy() is then a no-op, submit() refuses.
        self._destroyed = self._closed = True
        if not isinstance(ppservers, tuple):
            raise TypeError("ppservers argument must be a tuple")
        for entry in ppservers:
            if not isinstance(entry, str):
                raise TypeError("ppservers entries must be strings, not %r" % (entry,))
        if broadcast is not None:
            _check_broadcast(broadcast)
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

        self._logger = _Logger(loglevel)
        if secret is None:
            secret = os.environ.get("PP_SECRET", self.default_secret)
        self.secret = secret
        if not isinstance(socket_timeout, (int, float)) or socket_timeout <= 0:
            raise ValueError("socket_timeout must be a positive number of seconds, not %r"
                             % (socket_timeout,))
        self.socket_timeout = socket_timeout
        nodes = [self._parse_node(entry) for entry in ppservers]
        self.ppservers = [node for node in nodes if "*" not in node[0]]
        self._discovered = [node for node in nodes if "*" in node[0]]
        self._broadcast = broadcast
        self._proto = proto
        self._restart = restart
        self._shipper = _source.Shipper()
        self._registered: set[int] = set()
        self._warned_idle = False
        self._register_lock = threading.Lock()
        self._callback_tasks: dict[int, Task] = {}
        self._callback_lock = threading.Lock()
        self._callback_thread: threading.Thread | None = None
        self._events_thread: threading.Thread | None = None

        from pp import _core  # loads the Go runtime: once per process, on first use

        self._core = _core
        argv = [sys.executable, *_worker_command(), str(proto)]
        self._handle = _core.new(_nul_join(argv), _nul_join(_worker_environment()),
                                 os.getcwd(), ncpus, bool(restart), secret,
                                 float(socket_timeout))
        # The core's handle outlives destroy(), which only stops the
        # engine: finished results stay readable until the server and its
        # tasks are gone.
        weakref.finalize(self, _free_core, _core, self._handle)
        self._destroyed = self._closed = False
        self._creation_time = time.time()
        _live_servers.add(self)
        if nodes:
            try:
                self._connect_nodes()
            except BaseException:
                self.destroy()
                raise
        self._logger.info("pp local server started with %d workers (ppgo %s)", ncpus, version)

    def _connect_nodes(self) -> None:
        """Starts connecting to the named ppservers and discovering the
        wildcard ones, in the background; a thread reports what happens."""
        self._events_thread = threading.Thread(
            target=self._report_node_events, name="pp-nodes", daemon=True)
        self._events_thread.start()
        for host, port in self.ppservers:
            self._core_call(self._core.connect, join_host_port(host, port))
        for host, port in self._discovered:
            self._core_call(self._core.discover, "%s:%d" % (host, port), self._broadcast or "")

    def _report_node_events(self) -> None:
        """Logs node events (connected, refused, lost) until destroy()."""
        core, handle = self._core, self._handle
        while True:
            try:
                event = core.next_event(handle, 0.5)
            except RuntimeError:  # a forked child, or the core is gone
                return
            if event is None:
                return
            if event:
                level, message = event
                self._logger.log(level, "%s", message)

    @staticmethod
    def _parse_node(entry: str) -> tuple[str, int]:
        return parse_ppserver(entry, Server.default_port)

    # -- submitting ------------------------------------------------------

    def submit(self, func: Callable, args: tuple = (), depfuncs: tuple = (),
               modules: tuple = (), callback: Callable | None = None,
               callbackargs: tuple = (), group: str = "default",
               globals: dict | None = None) -> Task:
        """Submits ``func(*args)`` for execution and returns its task.

        depfuncs: functions and classes func uses; modules: modules to import
        (names or "from x import y" statements); callback(*callbackargs,
        result) runs in this process when the job is done; group: label for
        wait(group); globals: a dict from which modules and functions are
        taken, e.g. globals().
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

        auto: tuple = ()
        if globals:
            modules = tuple(dict.fromkeys(modules + tuple(_source.find_modules(globals))))
            auto = tuple(_source.globals_dependencies(globals, modules))
        call_name = None
        if isinstance(func, types.MethodType):
            owner = func.__self__
            cls = owner if isinstance(owner, type) else type(owner)
            if not isinstance(owner, type):
                args = (owner,) + args  # legacy pp: the instance becomes the first argument
            auto += tuple(_source.class_hierarchy(cls))
            func = func.__func__
            if "<locals>" not in cls.__qualname__:
                call_name = "%s.%s" % (cls.__qualname__, func.__name__)
        deep = False  # an argument may hold other objects
        for arg in args:
            cls = type(arg)
            if cls in _source.ATOMIC_TYPES:
                continue
            deep = True
            if cls in _source.PLAIN_TYPES:
                continue
            if isinstance(arg, types.FunctionType):
                auto += (arg,)
            elif _source.is_not_imported(cls, modules) and not _source.is_pp(cls):
                auto += tuple(_source.class_hierarchy(cls))

        if deep:
            # The script's classes and functions deeper in the arguments
            # (instances in a list, say) must ship too.
            sargs, found = _source.dumps_finding_main(args, self._proto)
            auto += tuple(found)
        else:
            sargs = pickle.dumps(args, self._proto)
        shipment = self._shipper.ship(func, depfuncs, auto, modules, call_name)
        if shipment.key not in self._registered:
            self._register(shipment)
        if callback is None:
            tid = self._core_call(self._core.submit, shipment.key, sargs, group, False)
            return Task(self, tid, None, callbackargs, group)
        self._start_callback_thread()
        with self._callback_lock:
            tid = self._core_call(self._core.submit, shipment.key, sargs, group, True)
            task = Task(self, tid, callback, callbackargs, group)
            self._callback_tasks[tid] = task
        return task

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
                self._core_call(self._core.register, shipment.key, shipment.blob)
                self._registered.add(shipment.key)

    # -- waiting and results (used by Task) -------------------------------

    def _core_call(self, fn: Callable, *args: Any) -> Any:
        try:
            return fn(self._handle, *args)
        except self._core.Closed:
            raise DestroyedServerError("Server was destroyed before the job completion") from None

    def _job_done(self, tid: int) -> bool:
        try:
            return self._core.wait(self._handle, tid, 0.0)
        except self._core.Closed:
            return False

    def _wait_callback_task(self, task: Task) -> None:
        if threading.current_thread() is self._callback_thread:
            # A callback waits for another job's callback: run them here, as
            # nothing else would while this thread is busy.
            while not task._finished and self._run_notified(0.05):
                pass
            return
        self._core_call(self._core.wait, task._id, -1.0)

    def _forget(self, tid: int) -> None:
        if not self._core.forked():
            self._core.forget(self._handle, tid)

    def _start_callback_thread(self) -> None:
        if self._callback_thread is None:
            with self._callback_lock:
                if self._callback_thread is None:
                    self._callback_thread = threading.Thread(
                        target=self._run_callbacks, name="pp-callbacks", daemon=True)
                    self._callback_thread.start()

    def _run_callbacks(self) -> None:
        """Runs callbacks, in completion order, until the server is destroyed."""
        while self._run_notified(0.5):
            pass

    def _run_notified(self, timeout: float) -> bool:
        """Runs the callbacks of jobs that completed within timeout; False
        once the server is closed."""
        core, handle = self._core, self._handle
        try:
            ids = core.next_notified(handle, timeout)
        except RuntimeError:  # a forked child, or the core is gone
            return False
        if ids is None:
            return False
        for tid in ids:
            with self._callback_lock:
                task = self._callback_tasks.pop(tid, None)
            result = core.take(handle, tid)
            if task is not None and result is not None:
                task._finish_with_callback(*result)
            core.release(handle, tid)
        return True

    def wait(self, group: str | None = None) -> None:
        """Blocks until every job of group (of all groups when None) is done."""
        if self._destroyed:
            return
        try:
            self._core.wait_group(self._handle, group, -1.0)
        except self._core.Closed:
            return

    # -- local workers ---------------------------------------------------

    def get_ncpus(self) -> int:
        """The number of local worker processes (after destroy(): as many as
        it had, as in pp)."""
        return self._core_call(self._core.workers)

    def set_ncpus(self, ncpus: int | str = "autodetect") -> None:
        """Sets the number of local worker processes; running jobs finish."""
        ncpus = _check_ncpus(ncpus)
        if self._destroyed:
            return
        self._core_call(self._core.set_workers, ncpus)

    def get_active_nodes(self) -> dict[str, int]:
        """Connected nodes and their worker counts: {"local": ncpus, "host:port": n}."""
        return {name: stat.ncpus for name, (stat, connected) in self._node_table().items()
                if connected}

    # -- statistics ------------------------------------------------------

    def _node_table(self) -> dict[str, tuple[Statistics, bool]]:
        """Every node the server knows: its statistics and whether it is connected."""
        table = {}
        for line in self._core_call(self._core.stats).splitlines():
            name, workers, connected, _running, jobs, busy = line.split("\t")
            if workers == "0" and jobs == "0" and connected == "0":
                continue  # a node never reached: pp lists a node once it connects
            table[name] = (Statistics(int(workers), int(jobs), float(busy)), connected == "1")
        return table

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
        active = self._core_call(self._core.pending)
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
        DestroyedServerError."""
        if self._destroyed:
            return
        self._destroyed = self._closed = True
        _live_servers.discard(self)
        if self._core.forked():
            return  # the Go runtime belongs to the parent process
        self._core.close(self._handle)
        for thread in (self._callback_thread, self._events_thread):
            if thread is not None and thread is not threading.current_thread():
                thread.join(CALLBACK_JOIN_TIMEOUT)

    def __del__(self) -> None:
        try:
            self.destroy()
        except Exception:
            pass

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
