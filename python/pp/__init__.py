"""Parallel Python (pp) on ppgo's Go core: a drop-in for legacy pp.

    import pp
    server = pp.Server()                       # one worker per CPU
    task = server.submit(pow, (2, 10))
    print(task())                              # 1024

Importing pp starts nothing; the Go runtime and the worker processes start
with the first Server.
"""

from pp._errors import DestroyedServerError
from pp._server import Server, Statistics, Template
from pp._version import __version__, copyright, version

__distribution__ = "ppgo"

__all__ = [
    "DestroyedServerError",
    "Server",
    "Statistics",
    "Template",
    "copyright",
    "version",
    "__version__",
]
