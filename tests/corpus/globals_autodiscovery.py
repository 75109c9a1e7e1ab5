"""globals=globals(): the modules and functions a job uses are found in the
caller's namespace instead of being listed."""

import math

import pp


def hypotenuse(a, b):
    return math.sqrt(square(a) + square(b))


def square(x):
    return x * x


server = pp.Server(2)
print([server.submit(hypotenuse, (a, a + 1), globals=globals())() for a in (3, 5, 20)])
server.destroy()
