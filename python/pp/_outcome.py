"""Reading a job's result payload, as a worker wrote it (pp/worker.py).

A job that returned sends ``pickle((result, output))``, legacy pp's raw
result; one that raised sends ``pickle((None, output, error))``, where
error describes the exception so the futures interface can raise it in the
caller, its remote traceback attached as ``__cause__``.
"""

from __future__ import annotations

import os
import pickle
from typing import Any, NamedTuple

from pp import worker
from pp._engine import STATUS_FAILED
from pp._errors import JobError, RemoteTraceback


class Outcome(NamedTuple):
    value: Any
    output: str  # everything the job printed, and pp's report if it raised
    error: tuple | None  # (pickled exception, type name, message, traceback, printed length)

    @property
    def printed(self) -> str:
        """What the job itself printed (without pp's report of its error)."""
        return self.output if self.error is None else self.output[:self.error[4]]


def take(status: int, payload: bytes,
         segment: tuple[int, int] | None) -> tuple[int, bytes, list[memoryview] | None]:
    """A result as the core hands it over, its segment (descriptor, size)
    mapped and the descriptor closed: (status, payload, buffers). A segment
    that cannot be mapped, or whose table does not fit it, fails the job
    with what was wrong."""
    if segment is None:
        return status, payload, None
    fd, size = segment
    try:
        return status, payload, worker.map_segment(fd, size)
    except (OSError, ValueError) as exc:
        return STATUS_FAILED, ("its result's shared-memory segment is unreadable: %s"
                               % exc).encode(), None
    finally:
        os.close(fd)


def decode(payload: bytes, buffers: list[memoryview] | None = None) -> Outcome:
    loaded = worker.load(payload, buffers)
    if len(loaded) == 3:
        return Outcome(None, loaded[1], loaded[2])
    return Outcome(loaded[0], loaded[1], None)


def legacy(payload: bytes, proto: int, buffers: list[memoryview] | None = None) -> bytes:
    """The payload as legacy pp's raw result, ``pickle((result, output))``
    with protocol proto, which code such as pathos unpickles as a pair (so
    with every buffer in band). Workers pickle with protocol 5 at least
    (for out-of-band buffers), so a payload is pickled again unless it is
    that already."""
    loaded = worker.load(payload, buffers)
    if len(loaded) == 2 and buffers is None and payload[:2] == bytes((0x80, proto)):
        return payload
    return pickle.dumps(tuple(loaded[:2]), protocol=proto)


def exception_of(error: tuple) -> BaseException:
    """The job's exception, with its remote traceback as ``__cause__``; a
    JobError naming it when it could not travel."""
    pickled, type_name, message, text, _ = error
    exc: Any = None
    why = "it could not be pickled in the worker"
    if pickled is not None:
        try:
            exc = pickle.loads(pickled)
        except Exception as unpickling:
            why = "it could not be unpickled here: %s" % unpickling
    if not isinstance(exc, BaseException):
        exc = JobError(type_name, message, why)
    exc.__cause__ = RemoteTraceback(text)
    return exc
