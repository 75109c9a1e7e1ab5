"""The worker interpreter that ppgo's Go core runs: ``python -c <this file> PROTO``
(or ``python -m pp.worker PROTO``).

It is handed the job pipe on file descriptor 3 and the result pipe on 4 (the
format is in docs/WORKER_PROTOCOL.md and core/pool/frame.go), and moves them
out of the jobs' way at once: to high, close-on-exec descriptors, with 3 and
4 left on /dev/null, and let go of in any child a job forks. It imports
nothing outside the standard library, so any Python 3 can serve as a worker,
and only what every job needs: a worker starts with each Server (and with
``import pp``, as a spare: pp._prestart), so its imports are start-up time.

Each function key gets its own namespace, a fresh ``__main__`` module in which
the job's modules are imported and its sources executed once. Before a job
runs, that module is made ``sys.modules["__main__"]``, so instances of
classes shipped with the job pickle and unpickle by their ``__main__`` names
on both sides, and two functions that share a name never stand in for each
other.
"""

from __future__ import annotations

import _signal  # signal.py's enums import enum, ~1 ms of every worker's start
import fcntl
import io
import os
import struct
import sys
import time
import types

try:
    # pickle's C core without pickle.py, which imports re and enum: a few
    # milliseconds of every worker's start-up, for nothing a worker uses.
    import _pickle as pickle
except ImportError:  # a Python without the accelerator
    import pickle  # type: ignore[no-redef]

HEADER = struct.Struct("<IBQQ")  # length, kind, job id, aux
SOURCE_LEN = struct.Struct("<I")
KIND_JOB = 1
KIND_JOB_WITH_SOURCE = 2
KIND_READY = 16
KIND_RESULT = 17
JOBS_FD = 3
RESULTS_FD = 4
# Where the pipes move: far above the descriptors code numbers by hand
# (0-2, and the 3 and 4 pp's documentation names), well under the usual
# soft limit of 1024 open files.
PIPES_FD_MIN = 100

EXEC_ERROR = "An error has occurred during the function execution"
UNPICKLE_ERROR = "An error has occurred during the argument unpickling:"
UNPICKLE_HINT = ("pp: an argument refers to a class or function the worker does not "
                 "have; list it in depfuncs, or name its module in modules")

# Results smaller than this are joined to their header and written at once.
SMALL_BODY = 1 << 16


def format_exc() -> str:
    import traceback  # only on errors: it is slow to import, workers start often

    return traceback.format_exc()


def move_out_of_reach(fd: int) -> int:
    """Moves a protocol pipe from fd to a high, close-on-exec descriptor and
    leaves /dev/null on fd: a job that writes to fd 4 (or reads fd 3) reaches
    nothing, and a program it runs inherits no pipe."""
    try:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD, PIPES_FD_MIN)
    except OSError:  # a limit under PIPES_FD_MIN open files: any free one
        moved = os.dup(fd)
    os.set_inheritable(moved, False)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, fd)
    os.close(null)
    return moved


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# How a job's pickled arguments call its function (the blob's "call"):
CALL_ARGS = "args"      # a tuple: func(*args), legacy pp's way
CALL_KWARGS = "kwargs"  # (args, kwargs): func(*args, **kwargs)
CALL_CHUNK = "chunk"    # a tuple of argument columns: list(map(func, *columns))

BY_VALUE_MISSING = ("pp: this job's function was shipped by value (with cloudpickle), which "
                    "this worker's Python cannot load: install cloudpickle where the job runs "
                    "(pip install cloudpickle)")


class Prepared:
    """A function key's namespace, the callable to run in it, and how."""

    __slots__ = ("module", "func", "warnings", "call")

    def __init__(self, module: types.ModuleType, func, warnings: str, call: str) -> None:
        self.module = module
        self.func = func
        self.warnings = warnings
        self.call = call

    def run(self, args):
        """Calls the function on the unpickled arguments, as the blob says."""
        if self.call == CALL_ARGS:
            return self.func(*args)
        if self.call == CALL_KWARGS:
            return self.func(*args[0], **args[1])
        if self.call == CALL_CHUNK:
            return list(map(self.func, *args))  # the loop in C: chunks are for tiny calls
        raise ValueError("pp: unknown calling convention %r (a newer client?)" % (self.call,))


def compile_source(text: str, filename: str, lineno: int):
    """Compiles shipped source so tracebacks name the client's file and line."""
    # Blank lines in front put every line where it is in the client's file,
    # without the cost of importing ast at worker start-up.
    return compile("\n" * max(lineno - 1, 0) + text, filename, "exec")


def define_all(sources, ns: dict) -> None:
    """Executes every source in ns, whatever order the user listed them in.

    A class whose base (or a function whose decorator or default value) is
    defined by a later source fails with NameError; it is tried again after
    the others, for as long as a round defines something new. A required
    source that still fails raises its error; an optional one (found
    automatically) is dropped.
    """
    pending = list(sources)
    while pending:
        deferred = []
        for source in pending:
            text, filename, lineno, required = source
            try:
                exec(compile_source(text, filename, lineno), ns)
            except NameError as undefined:
                deferred.append((source, undefined))
            except Exception:
                if required:
                    raise
        if len(deferred) == len(pending):
            for (_text, _filename, _lineno, required), error in deferred:
                if required:
                    raise error
            return
        pending = [source for source, _exc in deferred]


