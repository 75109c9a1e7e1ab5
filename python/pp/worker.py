"""The worker interpreter that ppgo's Go core runs: ``python -c <this file> PROTO``
(or ``python -m pp.worker PROTO``).

It is handed the job pipe on file descriptor 3, the result pipe on 4 and the
segment socket on 5 (the format is in docs/WORKER_PROTOCOL.md and
core/pool/frame.go, segment.go), and moves them out of the jobs' way at once:
to high, close-on-exec descriptors, with 3, 4 and 5 left on /dev/null, and
let go of in any child a job forks. It imports nothing outside the standard
library, so any Python 3 can serve as a worker, and only what every job
needs: a worker starts with each Server (and with ``import pp``, as a spare:
pp._prestart), so its imports are start-up time.

Large buffers (of bytes, bytearray, memoryview and numpy arrays) travel out
of band (pickle protocol 5) in a shared-memory segment, a sealed memfd
passed by descriptor, not through the pipes: see dumps() and load(), which
the client uses too.

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
import mmap
import os
import struct
import sys
import time
import types

TYPE_CHECKING = False  # typing takes milliseconds to import; type checkers set this
if TYPE_CHECKING:
    from typing import Any

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
WITH_SEGMENT = 0x80  # or'ed into a kind: a segment was sent ahead of the frame
JOBS_FD = 3
RESULTS_FD = 4
SEGMENTS_FD = 5
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

# Out-of-band buffers. A buffer of at least OUT_OF_BAND_MIN bytes goes into
# a shared-memory segment instead of the pickle. Measured (bench/
# oob_threshold.py, docs/PERFORMANCE.md): a segment's set-up (memfd, seals,
# a descriptor passed each way) costs about what copying 64-128 KiB through
# the pipes does; from 256 KiB on the segment is 1.3x faster and more.
OUT_OF_BAND_MIN = 256 << 10
OUT_OF_BAND_PROTOCOL = 5  # the first pickle protocol with out-of-band buffers
# A segment: a count, then (offset, length) per buffer, then the buffers,
# each at an offset aligned for any numpy dtype (and a cache line).
SEGMENT_COUNT = struct.Struct("<Q")
SEGMENT_ENTRY = struct.Struct("<QQ")
SEGMENT_ALIGN = 64
SEGMENT_MSG = struct.Struct("<Q")  # the segment socket's message: the size
FD = struct.Struct("i")  # a descriptor in an SCM_RIGHTS control message
# Before Python 3.13 a mapping keeps a duplicate of its descriptor while it
# lives (a zero-copy result costs an open file); from 3.13 it need not.
MMAP_UNTRACKED = {"trackfd": False} if sys.version_info >= (3, 13) else {}
# Linux's values, for a Python whose fcntl lacks the names (built against
# old headers, as the standalone ppserver's embedded one is).
F_ADD_SEALS = getattr(fcntl, "F_ADD_SEALS", 1033)
SEGMENT_SEALS = (getattr(fcntl, "F_SEAL_SEAL", 0x1) | getattr(fcntl, "F_SEAL_SHRINK", 0x2)
                 | getattr(fcntl, "F_SEAL_GROW", 0x4) | getattr(fcntl, "F_SEAL_WRITE", 0x8))
# A Python without os.memfd_create (built against a C library older than
# glibc 2.27) cannot make segments: it keeps every buffer in band. It can
# still map the segments it is sent.
CAN_MAKE_SEGMENTS = hasattr(os, "memfd_create")
# Where dumps() looks for large bytes, bytearrays and memoryviews: pickle's
# C code writes those types itself, without asking reducer_override, so
# they are found (and wrapped in OutOfBand) before pickling. Before the
# first try it looks only at the object and the items of small tuples in
# it (an argument tuple, a result and its output) at a cost of a few
# hundred nanoseconds; if the pickle still comes out large, it looks
# WRAP_DEPTH deep into tuples, lists and dicts, at up to WRAP_VISITS items
# in all, and pickles again.
NEAR_TOP_ITEMS = 8
WRAP_DEPTH = 3
WRAP_VISITS = 4096
BUFFER_TYPES = (bytes, bytearray, memoryview)
# Values nothing of which can go out of band: pickled as they are, without
# a buffer_callback, on the path of every tiny job.
SCALAR_TYPES = frozenset({int, float, complex, str, bool, type(None)})
NO_BUFFERS: list = []  # shared: never appended to


class OutOfBand:
    """Stands in for a large bytes, bytearray or contiguous memoryview while
    pickling: it pickles as its type called on a PickleBuffer, which then
    goes out of band. (A memoryview arrives as a flat view of bytes.)"""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __reduce__(self):
        return type(self.obj), (pickle.PickleBuffer(self.obj),)


def _large(obj: Any) -> bool:
    cls = type(obj)
    if cls is bytes or cls is bytearray:
        return len(obj) >= OUT_OF_BAND_MIN
    return cls is memoryview and obj.contiguous and obj.nbytes >= OUT_OF_BAND_MIN


def _small(obj: Any) -> bool:
    """Whether nothing in obj can go out of band, looking no further than
    the items of a small tuple and of small tuples in it: a scalar, a small
    buffer, or such a tuple of them (most arguments and results)."""
    cls = type(obj)
    if cls in SCALAR_TYPES:
        return True
    if cls in BUFFER_TYPES:
        return not _large(obj)
    if cls is not tuple or len(obj) > NEAR_TOP_ITEMS:
        return False
    for item in obj:
        cls = type(item)
        if cls in SCALAR_TYPES:
            continue
        if cls in BUFFER_TYPES:
            if _large(item):
                return False
            continue
        if cls is not tuple or len(item) > NEAR_TOP_ITEMS:
            return False
        for inner in item:
            cls = type(inner)
            if cls not in SCALAR_TYPES and (cls not in BUFFER_TYPES or _large(inner)):
                return False
    return True


def _large_near_top(obj: Any) -> bool:
    """Whether obj, an item of obj, or an item of a tuple among them is a
    large buffer, looking only into tuples of up to NEAR_TOP_ITEMS."""
    if type(obj) in BUFFER_TYPES:
        return _large(obj)
    if type(obj) is not tuple or len(obj) > NEAR_TOP_ITEMS:
        return False
    for item in obj:
        cls = type(item)
        if cls in BUFFER_TYPES:
            if _large(item):
                return True
        elif cls is tuple and len(item) <= NEAR_TOP_ITEMS:
            for inner in item:
                if type(inner) in BUFFER_TYPES and _large(inner):
                    return True
    return False


def wrap_large(obj: Any) -> Any:
    """obj with its large bytes, bytearrays and memoryviews (in tuples,
    lists and dicts, up to WRAP_DEPTH deep, WRAP_VISITS items in all)
    wrapped in OutOfBand; obj itself when it holds none, or where segments
    cannot be made."""
    if not CAN_MAKE_SEGMENTS:
        return obj
    return _wrap(obj, 0, [WRAP_VISITS])


def _wrap(obj: Any, depth: int, budget: list[int]) -> Any:
    if _large(obj):
        return OutOfBand(obj)
    cls = type(obj)
    if depth >= WRAP_DEPTH or cls not in (tuple, list, dict) or len(obj) > budget[0]:
        return obj
    budget[0] -= len(obj)
    if cls is dict:
        values = [_wrap(v, depth + 1, budget) for v in obj.values()]
        if all(a is b for a, b in zip(values, obj.values())):
            return obj
        return dict(zip(obj.keys(), values))
    items = [_wrap(item, depth + 1, budget) for item in obj]
    if all(a is b for a, b in zip(items, obj)):
        return obj
    return cls(items)


def dumps(obj: Any, proto: int) -> tuple[bytes, list[memoryview]]:
    """Pickles obj (with protocol 5 at least) and returns the pickle and
    the large buffers it left out of band, in order; small ones stay in
    the pickle (all of them, where segments cannot be made)."""
    protocol = proto if proto >= OUT_OF_BAND_PROTOCOL else OUT_OF_BAND_PROTOCOL
    if not CAN_MAKE_SEGMENTS or _small(obj):
        return pickle.dumps(obj, protocol), NO_BUFFERS
    return dumps_out_of_band(
        lambda o, callback: pickle.dumps(o, protocol, buffer_callback=callback), obj)


def dumps_out_of_band(dump, obj: Any) -> tuple[bytes, list[memoryview]]:
    """dump(obj, buffer_callback) -> pickle, called so that large buffers go
    out of band: those near the top of obj at once; those further in (a
    bytes in a list, say) only when the pickle came out large, since
    looking for them walks obj, which for a long list of small items costs
    more than the pickling."""
    near = _large_near_top(obj)
    if near:
        obj = wrap_large(obj)
    buffers: list[memoryview] = []
    data = dump(obj, out_of_band_into(buffers))
    if near or len(data) < OUT_OF_BAND_MIN:  # wrapped already, or small
        return data, buffers
    wrapped = wrap_large(obj)  # large: maybe a bytes further in
    if wrapped is obj:
        return data, buffers
    buffers = []
    return dump(wrapped, out_of_band_into(buffers)), buffers


def out_of_band_into(buffers: list[memoryview]):
    """A pickle buffer_callback that leaves large buffers out of band, in
    buffers, and keeps small ones in the pickle; None (all in band) where
    segments cannot be made."""
    if not CAN_MAKE_SEGMENTS:
        return None

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        view = buffer.raw()
        if view.nbytes < OUT_OF_BAND_MIN:
            return True  # in band
        buffers.append(view)
        return False

    return out_of_band


def make_segment(buffers: list[memoryview]) -> tuple[int, int]:
    """Copies buffers into a new sealed memfd segment; returns its
    descriptor (the caller's to close) and size."""
    offset = SEGMENT_COUNT.size + SEGMENT_ENTRY.size * len(buffers)
    table = [SEGMENT_COUNT.pack(len(buffers))]
    offsets = []
    for view in buffers:
        offset = -(-offset // SEGMENT_ALIGN) * SEGMENT_ALIGN
        offsets.append(offset)
        table.append(SEGMENT_ENTRY.pack(offset, view.nbytes))
        offset += view.nbytes
    size = offset
    fd = os.memfd_create("ppgo", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, size)
        # pwrite, not a mapping: the kernel fills fresh pages about four
        # times as fast as page faults do (docs/PERFORMANCE.md).
        write_at(fd, memoryview(b"".join(table)), 0)
        for start, view in zip(offsets, buffers):
            write_at(fd, view.cast("B"), start)
        fcntl.fcntl(fd, F_ADD_SEALS, SEGMENT_SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd, size


def write_at(fd: int, view: memoryview, offset: int) -> None:
    """Writes all of view at offset (one pwrite moves at most 2 GiB)."""
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def map_segment(fd: int, size: int) -> list[memoryview]:
    """The buffers in a segment, mapped copy-on-write (so they are
    writable, as unpickled buffers are, and writing changes no one else's
    copy); the mapping lives as long as any of them. Raises ValueError for
    a segment whose table does not fit it."""
    mem = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE,
                    prot=mmap.PROT_READ | mmap.PROT_WRITE, **MMAP_UNTRACKED)
    try:
        (count,) = SEGMENT_COUNT.unpack_from(mem)
        table_end = SEGMENT_COUNT.size + SEGMENT_ENTRY.size * count
        if table_end > size:
            raise ValueError("a segment of %d bytes announces %d buffers" % (size, count))
        spans = [SEGMENT_ENTRY.unpack_from(mem, SEGMENT_COUNT.size + SEGMENT_ENTRY.size * i)
                 for i in range(count)]
        for offset, length in spans:
            if offset < table_end or offset + length > size:
                raise ValueError("a segment of %d bytes has a buffer at %d..%d"
                                 % (size, offset, offset + length))
    except (ValueError, struct.error) as exc:
        mem.close()  # nothing refers to it yet
        raise ValueError("pp: malformed segment: %s" % exc) from None
    view = memoryview(mem)
    return [view[offset:offset + length] for offset, length in spans]


def load(data: Any, buffers: list[memoryview] | None = None) -> Any:
    """Unpickles data, taking its out-of-band buffers from buffers."""
    return pickle.loads(data, buffers=buffers)


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
        self.segments_fd = move_out_of_reach(SEGMENTS_FD)
        self.segments: Any = None  # a socket over segments_fd, made on first use
        self.jobs = open(self.jobs_fd, "rb", buffering=1 << 16)
        self.forked = False
        os.register_at_fork(after_in_child=self.let_go_of_pipes)
        self.sources: dict[int, bytes] = {}
        self.prepared: dict[int, Prepared] = {}
        self.current: Prepared | None = None
        self.stdout, self.stderr = sys.stdout, sys.stderr

    def let_go_of_pipes(self) -> None:
        """Runs in every child a job forks: the child must not hold the
        pipes or the segment socket (the pool would see the worker's end
        only when the child's came), nor ever read a job or write a result.
        /dev/null takes their place, so the Python objects over them stay
        valid; no lock is taken, since another thread may have held one
        across the fork."""
        self.forked = True
        try:
            null = os.open(os.devnull, os.O_RDWR)
        except OSError:
            null = -1
        for fd in (self.jobs_fd, self.results, self.segments_fd):
            try:
                if null >= 0:
                    os.dup2(null, fd, inheritable=False)
                else:
                    os.close(fd)
            except OSError:
                pass
        if null >= 0:
            os.close(null)

    def segment_socket(self) -> Any:
        if self.segments is None:
            import socket  # only once a job has large buffers: workers start often

            self.segments = socket.socket(fileno=self.segments_fd)
        return self.segments

    def receive_segment(self) -> list[memoryview]:
        """Maps the segment the pool sent ahead of the job frame just read."""
        import socket  # recvmsg, not recv_fds: workers run on Python 3.8 too

        msg, ancdata, _flags, _addr = self.segment_socket().recvmsg(
            SEGMENT_MSG.size, socket.CMSG_SPACE(2 * FD.size))
        fds = []
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += [fd for (fd,) in FD.iter_unpack(data[:len(data) - len(data) % FD.size])]
        if len(fds) != 1 or len(msg) != SEGMENT_MSG.size:
            for fd in fds:
                os.close(fd)
            raise SystemExit("pp.worker: a job frame came without its segment")
        try:
            return map_segment(fds[0], SEGMENT_MSG.unpack(msg)[0])
        finally:
            os.close(fds[0])

    def send_segment(self, buffers: list[memoryview]) -> None:
        """Puts buffers in a segment and passes it to the pool, ahead of the
        frame that announces it."""
        import socket

        fd, size = make_segment(buffers)
        try:
            self.segment_socket().sendmsg([SEGMENT_MSG.pack(size)], [
                (socket.SOL_SOCKET, socket.SCM_RIGHTS, FD.pack(fd))])
        finally:
            os.close(fd)

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
            buffers = self.receive_segment() if kind & WITH_SEGMENT else None
            kind &= ~WITH_SEGMENT
            if kind == KIND_JOB_WITH_SOURCE:
                (n,) = SOURCE_LEN.unpack_from(body)
                self.sources[key] = bytes(args[4:4 + n])
                args = args[4 + n:]
            elif kind != KIND_JOB:
                raise SystemExit("pp.worker: unknown frame kind %d" % kind)
            started = time.perf_counter_ns()
            data, out_of_band = self.execute(key, args, buffers)
            del buffers  # the job's arguments: the segment is unmapped once they are gone
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
            elapsed = time.perf_counter_ns() - started
            if out_of_band:
                self.send_segment(out_of_band)
                del out_of_band
                self.send(KIND_RESULT | WITH_SEGMENT, job_id, elapsed, data)
            else:
                self.send(KIND_RESULT, job_id, elapsed, data)

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

    def execute(self, key: int, args: memoryview,
                buffers: list[memoryview] | None) -> tuple[bytes, list[memoryview]]:
        """Runs one job on its pickled arguments and their out-of-band
        buffers; returns pickle((result, output)) like legacy pp, or, when
        the job raised, pickle((None, output, error)) where error describes
        the exception for the caller (see error_info), and the result's
        out-of-band buffers."""
        output = io.StringIO()
        sys.stdout = sys.stderr = output
        result = error = None
        stage = EXEC_ERROR
        try:
            prepared = self.namespace(key)
            output.write(prepared.warnings)
            stage = UNPICKLE_ERROR
            call_args = load(args, buffers)
            del buffers
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
                return dumps((result, output.getvalue()), self.proto)
            return pickle.dumps((None, output.getvalue(), error), self.proto), []
        except Exception as exc:
            clean = len(output.getvalue())
            text = "An error has occurred during the result pickling:\n" + format_exc()
            message = output.getvalue() + text
            return pickle.dumps((None, message, self.error_info(exc, text, clean)),
                                self.proto), []

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
# LEASH_FD (the first after the segment socket's).
SPARE = "spare"
LEASH_FD = 6
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
