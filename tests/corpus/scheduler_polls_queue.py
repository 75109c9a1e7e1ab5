"""A scheduler wrapper that throttles its submissions on the length of pp's
queue, as MDP's PPScheduler does (mdp/parallel/pp_support.py), with the
results coming back through callbacks."""

import threading
import time

import pp


def crunch(data, index):
    import time
    time.sleep(0.02)
    return data * data, index


class Scheduler:
    def __init__(self, server, max_queue_length):
        self.server = server
        self.max_queue_length = max_queue_length
        self.results = {}
        self.lock = threading.Lock()
        self.longest = 0

    def add_task(self, data, index):
        while True:
            queued = len(self.server._Server__queue)
            self.longest = max(self.longest, queued)
            if queued > self.max_queue_length:
                time.sleep(0.005)
            else:
                self.server.submit(crunch, (data, index), callback=self.store)
                return

    def store(self, result):
        value, index = result
        with self.lock:
            self.results[index] = value


server = pp.Server(2)
scheduler = Scheduler(server, 2)
for i in range(30):
    scheduler.add_task(i, i)
server.wait()
print(sorted(scheduler.results.items()))
print("the queue filled up:", scheduler.longest >= 1)
print("the queue stayed within the limit:", scheduler.longest <= scheduler.max_queue_length + 1)
print("the queue is empty at the end:", len(server._Server__queue) == 0)
server.destroy()
