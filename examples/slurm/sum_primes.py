#!/usr/bin/env python3
"""The classic Parallel Python example across a Slurm allocation: a legacy
pp script whose only change is its ppservers tuple, "slurm:PORT", the
ppservers ppgo.sbatch starts on every node of the job. Run it with
ppgo.sbatch (see there and docs/DEPLOY.md)."""

import math
import os

import pp


def isprime(n):
    """Returns True if n is prime."""
    if n < 2:
        return False
    if n == 2:
        return True
    max = int(math.ceil(math.sqrt(n)))
    i = 2
    while i <= max:
        if n % i == 0:
            return False
        i += 1
    return True


def sum_primes(n):
    """Calculates the sum of all primes below n."""
    return sum([x for x in range(2, n) if isprime(x)])


ppservers = ("slurm:" + os.environ.get("PP_PORT", "60000"),)
# No local workers: this node's ppserver runs its share, like every node's.
job_server = pp.Server(0, ppservers=ppservers)
print("Nodes of the allocation:", ", ".join("%s:%d" % node for node in job_server.ppservers))

inputs = tuple(range(100000, 102000, 100))
jobs = [(n, job_server.submit(sum_primes, (n,), (isprime,), ("math",))) for n in inputs]
for n, job in jobs:
    print("Sum of primes below", n, "is", job())

job_server.print_stats()
