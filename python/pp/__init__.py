"""Parallel Python (pp) on ppgo's Go core: a drop-in for legacy pp.

    import pp
    server = pp.Server()                       # one worker per CPU
    task = server.submit(pow, (2, 10))
    print(task())                              # 1024

Importing pp loads little: the API modules load on first use of a name below
(worker interpreters import this package too), and the Go runtime with the
first Server. It starts spare worker interpreters for that Server
(pp._prestart; PPGO_PRESTART=0 turns them off).
"""

import os as _os

from pp._version import __author__, __copyright__, __version__, author, copyright, version

__distribution__ = "ppgo"

# Files that only other distributions' pp packages have: upstream pp 1.x
# and ppft (which pathos pulls in). Either, installed into the same
# environment, writes into this package; whichever was installed last wins
# the files both have, so programs may run on a mix.
_FOREIGN_FILES = {
    "_auto.py": "pp 1.x", "_transport.py": "pp 1.x", "_worker.py": "pp 1.x", "cli.py": "pp 1.x",
    "_pp.py": "ppft", "auto.py": "ppft", "transport.py": "ppft", "server": "ppft",
}


def _check_shadowing() -> None:
    """Warns when another distribution's pp has written into this one (a
    directory listing: import pp stays cheap)."""
    try:
        entries = _os.listdir(_os.path.dirname(__file__))
    except OSError:
        return
    owners = sorted({_FOREIGN_FILES[e] for e in entries if e in _FOREIGN_FILES})
    if owners:
        import warnings

        warnings.warn("pp: files of %s are mixed into ppgo's pp package, so programs may "
                      "run partly on it; run `python -m ppgo` for what to do"
                      % " and ".join(owners), RuntimeWarning, stacklevel=2)


_check_shadowing()


def _start_spares() -> None:
    """Starts worker interpreters for the first Server while the client goes
    on (pp._prestart); PPGO_PRESTART=0 turns this off."""
    from pp import _prestart, _workers

    if _prestart.enabled():
        _prestart.start(_workers.detect_ncpus())


_start_spares()

# Public name -> the module that defines it, imported on first access.
_LAZY = {
    "Server": "pp._server",
    "Template": "pp._template",
    "Statistics": "pp._server",
    "DestroyedServerError": "pp._errors",
    "RemoteTraceback": "pp._errors",
    "JobError": "pp._errors",
    # The futures interface: imported when first used.
    "Executor": "pp._futures",
    "WorkerLostError": "pp._futures",
    "JobTimeoutError": "pp._futures",
    # Helpers pp 1.7.0 exports too.
    "start_thread": "pp._legacy",
    "get_class_hierarchy": "pp._legacy",
    "is_not_imported": "pp._source",
}

# Legacy pp's and ppft's private names, for code that reaches for them.
_LAZY_PRIVATE = {"_Task": ("pp._task", "Task"), "_Statistics": ("pp._server", "Statistics")}

__all__ = sorted(_LAZY) + ["author", "copyright", "version", "__author__", "__copyright__",
                           "__version__"]


def __getattr__(name: str):
    module, attribute = _LAZY.get(name), name
    if module is None:
        module, attribute = _LAZY_PRIVATE.get(name, (None, name))
    if module is None:
        raise AttributeError("module 'pp' has no attribute %r" % name)
    import importlib

    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
