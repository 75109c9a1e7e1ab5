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
