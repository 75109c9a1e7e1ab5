"""The forms of modules= that legacy scripts use: dotted names, "from x
import y" and "import x as y" statements."""

import pp

# The names these jobs use come from modules= in the worker, not from here
# (hence the noqa: F821).


def paths(parts):
    return os.path.join(*parts)  # noqa: F821


def roots(values):
    return [round(sqrt(v), 3) for v in values]  # noqa: F821


def encoded(value):
    return j.dumps(value, sort_keys=True)  # noqa: F821


def combined(x):
    return [math.floor(x * 2.5), os.path.basename("/a/b/c.txt")]  # noqa: F821


server = pp.Server(2)
print(server.submit(paths, (("a", "b", "c"),), modules=("os.path",))())
print(server.submit(roots, ([2, 9, 10],), modules=("from math import sqrt",))())
print(server.submit(encoded, ({"b": 1, "a": [1, 2]},), modules=("import json as j",))())
print(server.submit(combined, (3,), modules=("math", "os.path"))())
server.destroy()
