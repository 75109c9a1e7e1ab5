"""Benchmark workloads, run inside the interpreter of the library under test.

`bench/run.py` starts this script once per (library, workload), each time in
a fresh process, with the interpreter whose environment holds the library:

    python bench/workloads.py --lib ppgo --workload tiny --out result.json

It imports only the standard library and the library under test, runs one
workload, and writes one JSON object to --out: {"status": "ok", "metrics":
{...}, "info": {...}}, or {"status": "unavailable", "reason": ...} when the
workload cannot run for this library (a remote row without a ppserver). Any
exception propagates: a non-zero exit is reported as "error" by run.py.

Libraries: ppgo, pp170 (pp 1.7.0) and ppft all provide `import pp` and are
driven through `server.submit(func, (x,))`; pool is multiprocessing.Pool
(`apply_async(func, (x,))`); ppe is concurrent.futures.ProcessPoolExecutor
(`submit(func, x)`). Every executor gets N = os.cpu_count() workers (the
cpu workload also runs a 1-worker baseline). Throughput workloads first run
one warm-up job per worker; startup is measured cold.

pingpong is no library but the floor under every design with worker
processes: one plain Python child that a pipe hands a pickled
``(func, arg)`` and that pipes back the pickled result, nothing else in
between (no thread, no framing beyond a length). It runs the latency
workload, through the same round_trips(), so that the latency rows can say
how far each library sits above it.

Job functions live at module level here: the pp-like libraries ship their
source, the process pools pickle them by reference.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib.metadata
import json
import multiprocessing
import os
import pickle
import resource
import secrets
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

PP_LIBS = ("ppgo", "pp170", "ppft")
POOL_LIBS = ("pool", "ppe")
PINGPONG = "pingpong"
LIBS = PP_LIBS + POOL_LIBS + (PINGPONG,)
# The distribution that must provide `import pp` for each pp-like library.
PP_DISTRIBUTIONS = {"ppgo": "ppgo", "pp170": "pp", "ppft": "ppft"}

MIB = 1024 * 1024
# pingpong's frames: a little-endian uint32 length, then the pickle.
PINGPONG_LENGTH = struct.Struct("<I")
REMOTE_WORKERS = 2
PPSERVER_START_TIMEOUT = 30.0
MEMORY_SETTLE_SECONDS = 1.0

Getter = Callable[[], Any]
Metrics = dict[str, Any]


# --- job functions (module level: shipped as source or pickled by name) ---

def inc(x):
    return x + 1


def ident(x):
    return x


def burn(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


# --- executors: one small interface over the five libraries ---

class Executor:
    """A pool of workers: submit(func, arg) returns a zero-argument getter."""

    def submit(self, func: Callable, arg: Any) -> Getter:
        raise NotImplementedError

    def wait_all(self, getters: list[Getter]) -> None:
        """Block until every submitted job has finished."""
        for get in getters:
            get()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PPExecutor(Executor):
    """ppgo, pp 1.7.0 or ppft: a pp.Server, local or remote."""

    def __init__(self, workers: int, ppservers: tuple = (), secret: str | None = None) -> None:
        import pp
        kwargs: dict[str, Any] = {"ncpus": workers}
        if ppservers:
            kwargs.update(ppservers=ppservers, secret=secret)
        self.server = pp.Server(**kwargs)

    def submit(self, func: Callable, arg: Any) -> Getter:
        return self.server.submit(func, (arg,))

    def wait_all(self, getters: list[Getter]) -> None:
        self.server.wait()

    def close(self) -> None:
        self.server.destroy()


class PoolExecutor(Executor):
    """multiprocessing.Pool driven through apply_async."""

    def __init__(self, workers: int) -> None:
        self.pool = multiprocessing.Pool(workers)

    def submit(self, func: Callable, arg: Any) -> Getter:
        return self.pool.apply_async(func, (arg,)).get

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


class FuturesExecutor(Executor):
    """concurrent.futures.ProcessPoolExecutor."""

    def __init__(self, workers: int) -> None:
        self.ex = concurrent.futures.ProcessPoolExecutor(workers)

    def submit(self, func: Callable, arg: Any) -> Getter:
        return self.ex.submit(func, arg).result

    def wait_all(self, getters: list[Getter]) -> None:
        concurrent.futures.wait([g.__self__ for g in getters])  # type: ignore[attr-defined]

    def close(self) -> None:
        self.ex.shutdown(wait=True)


class PingPongExecutor(Executor):
    """The floor: one child interpreter (this script, --pingpong-child) on
    two pipes; submit writes the pickled job, the getter reads the result.
    It runs one job at a time, which is all the latency workload asks."""

    def __init__(self) -> None:
        self.child = subprocess.Popen(
            [sys.executable, __file__, "--pingpong-child"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        assert self.child.stdin is not None and self.child.stdout is not None
        self.to_child = self.child.stdin.fileno()
        self.from_child = self.child.stdout.fileno()

    def submit(self, func: Callable, arg: Any) -> Getter:
        write_frame(self.to_child, pickle.dumps((func, arg), pickle.HIGHEST_PROTOCOL))
        return self.result

    def result(self) -> Any:
        frame = read_frame(self.from_child)
        if frame is None:
            raise RuntimeError("pingpong child exited with status %s" % self.child.wait())
        return pickle.loads(frame)

    def close(self) -> None:
        self.child.kill()
        self.child.wait()


def write_frame(fd: int, body: bytes) -> None:
    data = memoryview(PINGPONG_LENGTH.pack(len(body)) + body)
    while data:
        data = data[os.write(fd, data):]


def read_exactly(fd: int, n: int) -> bytes | None:
    """n bytes from fd; None at end of input."""
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes | None:
    header = read_exactly(fd, PINGPONG_LENGTH.size)
    if header is None:
        return None
    return read_exactly(fd, PINGPONG_LENGTH.unpack(header)[0])


def pingpong_child() -> int:
    """The child's loop: a job in from stdin, its result out on stdout."""
    to_parent, from_parent = sys.stdout.fileno(), sys.stdin.fileno()
    while (frame := read_frame(from_parent)) is not None:
        func, arg = pickle.loads(frame)
        write_frame(to_parent, pickle.dumps(func(arg), pickle.HIGHEST_PROTOCOL))
    return 0


