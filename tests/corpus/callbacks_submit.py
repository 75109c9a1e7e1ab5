"""Callbacks with callbackargs that submit follow-up jobs (a pipeline built
on callbacks), waited for by group."""

import threading

import pp


def stage_one(x):
    return x + 1


def stage_two(x):
    return x * 10


results = {}
lock = threading.Lock()


def after_two(tag, value):
    with lock:
        results[tag] = value


def after_one(tag, value):
    server.submit(stage_two, (value,), callback=after_two, callbackargs=(tag,),
                  group="two")


server = pp.Server(2)
for i in range(8):
    server.submit(stage_one, (i,), callback=after_one, callbackargs=("job%d" % i,),
                  group="one")
server.wait("one")
server.wait("two")
server.wait()
print(sorted(results.items()))
server.destroy()