def prepare(blob: bytes) -> Prepared:
    """Builds the namespace for a function key from its shipped source blob.

    The blob is ``pickle((name, sources, modules[, options]))``: the dotted
    name to call, a list of ``(text, filename, lineno, required)`` sources,
    the module entries to import, and options: ``call`` (how the arguments
    call the function, CALL_*), ``by_value`` (the function itself, pickled,
    for one without source) and ``values`` (module-level values the
    function uses, pickled, by name). A failed import or a
    failed optional source is reported in the job's output, as legacy pp
    does, and the job goes on.
    """
    name, sources, modules, *rest = pickle.loads(blob)
    options = rest[0] if rest else {}
    module = types.ModuleType("__main__")
    ns = module.__dict__
    warnings = io.StringIO()
    for entry in modules:
        stmt = entry.strip()
        if not stmt:
            continue
        if not stmt.startswith(("import ", "from ")):
            stmt = "import " + stmt
        try:
            exec(compile(stmt, "<pp modules>", "exec"), ns)
        except Exception:
            warnings.write("pp: could not import module %r:\n" % entry)
            warnings.write(format_exc())
    sys.modules["__main__"] = module
    define_all(sources, ns)
    for value_name, value in options.get("values", {}).items():
        try:
            ns[value_name] = pickle.loads(value)
        except Exception:
            warnings.write("pp: could not unpickle the global %r the job uses:\n" % value_name)
            warnings.write(format_exc())
    by_value = options.get("by_value")
    if by_value is not None:
        try:
            func = pickle.loads(by_value)
        except ImportError as exc:
            raise ImportError("%s (%s)" % (BY_VALUE_MISSING, exc)) from None
    else:
        func = ns
        for part in name.split("."):
            func = func[part] if isinstance(func, dict) else getattr(func, part)
    return Prepared(module, func, warnings.getvalue(), options.get("call", CALL_ARGS))