def make_executor(lib: str, workers: int) -> Executor:
    if lib in PP_LIBS:
        return PPExecutor(workers)
    if lib == "pool":
        return PoolExecutor(workers)
    if lib == "ppe":
        return FuturesExecutor(workers)
    if lib == PINGPONG:
        return PingPongExecutor()
    raise ValueError("unknown library %r" % lib)


@contextlib.contextmanager
def warm_executor(lib: str, workers: int) -> Iterator[Executor]:
    """An executor whose every worker has run a job, closed afterwards."""
    with make_executor(lib, workers) as ex:
        warm_up(ex, workers)
        yield ex


def warm_up(ex: Executor, workers: int) -> None:
    """One job per worker, so that every worker has started before timing."""
    if isinstance(ex, PingPongExecutor):  # one child, one job at a time
        ex.submit(burn, 20_000)()
        return
    getters = [ex.submit(burn, 20_000) for _ in range(workers)]
    for get in getters:
        get()


def ncpus() -> int:
    return os.cpu_count() or 1


# --- measurements shared by several workloads ---

def throughput(ex: Executor, n: int) -> Metrics:
    """Submit n tiny jobs, then collect every result."""
    t0 = time.perf_counter()
    getters = [ex.submit(inc, i) for i in range(n)]
    results = [get() for get in getters]
    seconds = time.perf_counter() - t0
    if results[-1] != n:
        raise RuntimeError("wrong result: %r" % (results[-1],))
    return {"jobs": n, "seconds": seconds, "jobs_per_s": n / seconds}


def round_trips(ex: Executor, n: int) -> Metrics:
    """n sequential submit -> result round trips; median and p99 in µs."""
    samples = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        result = ex.submit(inc, i)()
        samples.append(time.perf_counter_ns() - t0)
        if result != i + 1:
            raise RuntimeError("wrong result: %r" % (result,))
    micros = [s / 1000 for s in samples]
    return {
        "round_trips": n,
        "median_us": statistics.median(micros),
        "p99_us": statistics.quantiles(micros, n=100)[98],
        "mean_us": statistics.fmean(micros),
    }


def rss_kib(pid: int | str = "self") -> int:
    """VmRSS of a process in KiB (0 if it is gone)."""
    return proc_status_kib(pid, "VmRSS")


