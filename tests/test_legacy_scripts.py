"""Legacy pp scripts, run unchanged as their own processes.

Each script is written to a temporary directory (outside the repository)
and run with this interpreter, so it imports the installed pp.
"""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import (clean_env, is_alive, kill_quietly, proc_stat, run_script,
                     wait_until, worker_pids, write_script)

# Pasted into scripts that report their own worker processes.
WORKER_PIDS_SNIPPET = '''
def my_worker_pids():
    import re
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                data = f.read()
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\\0", b" ").decode()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if int(fields[1]) == os.getpid() and fields[0] != b"Z" \\
                and re.search(r"pp\\.?_?worker", cmd):
            found.append(int(entry))
    return found
'''


def sum_primes_below(n):
    """Sum of the primes below n, by a sieve (the scripts use trial division)."""
    sieve = bytearray([1]) * n
    sieve[:2] = b"\0\0"
    for k in range(2, int(n ** 0.5) + 1):
        if sieve[k]:
            sieve[k * k::k] = bytes(len(range(k * k, n, k)))
    return sum(k for k in range(n) if sieve[k])


def stats_rows(stdout):
    return [line for line in stdout.splitlines() if line.rstrip().endswith("| local")]


# The demo that `make demo` runs: a legacy script, unchanged.
SUM_PRIMES = (Path(__file__).resolve().parent.parent / "examples" / "sum_primes.py").read_text()
SUM_PRIMES_INPUTS = (100000, 100100, 100200, 100300, 100400, 100500, 100600, 100700)


def test_sum_primes_script(tmp_path):
    proc = run_script(tmp_path, SUM_PRIMES, "2", name="sum_primes.py")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    sums = [sum_primes_below(n) for n in SUM_PRIMES_INPUTS]
    expected = ["Starting pp with 2 workers",
                "Sum of primes below 100 is %d" % sum_primes_below(100)]
    expected += ["Sum of primes below %d is %d" % (n, total)
                 for n, total in zip(SUM_PRIMES_INPUTS, sums)]
    expected += ["Sum of all the sums above is %d" % sum(sums)]
    assert [line for line in lines if line.startswith(("Starting", "Sum of"))] == expected
    assert "Job execution statistics:" in lines
    assert " job count | % of all jobs | job time sum | time per job | job server" in lines
    rows = stats_rows(proc.stdout)
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].split("|")]
    assert cells[0] == "17" and cells[1] == "100.00" and cells[4] == "local"
    assert float(cells[2]) >= 0 and float(cells[3]) >= 0
    assert any(line.startswith("Time elapsed since server creation") for line in lines)
    assert "0 active tasks, 2 cores" in lines
    # The stats table comes after all the results.
    assert lines.index("Job execution statistics:") > lines.index(expected[-1])


def test_sum_primes_script_autodetect(tmp_path):
    proc = run_script(tmp_path, SUM_PRIMES, name="sum_primes.py")
    assert proc.returncode == 0, proc.stderr
    assert "Sum of primes below 100700 is %d" % sum_primes_below(100700) in proc.stdout.splitlines()
    n = int(proc.stdout.split("Starting pp with ", 1)[1].split()[0])
    assert n >= 1


CALLBACKS = '''
import math
import threading

import pp


def part_sum(start, end):
    """Sum of i*i + int(sqrt(i)) for i in [start, end)."""
    total = 0
    for i in range(start, end):
        total += i * i + int(math.sqrt(i))
    return total


class Sum:
    def __init__(self):
        self.value = 0
        self.count = 0
        self.lock = threading.Lock()

    def add(self, tag, value):
        # Called by the server when a job is done, with callbackargs first.
        with self.lock:
            self.value += value
            self.count += 1
            assert tag == "part"


job_server = pp.Server(2)
total = Sum()
start, end, parts = 1, 200000, 16
step = (end - start) // parts + 1
for index in range(parts):
    lo = start + index * step
    hi = min(start + (index + 1) * step, end)
    job_server.submit(part_sum, (lo, hi), callback=total.add, callbackargs=("part",),
                      modules=("math",))

job_server.wait()
print("Callbacks called:", total.count)
print("Partial sum is", total.value)
job_server.print_stats()
'''


