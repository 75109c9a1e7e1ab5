"""Measures where shared-memory segments start to beat the pipes: the
round trip of one bytes argument echoed back, by size, with buffers of
that size sent out of band (in a segment) and in band (through the pipes).
The numbers behind pp.worker.OUT_OF_BAND_MIN (docs/PERFORMANCE.md).

    .venv/bin/python bench/oob_threshold.py
"""

from __future__ import annotations

import re
import statistics
import time

import pp
from pp import _engine, worker

SIZES = [64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20]
REPS = 40
NEVER = 1 << 62


def echo(x):
    return x


def server_with_threshold(threshold: int) -> pp.Server:
    """A one-worker server whose client and worker both leave buffers of
    threshold bytes or more out of band."""
    worker.OUT_OF_BAND_MIN = threshold
    source = open(worker.__file__).read()
    _engine._worker_source = re.sub(r"^OUT_OF_BAND_MIN = .*$", "OUT_OF_BAND_MIN = %d" % threshold,
                                    source, flags=re.M)
    return pp.Server(1)


def median_round_trip(server: pp.Server, size: int) -> float:
    data = bytes(size)
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        server.submit(echo, (data,))()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    results = {}
    for name, threshold in (("pipe", NEVER), ("segment", 1)):
        server = server_with_threshold(threshold)
        try:
            server.submit(echo, (0,))()
            results[name] = [median_round_trip(server, size) for size in SIZES]
        finally:
            server.destroy()
    print("%10s %12s %12s %8s" % ("bytes", "pipe ms", "segment ms", "ratio"))
    for i, size in enumerate(SIZES):
        pipe, seg = results["pipe"][i], results["segment"][i]
        print("%10d %12.3f %12.3f %8.2f" % (size, pipe * 1e3, seg * 1e3, pipe / seg))


if __name__ == "__main__":
    main()