def proc_status_kib(pid: int | str, field: str) -> int:
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(root: int) -> list[int]:
    """Every live descendant of a process, found through /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


# --- the workloads ---

def w_tiny(lib: str, n: int | None) -> Metrics:
    with warm_executor(lib, ncpus()) as ex:
        return throughput(ex, n or 20_000)


def w_latency(lib: str, n: int | None) -> Metrics:
    with warm_executor(lib, ncpus()) as ex:
        return round_trips(ex, n or 2_000)


def calibrate_burn(target_seconds: float) -> tuple[int, float]:
    """Iterations of burn() that take about target_seconds here."""
    n = 100_000
    while True:
        t0 = time.perf_counter()
        burn(n)
        dt = time.perf_counter() - t0
        if dt > 0.05:
            n = int(n * target_seconds / dt)
            t0 = time.perf_counter()
            burn(n)
            return n, time.perf_counter() - t0
        n *= 4


def timed_cpu_jobs(lib: str, workers: int, jobs: int, iterations: int) -> float:
    with warm_executor(lib, workers) as ex:
        t0 = time.perf_counter()
        getters = [ex.submit(burn, iterations) for _ in range(jobs)]
        for get in getters:
            get()
        return time.perf_counter() - t0


def w_cpu(lib: str, n: int | None) -> Metrics:
    jobs, workers = n or 16, ncpus()
    iterations, job_seconds = calibrate_burn(0.2)
    t1 = timed_cpu_jobs(lib, 1, jobs, iterations)
    tn = timed_cpu_jobs(lib, workers, jobs, iterations)
    speedup = t1 / tn
    return {
        "jobs": jobs, "workers": workers, "job_seconds": job_seconds,
        "seconds_1": t1, "seconds_n": tn,
        "speedup": speedup, "speedup_per_worker": speedup / workers,
    }


def transfer(ex: Executor, size: int, reps: int) -> Metrics:
    """reps sequential identity round trips of a `size`-byte argument."""
    payload = os.urandom(size)
    elapsed = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        result = ex.submit(ident, payload)()
        elapsed += time.perf_counter() - t0
        if result != payload:
            raise RuntimeError("payload came back changed")
    return {"bytes": size, "reps": reps, "seconds": elapsed,
            "mb_per_s": size * reps / elapsed / 1e6}


def w_payload(lib: str, n: int | None) -> Metrics:
    with warm_executor(lib, ncpus()) as ex:
        small = transfer(ex, MIB, n or 64)
        large = transfer(ex, 32 * MIB, max(2, (n or 64) // 8))
    return {"mib1_mb_per_s": small["mb_per_s"], "mib32_mb_per_s": large["mb_per_s"],
            "mib1": small, "mib32": large}


def w_startup(lib: str, n: int | None) -> Metrics:
    """Cold: the executor's constructor to its first result, in a new process."""
    t0 = time.perf_counter()
    with make_executor(lib, ncpus()) as ex:
        if ex.submit(inc, 1)() != 2:
            raise RuntimeError("wrong result")
        seconds = time.perf_counter() - t0
    return {"seconds": seconds}


# The client of startup_process: a fresh interpreter that imports the
# library, makes its executor, and prints the monotonic clock (one clock
# for every process on Linux) once the first result is in.
STARTUP_SCRIPTS = {
    "pp": """
import time
import pp

def inc(x):
    return x + 1

if __name__ == "__main__":
    server = pp.Server(ncpus={workers})
    if server.submit(inc, (1,))() != 2:
        raise SystemExit("wrong result")
    print(time.clock_gettime(time.CLOCK_MONOTONIC), flush=True)
    server.destroy()
""",
    "pool": """
import time
import multiprocessing

def inc(x):
    return x + 1

if __name__ == "__main__":
    with multiprocessing.Pool({workers}) as pool:
        if pool.apply_async(inc, (1,)).get() != 2:
            raise SystemExit("wrong result")
        print(time.clock_gettime(time.CLOCK_MONOTONIC), flush=True)
""",
    "ppe": """
import time
import concurrent.futures

def inc(x):
    return x + 1

if __name__ == "__main__":
    with concurrent.futures.ProcessPoolExecutor({workers}) as ex:
        if ex.submit(inc, 1).result() != 2:
            raise SystemExit("wrong result")
        print(time.clock_gettime(time.CLOCK_MONOTONIC), flush=True)
""",
}