def test_callback_script(tmp_path):
    proc = run_script(tmp_path, CALLBACKS)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    expected = sum(i * i + int(i ** 0.5) for i in range(1, 200000))
    assert "Callbacks called: 16" in lines
    assert "Partial sum is %d" % expected in lines
    cells = [c.strip() for c in stats_rows(proc.stdout)[0].split("|")]
    assert cells[0] == "16"


TEMPLATE = '''
import pp


def factorial(n):
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result


def describe(n):
    return "%d! has %d digits" % (n, len(str(factorial(n))))


job_server = pp.Server(2)
template = pp.Template(job_server, describe, (factorial,), group="facts")
tasks = [template.submit(n) for n in (10, 50, 100, 500)]
job_server.wait("facts")
for task in tasks:
    print(task())
job_server.print_stats()
job_server.destroy()
print("done")
'''


def test_template_script(tmp_path):
    proc = run_script(tmp_path, TEMPLATE)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    import math
    expected = ["%d! has %d digits" % (n, len(str(math.factorial(n)))) for n in (10, 50, 100, 500)]
    assert lines[:4] == expected
    assert lines[-1] == "done"
    assert [c.strip() for c in stats_rows(proc.stdout)[0].split("|")][0] == "4"


PRINTING = '''
import sys
import pp


def chatty(i):
    print("job says hello", i)
    sys.stderr.write("job warns %d\\n" % i)
    return i * 10


job_server = pp.Server(2)
tasks = [job_server.submit(chatty, (i,), modules=("sys",)) for i in range(3)]
for i, task in enumerate(tasks):
    print("before", i)
    value = task()
    print("after", i, value)
'''


def test_job_output_interleaves_with_the_script(tmp_path):
    # stdout is a pipe here, so the script's own stdout is block-buffered:
    # the job's output must still come out in the order the script printed it.
    proc = run_script(tmp_path, PRINTING)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    hello = [line for line in lines if line.startswith(("before", "after", "job says"))]
    expected = []
    for i in range(3):
        expected += ["before %d" % i, "job says hello %d" % i, "after %d %d" % (i, i * 10)]
    assert hello == expected
    both = proc.stdout + proc.stderr
    for i in range(3):
        assert "job warns %d" % i in both


CLASSES = '''
import pp


class Base:
    def label(self):
        return "%s(%s, %s)" % (type(self).__name__, self.x, self.y)


class Point(Base):
    def __init__(self, x, y):
        self.x = x
        self.y = y


def move(p, dx):
    # Point is not in depfuncs: it ships because the argument is a Point.
    return Point(p.x + dx, p.y)


def twice(x):
    return 2 * x


def apply(f, x):
    return f(x)


job_server = pp.Server(2)
result = job_server.submit(move, (Point(1, 2), 10))()
print("type", type(result).__name__, isinstance(result, Point), isinstance(result, Base))
print("label", result.label())
print("apply", job_server.submit(apply, (twice, 21))())
print("method", job_server.submit(Point(3, 4).label)())
'''


def test_classes_and_functions_defined_in_main(tmp_path):
    proc = run_script(tmp_path, CLASSES)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "type Point True True" in lines
    assert "label Point(11, 2)" in lines
    assert "apply 42" in lines
    assert "method Point(3, 4)" in lines


CWD_MODULE = '''
import pp


def use_local_module(x):
    return mylocalmod.twice(x)


job_server = pp.Server(1)
print("result", job_server.submit(use_local_module, (21,), modules=("mylocalmod",))())
'''


def test_module_in_script_directory_is_importable(tmp_path):
    (tmp_path / "mylocalmod.py").write_text("def twice(x):\n    return 2 * x\n")
    proc = run_script(tmp_path, CWD_MODULE)
    assert proc.returncode == 0, proc.stderr
    assert "result 42" in proc.stdout.splitlines()


EXIT_WITHOUT_WAITING = '''
import os
import time
import pp
''' + WORKER_PIDS_SNIPPET + '''

def long_job(started):
    import os
    import time
    open(started, "w").close()
    time.sleep(60)
    return 1


job_server = pp.Server(2)
task = job_server.submit(long_job, (os.path.abspath("started"),))
queued = [job_server.submit(long_job, (os.path.abspath("started"),)) for _ in range(3)]
while not os.path.exists("started"):
    time.sleep(0.01)
print("workers", *my_worker_pids(), flush=True)
print("leaving", flush=True)
'''


