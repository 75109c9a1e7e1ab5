"""Exceptions of the pp API."""


class DestroyedServerError(RuntimeError):
    """The server was destroyed: it takes no jobs and pending jobs never finish."""