def w_startup_process(lib: str, n: int | None) -> Metrics:
    """Cold, from process start: a new interpreter imports the library,
    makes its executor and gets a first result; the median of n such
    processes. Unlike startup, nothing the library does before its
    constructor (at import, say) falls outside the figure."""
    source = STARTUP_SCRIPTS["pp" if lib in PP_LIBS else lib].format(workers=ncpus())
    samples = []
    with tempfile.TemporaryDirectory(prefix="ppgo-startup-") as tmp:
        script = Path(tmp) / "first_result.py"
        script.write_text(source)
        for _ in range(n or 5):
            t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
            proc = subprocess.run([sys.executable, str(script)], cwd=tmp, check=True,
                                  stdout=subprocess.PIPE, text=True)
            samples.append(float(proc.stdout.split()[0]) - t0)
    return {"seconds": statistics.median(samples), "runs": len(samples),
            "samples": samples}


def w_memory(lib: str, n: int | None) -> Metrics:
    """RSS of an idle executor (after one job) and of the processes under it."""
    with make_executor(lib, ncpus()) as ex:
        if ex.submit(inc, 1)() != 2:
            raise RuntimeError("wrong result")
        time.sleep(MEMORY_SETTLE_SECONDS)
        kids = descendants(os.getpid())
        return {
            "client_rss_mib": rss_kib() / 1024,
            "children_rss_mib": sum(rss_kib(pid) for pid in kids) / 1024,
            "children": len(kids),
        }


def w_scale(lib: str, n: int | None) -> Metrics:
    """n queued tiny jobs: submit them all, then wait; the client's peak RSS."""
    jobs, workers = n or 1_000_000, ncpus()
    with warm_executor(lib, workers) as ex:
        t0 = time.perf_counter()
        getters = [ex.submit(inc, i) for i in range(jobs)]
        submitted = time.perf_counter() - t0
        ex.wait_all(getters)
        seconds = time.perf_counter() - t0
        if getters[-1]() != jobs:
            raise RuntimeError("wrong result")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "jobs": jobs, "seconds": seconds, "submit_seconds": submitted,
        "jobs_per_s": jobs / seconds,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # ru_maxrss is KiB on Linux
        "vm_hwm_mib": proc_status_kib("self", "VmHWM") / 1024,
    }


# --- remote: a ppserver on 127.0.0.1 ---

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ppserver_path() -> Path:
    """The library's own ppserver, installed next to this interpreter."""
    return Path(sys.prefix) / "bin" / "ppserver"


def listening(port: int) -> bool:
    """Whether something listens on TCP `port`, read from /proc/net (no probe
    connection: a legacy ppserver logs a traceback for one that hangs up)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def wait_for_port(proc: subprocess.Popen, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("ppserver exited with status %s" % proc.returncode)
        if listening(port):
            return
        time.sleep(0.05)
    raise RuntimeError("ppserver did not listen on port %d in %.0f s" % (port, timeout))


def start_ppserver(port: int, secret: str) -> subprocess.Popen:
    """The library's ppserver on 127.0.0.1 only; its output goes to our stderr."""
    cmd = [str(ppserver_path()), "-i", "127.0.0.1", "-p", str(port), "-s", secret,
           "-w", str(REMOTE_WORKERS)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sys.stderr)
    try:
        wait_for_port(proc, port, PPSERVER_START_TIMEOUT)
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Stop a ppserver and anything it left running."""
    leftovers = descendants(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in leftovers + descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def remote_unavailable(lib: str) -> Metrics | None:
    if lib not in PP_LIBS:
        return {"status": "unavailable", "reason": "no remote mode"}
    if not ppserver_path().exists():
        return {"status": "unavailable", "reason": "%s not found" % ppserver_path()}
    return None


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes, from /proc (0 for one gone)."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def remote(lib: str, measure: Callable[[Executor], Metrics]) -> Metrics:
    """Run `measure` on a client of a fresh ppserver (-w 2) on 127.0.0.1.
    Adds the CPU time it took: the client's, and the node's (the ppserver
    and its workers), which is steadier than the wall time on a busy
    machine."""
    unavailable = remote_unavailable(lib)
    if unavailable:
        return unavailable
    port, secret = free_port(), secrets.token_hex(16)
    server = start_ppserver(port, secret)
    try:
        with PPExecutor(0, ppservers=("127.0.0.1:%d" % port,), secret=secret) as ex:
            warm_up(ex, REMOTE_WORKERS)
            node = [server.pid] + descendants(server.pid)
            client0, node0 = cpu_seconds([os.getpid()]), cpu_seconds(node)
            metrics = measure(ex)
            metrics["client_cpu_s"] = cpu_seconds([os.getpid()]) - client0
            metrics["node_cpu_s"] = cpu_seconds(node) - node0
            return metrics
    finally:
        stop(server)


def w_remote_tiny(lib: str, n: int | None) -> Metrics:
    metrics = remote(lib, lambda ex: throughput(ex, n or 20_000))
    if "jobs" in metrics:
        cpu = metrics["client_cpu_s"] + metrics["node_cpu_s"]
        metrics["cpu_us_per_job"] = cpu / metrics["jobs"] * 1e6
    return metrics


def w_remote_latency(lib: str, n: int | None) -> Metrics:
    return remote(lib, lambda ex: round_trips(ex, n or 2_000))


def w_remote_payload(lib: str, n: int | None) -> Metrics:
    """payload through the ppserver: what the wire itself costs per byte."""
    def measure(ex: Executor) -> Metrics:
        small = transfer(ex, MIB, n or 64)
        large = transfer(ex, 32 * MIB, max(2, (n or 64) // 8))
        return {"mib1_mb_per_s": small["mb_per_s"], "mib32_mb_per_s": large["mb_per_s"],
                "mib1": small, "mib32": large}
    return remote(lib, measure)


# --- the futures interface: pp.Executor against ProcessPoolExecutor and Pool ---

def futures_executor(lib: str, workers: int) -> Any:
    """ppgo's Executor or ProcessPoolExecutor, warmed up (one job a worker)."""
    if lib == "ppgo":
        import pp
        ex = pp.Executor(workers)
    else:
        ex = concurrent.futures.ProcessPoolExecutor(workers)
    for f in [ex.submit(burn, 20_000) for _ in range(workers)]:
        f.result()
    return ex


