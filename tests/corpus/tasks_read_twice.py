"""Tasks called more than once, waited on, and read raw: the result is
unpickled once and the job's output printed once."""

import pickle

import pp


def shout(word):
    print("the job says", word)
    return {"word": word, "length": len(word)}


server = pp.Server(2)
task = server.submit(shout, ("hello",))
task.wait()
task.wait()
first = task()
second = task()
print("same object:", first is second, first)
raw = task(raw_result=True)
print("raw:", type(raw).__name__, pickle.loads(raw)[0] == first)
print("finished:", task.finished)
tasks = [server.submit(shout, (w,)) for w in ("a", "bb", "ccc")]
print([t()["length"] for t in tasks], [t()["length"] for t in tasks])
server.destroy()
