"""Results read after destroy(): jobs that finished stay readable, the
others raise DestroyedServerError; the server still answers questions."""

import time

import pp


def square(x):
    return x * x


def nap(seconds):
    import time
    time.sleep(seconds)
    return seconds


answers = []
server = pp.Server(1)
done = server.submit(square, (7,))
with_callback = server.submit(square, (8,), callback=answers.append)
server.wait()
print("jobs done:", server.get_stats()["local"].njobs)
running = server.submit(nap, (30,))
queued = server.submit(square, (9,))
time.sleep(0.5)
server.destroy()

print("finished:", done.finished, with_callback.finished, running.finished, queued.finished)
print("results:", done(), with_callback(), answers)
print("read again:", done(), type(done(raw_result=True)).__name__)
for name, task in (("running", running), ("queued", queued)):
    task.wait()
    try:
        task()
    except pp.DestroyedServerError as exc:
        print(name, "raises", type(exc).__name__ + ":", exc)
server.wait()
print("ncpus:", server.get_ncpus(), "nodes:", server.get_active_nodes(),
      "stats:", sorted(server.get_stats()))
try:
    server.submit(square, (1,))
except pp.DestroyedServerError as exc:
    print("submit raises", type(exc).__name__ + ":", exc)
server.destroy()
print("destroyed twice")