def w_executor_tiny(lib: str, n: int | None) -> Metrics:
    """n tiny jobs through Executor.submit, then every future's result."""
    jobs = n or 20_000
    with futures_executor(lib, ncpus()) as ex:
        t0 = time.perf_counter()
        futures = [ex.submit(inc, i) for i in range(jobs)]
        results = [f.result() for f in futures]
        seconds = time.perf_counter() - t0
    if results[-1] != jobs:
        raise RuntimeError("wrong result: %r" % (results[-1],))
    return {"jobs": jobs, "seconds": seconds, "jobs_per_s": jobs / seconds}


def w_map_chunked(lib: str, n: int | None) -> Metrics:
    """map of n tiny items in chunks of 1000: Executor.map or Pool.map."""
    items, chunksize = n or 1_000_000, 1000
    if lib == "pool":
        pool = multiprocessing.Pool(ncpus())
        try:
            pool.map(burn, [20_000] * ncpus())
            t0 = time.perf_counter()
            total = sum(pool.map(inc, range(items), chunksize))
            seconds = time.perf_counter() - t0
        finally:
            pool.terminate()
            pool.join()
    else:
        with futures_executor(lib, ncpus()) as ex:
            t0 = time.perf_counter()
            total = sum(ex.map(inc, range(items), chunksize=chunksize))
            seconds = time.perf_counter() - t0
    if total != items * (items + 1) // 2:
        raise RuntimeError("wrong total: %r" % (total,))
    return {"items": items, "seconds": seconds, "items_per_s": items / seconds}


def w_async_latency(lib: str, n: int | None) -> Metrics:
    """n sequential round trips of `await server.submit(...)` in asyncio:
    against the latency row, what the event loop's hand-off costs."""
    import asyncio

    with warm_executor(lib, ncpus()) as ex:
        server = ex.server  # type: ignore[attr-defined]

        async def trips() -> list[int]:
            samples = []
            for i in range(n or 2_000):
                t0 = time.perf_counter_ns()
                if await server.submit(inc, (i,)) != i + 1:
                    raise RuntimeError("wrong result")
                samples.append(time.perf_counter_ns() - t0)
            return samples

        micros = [s / 1000 for s in asyncio.run(trips())]
    return {"round_trips": len(micros), "median_us": statistics.median(micros),
            "p99_us": statistics.quantiles(micros, n=100)[98]}


# --- the scaling simulation: the Go scheduler on simulated clusters ---

REPO = Path(__file__).resolve().parent.parent
SIM_WORKERS = 64  # the row's figures are for nodes of this many workers
SIM_BUILD_TIMEOUT = 300.0


