"""The shutdown helper some pp users ship (ORB's close_pp_server): log the
statistics, destroy, then reach into pp's private state to be sure."""

import os

import pp


def work(x):
    return x * 3


def stats_string(server):
    stats = server.get_stats()["local"]
    return "ncpus: {}, njobs: {}, rworker: {}".format(stats.ncpus, stats.njobs, stats.rworker)


def close_pp_server(server):
    print(stats_string(server))
    server.destroy()
    server._Server__exiting = True
    server._Server__queue_lock.acquire()
    server._Server__queue = []
    server._Server__queue_lock.release()
    for worker in server._Server__workers:
        worker.t.exiting = True
        try:
            worker.t.close()
            os.kill(worker.pid, 0)
            os.waitpid(worker.pid, os.WNOHANG)
        except OSError:
            pass


server = pp.Server(2)
print(sum(server.submit(work, (i,))() for i in range(10)))
close_pp_server(server)
print("closed; queue:", list(server._Server__queue))
