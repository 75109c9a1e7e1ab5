"""Spare workers: started when pp is imported, so that the first Server
finds its workers' interpreters already started.

A worker interpreter takes ~10 ms to start, most of what ``Server()`` takes
to its first result. ``import pp`` starts spares at once, without waiting
for them, so their start-up overlaps whatever the client does next (its
imports, reading its data). They are started with os.posix_spawn, not by
the Go core: loading Go at import would leave a process that imports pp and
forks unable to make a Server in the child, since Go does not survive fork.

The first Server takes the spares only if they were started exactly as its
own workers would be: the same command line (interpreter, worker source,
pickle protocol), environment (which holds the client's cwd and sys.path,
on PYTHONPATH, see pp._workers) and working directory; then it takes at
most ``ncpus`` of them and hands them to the Go core (pool.Spare), which
owns them from then on. Spares it does not take are killed: a spare never
runs a job with a stale setup.

A spare dies with its client (worker.py asks for PR_SET_PDEATHSIG, as Go
does for the workers it starts), is killed at interpreter exit if no Server
took it, and belongs to the parent after a fork: the child forgets it. One
that no Server takes within SPARE_IDLE seconds exits by itself: it holds a
third pipe, its leash, whose write end the client closes when a Server
takes it (a zombie then waits to be reaped by the next Server, or the
client's exit). Only the main script's ``import pp`` starts spares — not a
library's, which may never make a Server, nor one in a multiprocessing
child — and ``PPGO_PRESTART=0`` turns them off.
"""

from __future__ import annotations

import os
import sys

from pp import _workers

TYPE_CHECKING = False  # typing costs milliseconds of import pp; type checkers set this
if TYPE_CHECKING:
    from types import FrameType

# At most this many spares: enough for the first jobs of a large machine,
# without an interpreter per core idling in a program that never makes a
# Server. A larger Server starts the rest itself.
MAX_SPARES = 8

# Descriptors the spawn's file actions write (stdin, the worker's 3 and 4)
# must not be the pipes' own: the pipes move above this first.
PIPE_FD_MIN = 10

# Seconds a spare waits for a Server before it exits: the start of a
# program that imports pp and makes its Server after reading its data, not
# the hours of one that never makes a Server.
SPARE_IDLE = 60.0

SPARE_ARG = "spare"  # worker.py's SPARE
SEGMENTS_FD = 5  # worker.py's SEGMENTS_FD: its segment socket
LEASH_FD = 6  # worker.py's LEASH_FD
SIGKILL = 9  # signal.SIGKILL on Linux, without importing signal


class Spare:
    """A spare worker process and the client's ends of its pipes and of
    its segment socket."""

    __slots__ = ("pid", "jobs", "results", "segments", "leash", "reaped", "pipes")

    def __init__(self, pid: int, jobs: int, results: int, segments: int, leash: int) -> None:
        self.pid = pid
        self.jobs = jobs  # write end of its job pipe
        self.results = results  # read end of its result pipe
        self.segments = segments  # the client's end of its segment socket
        self.leash = leash  # write end of its leash: closed, it is taken
        self.reaped = False  # then its pid may be another process's: never signal it
        # What the descriptors are: code that closes descriptors it does not
        # know (os.closerange) may have put other files under these numbers.
        self.pipes = [_identity(fd) for fd in self.fds()]

    def fds(self) -> tuple[int, int, int, int]:
        return self.jobs, self.results, self.segments, self.leash

    def intact(self) -> bool:
        """Whether the descriptors still hold the spare's pipes."""
        return [_identity(fd) for fd in self.fds()] == self.pipes

    def alive(self) -> bool:
        """Whether the process runs (one that ended is reaped here)."""
        if not self.reaped:
            try:
                self.reaped = os.waitpid(self.pid, os.WNOHANG)[0] != 0
            except ChildProcessError:
                self.reaped = True
        return not self.reaped

    def close(self) -> None:
        """Closes the pipes, unless their descriptors hold other files now."""
        if not self.intact():
            return
        for fd in self.fds():
            try:
                os.close(fd)
            except OSError:
                pass

    def release(self) -> tuple[int, int, int, int]:
        """Lets go of the leash (the spare no longer waits to be taken) and
        hands over the rest: pid, job pipe, result pipe, segment socket."""
        os.close(self.leash)
        return self.pid, self.jobs, self.results, self.segments

    def discard(self) -> None:
        """Kills the spare and reaps it."""
        self.close()
        if self.reaped:
            return
        self.reaped = True
        try:
            os.kill(self.pid, SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _identity(fd: int) -> tuple[int, int] | None:
    """The file a descriptor holds (None: none)."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


# The spares and the setup they were started with: (argv, env, cwd).
_spares: list[Spare] = []
_setup: tuple[list[str], list[str], str] | None = None
_hooked = False  # the fork and exit hooks are registered


def enabled() -> bool:
    """Whether this process should start spares: on Linux (PR_SET_PDEATHSIG),
    on the main thread (a spare dies with the thread that started it), not
    turned off by PPGO_PRESTART (as in workers), when the program's main
    script imports pp (a library that imports pp may never make a Server),
    and not in a multiprocessing child (a pool of them would start spares
    each)."""
    if os.environ.get(_workers.PRESTART_VARIABLE, "").strip().lower() in _workers.PRESTART_OFF:
        return False
    if not sys.platform.startswith("linux") or not sys.executable:
        return False
    if not _imported_by_main_script():
        return False
    multiprocessing = sys.modules.get("multiprocessing")
    if multiprocessing is not None and multiprocessing.parent_process() is not None:
        return False
    import threading

    return threading.current_thread() is threading.main_thread()


# Modules whose frames stand between an import statement and the module
# it runs: the import machinery's, and pp's own package.
_IMPORT_MACHINERY = frozenset({"_frozen_importlib", "_frozen_importlib_external",
                               "importlib._bootstrap", "importlib._bootstrap_external",
                               "importlib", "pp", __name__})


def _imported_by_main_script() -> bool:
    """Whether the code importing pp runs in the ``__main__`` module: the
    script, ``python -c``, the interactive prompt or a notebook, not a
    library it imports (nor multiprocessing's ``__mp_main__``)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") in _IMPORT_MACHINERY:
        frame = frame.f_back
    return frame is not None and frame.f_globals.get("__name__") == "__main__"


def start(count: int, idle: float = SPARE_IDLE) -> None:
    """Starts up to count spares (MAX_SPARES at most) for a Server of the
    default options, each to wait idle seconds for it, unless spares run
    already. Failures only mean fewer spares: the Server starts its workers
    itself."""
    global _setup
    if _spares or count <= 0 or not hasattr(os, "posix_spawn"):
        return
    argv = _workers.worker_command(_workers.DEFAULT_PROTO)
    env = _workers.worker_environment()
    cwd = os.getcwd()
    environ = dict(item.split("=", 1) for item in env)
    for _ in range(min(count, MAX_SPARES)):
        try:
            _spares.append(_spawn(argv, environ, idle))
        except OSError:
            break
    if _spares:
        _setup = (argv, env, cwd)
        _hook_once()


def _hook_once() -> None:
    """Forgets spares in forked children, and kills them at exit."""
    global _hooked
    if not _hooked:
        _hooked = True
        os.register_at_fork(after_in_child=_forget)
        import atexit

        atexit.register(discard_all)


def _pipe() -> tuple[int, int]:
    """A pipe whose ends are close-on-exec and at PIPE_FD_MIN or above."""
    return _moved_up(os.pipe())


def _segment_socket() -> tuple[int, int]:
    """A segment socket as core/pool makes one (SOCK_SEQPACKET, Unix): the
    client's end, then the spare's, both close-on-exec and at PIPE_FD_MIN
    or above."""
    import _socket  # socket.py would import enum and selectors: ~3 ms of import pp

    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    return _moved_up((a.detach(), b.detach()))


def _moved_up(ends: tuple[int, int]) -> tuple[int, int]:
    """Both descriptors moved to close-on-exec ones at PIPE_FD_MIN or above
    (the originals closed, also on failure)."""
    import fcntl

    moved: list[int] = []
    try:
        for fd in ends:
            moved.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, PIPE_FD_MIN))
    except OSError:
        for fd in moved:
            os.close(fd)
        raise
    finally:
        for fd in ends:
            os.close(fd)
    return moved[0], moved[1]