class Worker:
    """The job loop: one job at a time, in the order they arrive."""

    def __init__(self, proto: int) -> None:
        self.proto = proto
        self.jobs_fd = move_out_of_reach(JOBS_FD)
        self.results = move_out_of_reach(RESULTS_FD)
        self.jobs = open(self.jobs_fd, "rb", buffering=1 << 16)
        self.forked = False
        os.register_at_fork(after_in_child=self.let_go_of_pipes)
        self.sources: dict[int, bytes] = {}
        self.prepared: dict[int, Prepared] = {}
        self.current: Prepared | None = None
        self.stdout, self.stderr = sys.stdout, sys.stderr

    def let_go_of_pipes(self) -> None:
        """Runs in every child a job forks: the child must not hold the
        pipes (the pool would see the worker's end only when the child's
        came), nor ever read a job or write a result. /dev/null takes their
        place, so the Python objects over them stay valid; no lock is taken,
        since another thread may have held one across the fork."""
        self.forked = True
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            null = -1
        for fd in (self.jobs_fd, self.results):
            try:
                if null >= 0:
                    os.dup2(null, fd, inheritable=False)
                else:
                    os.close(fd)
            except OSError:
                pass
        if null >= 0:
            os.close(null)

    def send(self, kind: int, job_id: int, aux: int, body: bytes = b"") -> None:
        header = HEADER.pack(HEADER.size - 4 + len(body), kind, job_id, aux)
        if len(body) < SMALL_BODY:
            write_all(self.results, header + body)  # one write for a small result
        else:
            write_all(self.results, header)
            write_all(self.results, body)

    def read_frame(self):
        """Returns (kind, job id, key, body) or None at end of input."""
        header = self.jobs.read(HEADER.size)
        if len(header) < HEADER.size:
            return None
        length, kind, job_id, key = HEADER.unpack(header)
        size = length - (HEADER.size - 4)
        body = self.jobs.read(size)
        if len(body) < size:
            return None
        return kind, job_id, key, body

    def run(self) -> None:
        self.ready()
        self.serve()

    def ready(self) -> None:
        self.send(KIND_READY, os.getpid(), 0)

    def serve(self) -> None:
        """Runs jobs until the job pipe ends."""
        while True:
            frame = self.read_frame()
            if frame is None:
                return
            kind, job_id, key, body = frame
            args = memoryview(body)
            if kind == KIND_JOB_WITH_SOURCE:
                (n,) = SOURCE_LEN.unpack_from(body)
                self.sources[key] = bytes(args[4:4 + n])
                args = args[4 + n:]
            elif kind != KIND_JOB:
                raise SystemExit("pp.worker: unknown frame kind %d" % kind)
            started = time.perf_counter_ns()
            data = self.execute(key, args)
            if self.forked:
                # A child the job forked returned here, into a copy of this
                # loop: it is not the worker. End it as multiprocessing ends
                # its children, without the parent's atexit handlers.
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except (OSError, ValueError):
                        pass
                os._exit(0)
            self.send(KIND_RESULT, job_id, time.perf_counter_ns() - started, data)

    def namespace(self, key: int) -> Prepared:
        prepared = self.prepared.get(key)
        if prepared is None:
            prepared = prepare(self.sources[key])
            if not prepared.warnings:
                self.prepared[key] = prepared
        if prepared is not self.current:
            sys.modules["__main__"] = prepared.module
            self.current = prepared
        return prepared

    def execute(self, key: int, args: memoryview) -> bytes:
        """Runs one job; returns pickle((result, output)) like legacy pp, or,
        when the job raised, pickle((None, output, error)) where error
        describes the exception for the caller (see error_info)."""
        output = io.StringIO()
        sys.stdout = sys.stderr = output
        result = error = None
        stage = EXEC_ERROR
        try:
            prepared = self.namespace(key)
            output.write(prepared.warnings)
            stage = UNPICKLE_ERROR
            call_args = pickle.loads(args)
            stage = EXEC_ERROR
            result = prepared.run(call_args)
        except BaseException as exc:
            clean = output.tell()  # what the job printed, before pp's report
            print(stage, file=output)
            # Start the traceback at the job's own code: the worker's frames
            # (this loop, building the namespace) are noise to the user.
            import traceback  # only when a job fails: it is slow to import

            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_globals is globals():
                tb = tb.tb_next
            text = "".join(traceback.format_exception(type(exc), exc, tb))
            output.write(text)
            if stage is UNPICKLE_ERROR and isinstance(exc, AttributeError):
                print(UNPICKLE_HINT, file=output)
            error = self.error_info(exc, text, clean)
            result = None
        finally:
            sys.stdout, sys.stderr = self.stdout, self.stderr
        try:
            if error is None:
                return pickle.dumps((result, output.getvalue()), self.proto)
            return pickle.dumps((None, output.getvalue(), error), self.proto)
        except Exception as exc:
            clean = len(output.getvalue())
            text = "An error has occurred during the result pickling:\n" + format_exc()
            message = output.getvalue() + text
            return pickle.dumps((None, message, self.error_info(exc, text, clean)), self.proto)

    def error_info(self, exc: BaseException, text: str, clean: int) -> tuple:
        """What the caller needs to raise a job's exception: the exception
        pickled (None if it cannot be), its type's name, its message, the
        formatted traceback, and how much of the output the job itself
        printed."""
        try:
            pickled = pickle.dumps(exc, self.proto)
        except Exception:
            pickled = None
        kind = type(exc)
        try:
            message = str(exc)
        except Exception:
            message = "<unprintable %s>" % kind.__name__
        return (pickled, "%s.%s" % (kind.__module__, kind.__qualname__), message, text, clean)


# How pp._prestart starts a spare worker: ``PROTO spare PARENT_PID IDLE``,
# with its leash, a pipe its client closes when a Server takes it, on
# LEASH_FD.
SPARE = "spare"
LEASH_FD = 5
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """What Go's Pdeathsig does for the workers it starts, for a spare that
    the client's Python started (os.posix_spawn cannot ask for it): SIGKILL
    when the client dies. A client that died before the request took hold
    is noticed here, and the spare ends."""
    try:
        import ctypes  # only spares pay for it: Go asks for the others

        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(PR_SET_PDEATHSIG, _signal.SIGKILL, 0, 0, 0) != 0
    except (ImportError, OSError, AttributeError):
        failed = True
    if failed or os.getppid() != parent:
        # Unbound or orphaned: a spare that could outlive its client must
        # not run. The client sees it dead and starts a worker instead.
        os._exit(0)


def wait_to_be_taken(jobs_fd: int, idle: float) -> None:
    """A spare waits for a Server to take it: for its leash to end, or a
    job to come. One that no Server takes within idle seconds exits, so a
    client that never makes a Server keeps no idle interpreter."""
    import select  # only spares

    poll = select.poll()
    poll.register(LEASH_FD, select.POLLIN)
    poll.register(jobs_fd, select.POLLIN)
    taken = poll.poll(max(idle, 0.0) * 1000)
    os.close(LEASH_FD)  # no job must inherit it
    if not taken:
        os._exit(0)


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: it is for the
    # client, which tears its workers down.
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    args = sys.argv[1:]
    if args:
        proto = int(args[0])
    else:  # never from Go, which always says
        import pickle as full_pickle

        proto = full_pickle.DEFAULT_PROTOCOL
    sys.stdin = io.StringIO()
    worker = Worker(proto)
    worker.ready()
    if args[1:2] == [SPARE]:
        # After READY, so that the client need not wait for ctypes; before
        # any job, which the worker reads only once bound to its client.
        die_with_parent(int(args[2]))
        del sys.argv[2:]  # jobs see the command line of any other worker
        wait_to_be_taken(worker.jobs_fd, float(args[3]))
    worker.serve()


if __name__ == "__main__":
    main()
