"""Parallel Python (pp) on ppgo's Go core: a drop-in for legacy pp.

    import pp
    server = pp.Server()                       # one worker per CPU
    task = server.submit(pow, (2, 10))
    print(task())                              # 1024

Importing pp starts nothing and loads little: the API modules load on first
use of a name below (worker interpreters import this package too), and the Go
runtime and the worker processes start with the first Server.
"""

from pp._version import __version__, copyright, version

__distribution__ = "ppgo"

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "Server": "pp._server",
    "Template": "pp._template",
    "Statistics": "pp._server",
    "DestroyedServerError": "pp._errors",
}

__all__ = sorted(_LAZY) + ["copyright", "version", "__version__"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'pp' has no attribute %r" % name)
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
