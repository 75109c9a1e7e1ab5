"""Server.insert(): a job serialized by hand the way pp's own ppserver
receives it, pickle((name, sources, modules)) and the pickled arguments."""

import pickle

import pp

SOURCE = "def scaled(values, factor):\n    return [round(sqrt(v) * factor, 2) for v in values]\n"

server = pp.Server(1)
sfunc = pickle.dumps(("scaled", [SOURCE], ("from math import sqrt",)))
task = server.insert(sfunc, pickle.dumps(([1, 4, 9, 16], 1.5)))
print(task())
print(server.insert(sfunc, pickle.dumps(([25], 2)))())
server.destroy()
