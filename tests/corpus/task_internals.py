"""What pathos's ApplyResult reads of a task (pathos/helpers/pp_helper.py):
its lock (waited on through a Condition), its raw result, tid, group,
callback and callbackargs, and its server."""

import pickle
import threading

import pp


def cube(x):
    return x ** 3


def note(*args):
    pass


server = pp.Server(2)
tasks = [server.submit(cube, (i,), callback=note, callbackargs=("tag", i), group="g%d" % (i % 2))
         for i in range(4)]
plain = server.submit(cube, (5,))
for task in tasks + [plain]:
    cond = threading.Condition(task.lock)
    cond.acquire()
    try:
        if not task.finished:
            cond.wait()
    finally:
        cond.release()
    result, output = pickle.loads(task.sresult)
    print(task.tid, task.group, result, repr(output), task.callback is note,
          task.callbackargs, task.server is server, task.finished)
server.destroy()