def test_script_exiting_without_waiting_exits_promptly(tmp_path):
    # The 60 s job is abandoned, not waited for: the script must be gone well
    # before it could have finished (run_script fails on its timeout).
    proc = run_script(tmp_path, EXIT_WITHOUT_WAITING, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "leaving" in lines
    pids = [int(p) for p in [line for line in lines if line.startswith("workers")][0].split()[1:]]
    assert len(pids) == 2
    # No worker process outlives its script.
    assert wait_until(lambda: not any(is_alive(p) for p in pids), timeout=15), \
        [p for p in pids if is_alive(p)]
    for p in pids:
        kill_quietly(p)


EXIT_WITH_PENDING_CALLBACKS = """
import pp


def slow_square(x):
    import time
    time.sleep(0.2)
    return x * x


def report(x, value):
    print("callback", x, value, flush=True)


job_server = pp.Server(2)
for i in range(20):
    job_server.submit(slow_square, (i,), callback=report, callbackargs=(i,))
print("leaving", flush=True)
"""


def test_script_exiting_with_pending_callbacks_exits(tmp_path):
    proc = run_script(tmp_path, EXIT_WITH_PENDING_CALLBACKS, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "leaving"
    # Whatever callbacks ran before the teardown got their right values.
    for line in lines[1:]:
        _, x, value = line.split()
        assert int(value) == int(x) ** 2


def test_script_exiting_without_destroy_after_jobs(tmp_path):
    source = '''
import pp


def square(x):
    return x * x


job_server = pp.Server(2)
print(sum(t() for t in [job_server.submit(square, (i,)) for i in range(50)]))
'''
    proc = run_script(tmp_path, source, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(sum(i * i for i in range(50)))]


# pp refuses what has no source; so does ppgo where cloudpickle is not
# installed (with it, such a function ships by value: tests/test_executor.py
# and test_submit.py).
HIDE_CLOUDPICKLE = "import sys\nsys.modules['cloudpickle'] = None\n"


def test_python_c_function_is_refused_with_clear_error(tmp_path):
    # Before Python 3.13, code given with -c has no source that inspect can
    # find, so submit must refuse it clearly; from 3.13 on the source is
    # kept, and the job must simply run.
    code = (
        "import inspect\n"
        "import pp\n"
        "def made_at_the_prompt(x):\n"
        "    return x + 1\n"
        "try:\n"
        "    inspect.getsource(made_at_the_prompt)\n"
        "    print('source found')\n"
        "except OSError:\n"
        "    print('no source')\n"
        "job_server = pp.Server(1)\n"
        "print('result', job_server.submit(made_at_the_prompt, (1,))())\n"
    )
    proc = subprocess.run([sys.executable, "-c", HIDE_CLOUDPICKLE + code], cwd=str(tmp_path),
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    if "no source" in proc.stdout.split("\n"):
        assert proc.returncode != 0
        assert "ValueError" in proc.stderr
        assert "made_at_the_prompt" in proc.stderr
        assert "result" not in proc.stdout
    else:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines() == ["source found", "result 2"]


def test_exec_made_function_in_script_is_refused(tmp_path):
    source = HIDE_CLOUDPICKLE + '''
import pp

namespace = {}
exec("def made_by_exec_in_script(x):\\n    return x\\n", namespace)
job_server = pp.Server(1)
try:
    job_server.submit(namespace["made_by_exec_in_script"], (1,))
except ValueError as exc:
    print("ValueError:", exc)
else:
    print("accepted")
'''
    proc = run_script(tmp_path, source, timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.splitlines()[0]
    assert line.startswith("ValueError:")
    assert "made_by_exec_in_script" in line


CTRL_C = '''
import os
import time
import pp


def long_job(started):
    import time
    open(started, "w").close()
    time.sleep(30)
    return 1


job_server = pp.Server(1)
task = job_server.submit(long_job, (os.path.abspath("started"),))
while not os.path.exists("started"):
    time.sleep(0.01)
print("blocking", flush=True)
task()
print("not reached", flush=True)
'''


def read_line(proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        if ready:
            return proc.stdout.readline()
    return ""


def thread_report(pid):
    """State, kernel wait channel and signal masks of each thread (for failures)."""
    report = []
    for tid in sorted(os.listdir("/proc/%d/task" % pid)):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "wchan") as f:
                wchan = f.read()
            with open(base + "status") as f:
                masks = ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
                sig = [line.split()[1] for line in f if line.startswith(masks)]
        except OSError:
            continue
        report.append((tid, proc_stat(int(tid)), wchan, sig))
    return report


def main_thread_sleeping(pid):
    st = proc_stat(pid)
    return st is not None and st[0] == "S"


def test_ctrl_c_interrupts_a_blocked_task(tmp_path):
    path = write_script(tmp_path, "ctrl_c.py", CTRL_C)
    # Run the script as from a terminal: with SIGINT at its default even if
    # this test process ignores it (as a backgrounded CI job does; an ignored
    # SIGINT is inherited, and Python then installs no KeyboardInterrupt).
    trampoline = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.executable, [sys.executable, sys.argv[1]])")
    proc = subprocess.Popen([sys.executable, "-c", trampoline, str(path)], cwd=str(tmp_path),
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = read_line(proc, 60)
        assert line.strip() == "blocking", line
        workers = worker_pids(proc.pid)
        assert workers
        # The main thread is asleep in task() (a few consecutive reads).
        assert wait_until(lambda: all(main_thread_sleeping(proc.pid) for _ in range(3)),
                          timeout=10), proc_stat(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("the script did not exit within 10 s of SIGINT; its threads: %s"
                        % thread_report(proc.pid))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, (out, err)
    assert "KeyboardInterrupt" in err, err
    assert "not reached" not in out
    assert wait_until(lambda: not any(is_alive(p) for p in workers), timeout=15), \
        [p for p in workers if is_alive(p)]


FORK = '''
import os
import time
import pp


def square(x):
    return x * x


job_server = pp.Server(1)
print("parent", job_server.submit(square, (3,))(), flush=True)
pid = os.fork()
if pid == 0:
    code = 3
    try:
        job_server.submit(square, (4,))
        print("child: no error", flush=True)
        code = 1
    except RuntimeError as exc:
        print("child: RuntimeError:", exc, flush=True)
        code = 0 if "fork" in str(exc) else 2
    except BaseException as exc:
        print("child: other error:", type(exc).__name__, exc, flush=True)
    os._exit(code)
deadline = time.monotonic() + 20
status = None
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.01)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("child hung", flush=True)
if status is not None:
    print("child exit", os.waitstatus_to_exitcode(status), flush=True)
print("parent again", job_server.submit(square, (5,))(), flush=True)
'''


# ppgo_only: pp 1.7.0 lets the forked child submit (it raises no error); ppgo's
# design (docs/ARCHITECTURE.md, "Go inside CPython") makes the server unusable
# in a forked child and says so, instead of touching the parent's Go runtime.
@pytest.mark.ppgo_only
def test_fork_child_gets_a_clear_error(tmp_path):
    proc = run_script(tmp_path, FORK, timeout=60)
    lines = proc.stdout.splitlines()
    assert "parent 9" in lines, proc.stdout + proc.stderr
    assert "child hung" not in lines
    child = [line for line in lines if line.startswith("child: ")]
    assert child and child[0].startswith("child: RuntimeError:"), proc.stdout
    assert "fork" in child[0]
    assert "child exit 0" in lines
    assert "parent again 25" in lines
    assert proc.returncode == 0, proc.stderr


PYTHON_C_BY_VALUE = """
import pp
def made_at_the_prompt(x):
    return x + 10
job_server = pp.Server(1)
print(job_server.submit(made_at_the_prompt, (1,))(), job_server.submit(lambda x: x * 2, (4,))())
with pp.Executor(1) as ex:
    print(ex.submit(made_at_the_prompt, 2).result(), list(ex.map(lambda x: -x, [1, 2])))
"""


# pp 1.7.0 refuses functions typed under python -c; ppgo ships them by value
# with cloudpickle.
@pytest.mark.ppgo_only
def test_python_c_functions_ship_by_value_with_cloudpickle(tmp_path):
    pytest.importorskip("cloudpickle")
    proc = subprocess.run([sys.executable, "-c", PYTHON_C_BY_VALUE], cwd=str(tmp_path),
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["11 8", "12 [-1, -2]"]
