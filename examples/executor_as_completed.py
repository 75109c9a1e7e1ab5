#!/usr/bin/env python3
"""pp.Executor across local workers and a ppserver, with as_completed.

Starts a ppserver on 127.0.0.1 (the one installed beside this Python), then
estimates pi by Monte Carlo in 40 jobs spread over two local workers and
the node, printing each estimate as it arrives. Run it as it is:

    python examples/executor_as_completed.py
"""

import concurrent.futures
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time

import pp


def estimate(seed, samples):
    """One Monte Carlo estimate of pi and where it ran."""
    import random
    import socket

    rng = random.Random(seed)
    inside = sum(rng.random() ** 2 + rng.random() ** 2 <= 1.0 for _ in range(samples))
    return seed, 4.0 * inside / samples, socket.gethostname()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(secret):
    ppserver = shutil.which("ppserver", path=os.path.dirname(sys.executable)) \
        or shutil.which("ppserver")
    port = free_port()
    env = dict(os.environ, PP_SECRET=secret)  # not on the command line: ps shows that
    node = subprocess.Popen([ppserver, "-i", "127.0.0.1", "-p", str(port), "-w", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return node, "127.0.0.1:%d" % port
        except OSError:
            time.sleep(0.05)
    raise SystemExit("ppserver did not start")


def main():
    secret = secrets.token_hex(16)
    node, address = start_node(secret)
    try:
        with pp.Executor(2, ppservers=(address,), secret=secret) as executor:
            futures = [executor.submit(estimate, seed, 200_000) for seed in range(40)]
            estimates = []
            for future in concurrent.futures.as_completed(futures):
                seed, value, _host = future.result()
                estimates.append(value)
                print("job %2d: pi ~ %.5f" % (seed, value))
            print("mean of %d estimates: %.5f" % (len(estimates), sum(estimates) / len(estimates)))
            print("jobs per node:", {name: stats.njobs
                                     for name, stats in executor.server.get_stats().items()})
    finally:
        node.terminate()
        node.wait()


if __name__ == "__main__":
    main()
