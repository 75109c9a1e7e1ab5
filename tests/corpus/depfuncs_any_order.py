"""Classes and functions listed in depfuncs in whatever order the author
wrote them: a subclass before its base, a decorated function before its
decorator."""

import pp


def tagged(fn):
    fn.tag = "tagged"
    return fn


@tagged
def describe(shape):
    return "%s of area %d (%s)" % (type(shape).__name__, shape.area(), describe.tag)


class Shape:
    sides = 0

    def area(self):
        return 0


class Rect(Shape):
    sides = 4

    def __init__(self, w, h):
        self.w, self.h = w, h

    def area(self):
        return self.w * self.h


class Square(Rect):
    def __init__(self, side):
        Rect.__init__(self, side, side)


def build(w, h):
    return [describe(Rect(w, h)), describe(Square(w)), Square.sides]


server = pp.Server(2)
jobs = [server.submit(build, (w, w + 1), (describe, Square, Rect, Shape, tagged))
        for w in range(1, 5)]
for job in jobs:
    print(job())
server.destroy()
