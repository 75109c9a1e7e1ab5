"""Functions and classes that the tests submit as jobs.

Jobs are shipped to the workers as source text and run in a fresh namespace,
so each one imports what it needs in its own body unless a test is about the
``modules`` argument, and calls other functions only through ``depfuncs``.
"""

import math
import os.path

# Module-level data: NOT shipped with jobs (globals of the caller are not).
JOBS_CONSTANT = 1234


def square(x):
    return x * x


def add(a, b):
    return a + b


def identity(x):
    return x


def getpid():
    import os
    return os.getpid()


def getpid_after(seconds):
    import os
    import time
    time.sleep(seconds)
    return os.getpid()


def sleep_and_return(seconds, value):
    import time
    time.sleep(seconds)
    return value


def wait_for_path(path, value, timeout=60.0):
    """Blocks until path exists (a gate the test opens), then returns value."""
    import os
    import time
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return "gate timed out"
        time.sleep(0.01)
    return value


def touch_then_wait(started, gate, value, timeout=60.0):
    """Creates started (with its pid in it), then waits for gate; returns value."""
    import os
    import time
    tmp = "%s.%d.tmp" % (started, os.getpid())
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, started)
    deadline = time.monotonic() + timeout
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            return "gate timed out"
        time.sleep(0.01)
    return value


def touch_then_sleep(started, seconds, value):
    """Creates started (with its pid in it), sleeps, returns value."""
    import os
    import time
    tmp = "%s.%d.tmp" % (started, os.getpid())
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, started)
    time.sleep(seconds)
    return value


def append_line(path, text):
    with open(path, "a") as f:
        f.write("%s\n" % text)
    return text


def divide(a, b):
    return a / b


def raise_value_error(message):
    raise ValueError(message)


def print_and_return(marker, value):
    print(marker)
    return value


def print_to_stderr_and_return(marker, value):
    import sys
    print(marker, file=sys.stderr)
    return value


def use_module_global():
    return JOBS_CONSTANT


# -- modules ------------------------------------------------------------

def use_math(x):
    return math.sqrt(x) + math.floor(2.5)


def use_os_path(a, b):
    return os.path.join(a, b)


def use_sqrt(x):
    return sqrt(x)  # noqa: F821  ("from math import sqrt" in modules)


def use_m(x):
    return m.pi * x  # noqa: F821  ("import math as m" in modules)


def use_json_without_import():
    return json.dumps([1])  # noqa: F821  (json is not in modules)


def use_missing_module():
    return no_such_module_ppgo_test.value  # noqa: F821


# -- depfuncs -----------------------------------------------------------

def helper_cube(x):
    return x * x * x


def helper_plus_one(x):
    return x + 1


def sum_of_cubes_plus_one(n):
    return helper_plus_one(sum(helper_cube(i) for i in range(n)))


class Vector:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def norm2(self):
        return self.x * self.x + self.y * self.y

    def scaled(self, k):
        return Vector(self.x * k, self.y * k).norm2()


def make_vector_norm2(x, y):
    return Vector(x, y).norm2()


# -- classes of arguments and bound methods -------------------------------

class Shape:
    SIDES = 0

    def describe(self):
        return "%s with %d sides" % (type(self).__name__, self.SIDES)


class Square(Shape):
    SIDES = 4

    def __init__(self, side):
        self.side = side

    def area(self):
        return self.side * self.side

    def scaled_area(self, factor):
        # Uses both classes by name: they must have been shipped.
        return (Square(self.side * factor).area(), Shape.SIDES, Square.SIDES)


def area_via_shipped_class(shape):
    # Square and Shape are not in depfuncs: they ship because an argument is
    # an instance of Square.
    return (Square(shape.side + 1).area(), Shape.SIDES, shape.describe())


def square_sides_and_area(side):
    # Square and Shape come from depfuncs only (no argument is one of them).
    return (Square.SIDES, Shape.SIDES, Square(side).area())


def tag(func):
    func.tag = "tagged"
    return func


@tag
def tagged_double(x):
    # Its decorator, tag, must be defined first: depfuncs list it after.
    return (2 * x, tagged_double.tag)


def call_tagged_double(x):
    return tagged_double(x)


def apply_function(func, x):
    return func(x)


def call_shipped_by_name(func, x):
    # The function passed as an argument must have been defined in the job's
    # namespace from its source, not just unpickled by reference.
    return globals()[func.__name__](x) + 1