def w_sched_sim(lib: str, n: int | None) -> Metrics:
    """tools/schedsim: the scheduler's CPU time per job on 1 to 1 000 fake
    nodes of 2 to 64 workers that finish jobs at once, and the client's
    remote links to as many fake ppservers (docs/PERFORMANCE.md)."""
    if lib != "ppgo":
        return {"status": "unavailable", "reason": "a simulation of ppgo's own scheduler"}
    go = shutil.which("go")
    if go is None:
        return {"status": "unavailable", "reason": "no `go` on PATH to build tools/schedsim"}
    with tempfile.TemporaryDirectory(prefix="schedsim-") as tmp:
        binary, out = Path(tmp) / "schedsim", Path(tmp) / "sim.json"
        subprocess.run([go, "build", "-o", str(binary), "./tools/schedsim"], cwd=REPO,
                       check=True, timeout=SIM_BUILD_TIMEOUT, stdout=sys.stderr)
        subprocess.run([str(binary), "-jobs", str(n or 200_000), "-json", str(out)],
                       check=True, stdout=sys.stderr)
        result = json.loads(out.read_text())

    def run(mode: str, nodes: int) -> dict[str, Any]:
        for r in result["runs"]:
            if r["mode"] == mode and r["nodes"] == nodes and r["workers"] == SIM_WORKERS:
                return r
        raise RuntimeError("schedsim ran no %s on %d × %d" % (mode, nodes, SIM_WORKERS))

    one, most = run("step, saturated", 1), run("step, saturated", 1000)
    remote = "remote links, saturated"
    remote_one, remote_most = run(remote, 1), run(remote, 1000)
    return {
        "cpu_ns_1": one["cpu_ns_per_job"],
        "cpu_ns_1000": most["cpu_ns_per_job"],
        "jobs_per_s_1000": most["jobs_per_s"],
        "goroutines_jobs_per_s_1000": run("goroutines, saturated", 1000)["jobs_per_s"],
        "remote_jobs_per_s_1000": remote_most["jobs_per_s"],
        "remote_growth": remote_most["cpu_ns_per_job"] / remote_one["cpu_ns_per_job"],
        "worst_growth": result["worst_growth"],
        "gomaxprocs": result["gomaxprocs"],
        "growth": result["growth"],
        "runs": result["runs"],
    }


WORKLOADS: dict[str, Callable[[str, int | None], Metrics]] = {
    "tiny": w_tiny,
    "latency": w_latency,
    "cpu": w_cpu,
    "payload": w_payload,
    "startup": w_startup,
    "startup_process": w_startup_process,
    "remote_tiny": w_remote_tiny,
    "remote_latency": w_remote_latency,
    "remote_payload": w_remote_payload,
    "executor_tiny": w_executor_tiny,
    "map_chunked": w_map_chunked,
    "async_latency": w_async_latency,
    "scale": w_scale,
    "memory": w_memory,
    "sched_sim": w_sched_sim,
}


def library_info(lib: str) -> dict[str, Any]:
    """What was measured: versions, and a check that `pp` is the right one."""
    info: dict[str, Any] = {
        "lib": lib, "python": sys.version.split()[0], "executable": sys.executable,
        "workers": ncpus(),
    }
    if lib in PP_LIBS:
        import pp
        dist = PP_DISTRIBUTIONS[lib]
        info["version"] = importlib.metadata.version(dist)
        info["module"] = pp.__file__
        info["ppserver"] = str(ppserver_path()) if ppserver_path().exists() else None
        if lib == "pp170" and info["version"] != "1.7.0":
            raise RuntimeError("pp170 environment has pp %s" % info["version"])
    else:
        info["version"] = sys.version.split()[0]
        if lib in POOL_LIBS:
            info["start_method"] = multiprocessing.get_start_method()
    return info


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:] == ["--pingpong-child"]:
        return pingpong_child()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", required=True, choices=LIBS)
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--n", type=int, default=None, help="override the job count")
    parser.add_argument("--out", required=True, help="file to write the JSON result to")
    args = parser.parse_args(argv)

    info = library_info(args.lib)
    metrics = WORKLOADS[args.workload](args.lib, args.n)
    if metrics.get("status") == "unavailable":
        result = {"status": "unavailable", "reason": metrics["reason"], "info": info}
    else:
        result = {"status": "ok", "metrics": metrics, "info": info}
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
