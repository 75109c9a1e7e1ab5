#!/usr/bin/env python3
"""The classic Parallel Python example, unchanged from legacy pp scripts:
sums the primes below several limits on all local CPUs, with a callback
collecting a running total, then prints pp's statistics table."""

import math
import sys
import threading

import pp


def isprime(n):
    """Returns True if n is prime."""
    if not isinstance(n, int):
        raise TypeError("argument passed to is_prime is not of 'int' type")
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


class Sum:
    """Collects results from callbacks, which run on a server thread."""

    def __init__(self):
        self.value = 0
        self.lock = threading.Lock()

    def add(self, value):
        with self.lock:
            self.value += value


print("Usage: python sum_primes.py [ncpus]")
print("    [ncpus] - the number of workers to run in parallel,")
print("    if omitted it will be set to the number of processors in the system")
print()

ppservers = ()
if len(sys.argv) > 1:
    job_server = pp.Server(int(sys.argv[1]), ppservers=ppservers)
else:
    job_server = pp.Server(ppservers=ppservers)

print("Starting pp with", job_server.get_ncpus(), "workers")

# Submit a job of calculating sum_primes(100) for execution.
# sum_primes - the function
# (100,) - tuple with arguments for sum_primes
# (isprime,) - tuple with functions on which function sum_primes depends
# ("math",) - tuple with module names which must be imported before sum_primes execution
job1 = job_server.submit(sum_primes, (100,), (isprime,), ("math",))

# Retrieves the result calculated by job1; the value of job1() is the same as sum_primes(100).
result = job1()
print("Sum of primes below 100 is", result)

inputs = (100000, 100100, 100200, 100300, 100400, 100500, 100600, 100700)
jobs = [(n, job_server.submit(sum_primes, (n,), (isprime,), ("math",))) for n in inputs]
for n, job in jobs:
    print("Sum of primes below", n, "is", job())

total = Sum()
for n in inputs:
    job_server.submit(sum_primes, (n,), (isprime,), ("math",), callback=total.add)
job_server.wait()
print("Sum of all the sums above is", total.value)

job_server.print_stats()
