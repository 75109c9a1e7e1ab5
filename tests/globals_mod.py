"""A small module whose globals() a job is submitted with (test_submit)."""

import math
import os.path

import jobs

SCALE = 10  # data is not shipped: only modules, functions and classes


class Counter:
    def __init__(self, start):
        self.n = start

    def bump(self):
        self.n += 1
        return self.n


def _helper(x):
    return math.sqrt(x)


def compute(x):
    # Uses a module (math), a dotted module (os.path), a function and a class
    # of this module: all must come from globals=globals().
    return (_helper(x), os.path.basename("/a/b/c.txt"), Counter(x).bump())


def submit_compute(server, x):
    return server.submit(compute, (x,), globals=globals())


def submit_compute_without_globals(server, x):
    return server.submit(compute, (x,))


def uses_imported_module_function(x):
    return jobs.square(x)


def submit_uses_imported_module_function(server, x):
    return server.submit(uses_imported_module_function, (x,), globals=globals())