def double(x):
    return 2 * x


# A lambda assigned to a name ships under that name.
triple = lambda x: 3 * x  # noqa: E731


# -- faults -------------------------------------------------------------

def kill_own_worker():
    import os
    import signal
    os.kill(os.getpid(), signal.SIGKILL)


def exit_worker(code):
    import os
    os._exit(code)


def kill_own_worker_once(marker, value):
    """Kills its worker the first time (no marker yet), succeeds on a retry."""
    import os
    import signal
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return value


# -- hostile jobs: they attack the worker protocol (test_hostile_jobs.py) ---

def spawn_child_then_end_worker(how, record, gate, code, marker=None):
    """Leaves a child that outlives the job, then ends its own worker with
    exit code `code`: the child lingers until `gate` exists (2 min at most)
    and its pid is appended to `record`. `how` it is made:

    - "os.fork": a plain fork;
    - "c fork": fork() called from C, as an extension would (no Python
      at-fork handlers run in the child);
    - "subprocess": a helper process handed every pipe the worker holds.

    With a `marker`, only the first attempt does this; a retry returns
    "retried".
    """
    import os
    import sys
    import time
    if marker is not None and os.path.exists(marker):
        return "retried"
    if how == "subprocess":
        import subprocess
        pipes = []
        for name in os.listdir("/proc/self/fd"):
            try:
                if int(name) > 2 and os.readlink("/proc/self/fd/" + name).startswith("pipe:"):
                    pipes.append(int(name))
            except OSError:
                pass  # the descriptor listdir itself used
        linger = ("import os, sys, time\n"
                  "end = time.monotonic() + 120\n"
                  "while not os.path.exists(sys.argv[1]) and time.monotonic() < end:\n"
                  "    time.sleep(0.05)\n")
        pid = subprocess.Popen([sys.executable, "-c", linger, gate], pass_fds=pipes).pid
    else:
        if how == "c fork":
            import ctypes
            pid = ctypes.PyDLL(None).fork()
        else:
            pid = os.fork()
        if pid == 0:
            end = time.monotonic() + 120
            while not os.path.exists(gate) and time.monotonic() < end:
                time.sleep(0.05)
            os._exit(0)
    with open(record, "a") as f:
        f.write("%d\n" % pid)
    if marker is not None:
        open(marker, "w").close()
    os._exit(code)


def fork_child(record, gate):
    """Forks a child that lingers until `gate` exists (2 min at most) or,
    with no gate, returns from the job just as its parent does; appends the
    child's pid to `record` and returns (the worker's pid, the child's)."""
    import os
    import time
    pid = os.fork()
    if pid == 0:
        if gate is None:
            return "the child's result"
        end = time.monotonic() + 120
        while not os.path.exists(gate) and time.monotonic() < end:
            time.sleep(0.05)
        os._exit(0)
    with open(record, "a") as f:
        f.write("%d\n" % pid)
    return os.getpid(), pid


def use_fds_3_and_4(data, value):
    """Writes data to fd 4 and reads fd 3, where pp's protocol was: returns
    (value, what fd 3 gave)."""
    import os
    os.write(4, data)
    return value, os.read(3, 100)


def write_to_worker_pipes(data, value, marker=None):
    """Writes data to every pipe the worker holds (finding the protocol's,
    wherever it is), then returns value. With a `marker`, only the first
    attempt writes."""
    import os
    if marker is not None:
        if os.path.exists(marker):
            return value
        open(marker, "w").close()
    for name in os.listdir("/proc/self/fd"):
        try:
            if int(name) > 2 and os.readlink("/proc/self/fd/" + name).startswith("pipe:"):
                os.write(int(name), data)
        except OSError:
            pass  # a read end, or the descriptor listdir itself used
    return value


# -- scale --------------------------------------------------------------

def digest(data):
    import hashlib
    return len(data), hashlib.sha256(data).hexdigest(), bytes(data[1000:1010])


def make_bytes(n, fill):
    return bytes([fill]) * n


# -- results the client cannot unpickle -------------------------------------

def explode():
    raise ValueError("this result cannot be unpickled")


class Bomb:
    """Pickles fine in the worker; unpickling it in the client raises."""

    def __reduce__(self):
        return (explode, ())


def make_bomb():
    import jobs
    return jobs.Bomb()


def read_environment(name):
    import os
    return os.environ.get(name)