def _spawn(argv: list[str], environ: dict[str, str], idle: float) -> Spare:
    """Starts one spare as the Go core starts a worker (core/pool): the job
    pipe on its fd 3, the result pipe on 4, the segment socket on 5, stdin
    on /dev/null, stdout and stderr the client's; and its leash on
    LEASH_FD."""
    fds: list[int] = []
    try:
        for _ in range(3):
            fds += _pipe()
        fds += _segment_socket()
        jobs_r, jobs_w, results_r, results_w, leash_r, leash_w, segments, their_segments = fds
        pid = os.posix_spawn(
            argv[0], argv + [SPARE_ARG, str(os.getpid()), repr(idle)], environ,
            file_actions=[(os.POSIX_SPAWN_DUP2, jobs_r, 3),
                          (os.POSIX_SPAWN_DUP2, results_w, 4),
                          (os.POSIX_SPAWN_DUP2, their_segments, SEGMENTS_FD),
                          (os.POSIX_SPAWN_DUP2, leash_r, LEASH_FD),
                          (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
            setsigmask=())
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    for fd in (jobs_r, results_w, their_segments, leash_r):  # the spare's ends
        os.close(fd)
    return Spare(pid, jobs_w, results_r, segments, leash_w)


def take(argv: list[str], env: list[str], cwd: str, count: int) -> bytes:
    """The spares a Server with this setup and ``count`` workers takes, as
    pp._core.new wants them: native int64 quadruples (pid, jobs fd, results
    fd, segment socket fd), which the core owns from then on. Every other spare is killed;
    there are none left afterwards."""
    spares = _take_all()
    fits = _setup == (argv, env, cwd)
    taken: list[Spare] = []
    for spare in spares:
        if fits and len(taken) < count and spare.intact() and spare.alive():
            taken.append(spare)
        else:
            spare.discard()
    import array

    return array.array("q", [n for s in taken for n in s.release()]).tobytes()


def pids() -> list[int]:
    """The process ids of the spares no Server has taken yet."""
    return [spare.pid for spare in _spares]


def discard_all() -> None:
    """Kills the spares no Server took (at interpreter exit)."""
    for spare in _take_all():
        spare.discard()


def _forget() -> None:
    """In a forked child: the spares are the parent's, and so are their
    pipes, which the child closes (it must not keep them open)."""
    for spare in _take_all():
        spare.close()


def _take_all() -> list[Spare]:
    """Empties the list of spares, one atomic pop at a time: two Servers
    made at once on two threads never both get one spare."""
    taken = []
    while True:
        try:
            taken.append(_spares.pop(0))
        except IndexError:
            return taken
