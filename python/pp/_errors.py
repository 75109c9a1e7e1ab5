"""Exceptions of the pp API.

The exceptions that belong to the futures interface (WorkerLostError,
JobTimeoutError) derive from concurrent.futures' and live in pp._futures,
which is imported only when that interface is used.
"""


class DestroyedServerError(RuntimeError):
    """The server was destroyed: it takes no jobs and pending jobs never finish."""


class RemoteTraceback(Exception):
    """The traceback of a job's exception, as the worker formatted it: the
    ``__cause__`` of the exception raised in the caller."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return "\n\n" + self.tb


class JobError(Exception):
    """Stands in for a job's exception that could not travel back (it could
    not be pickled in the worker, or unpickled here)."""

    def __init__(self, type_name: str, message: str, why: str) -> None:
        super().__init__("the job raised %s: %s (%s)" % (type_name, message, why))
        self.type_name = type_name
        self.message = message
