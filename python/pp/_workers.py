"""How a client's local workers are started: the command line and the
environment. Both the Engine (the Go core starts the workers) and
pp._prestart (spares started at ``import pp``) use them, and a spare is
only ever used by a Server whose workers' command line, environment and
working directory are exactly the spare's. Standard library only, and
cheap: ``import pp`` runs this.
"""

from __future__ import annotations

import os
import sys

# The pickle protocol of results when a Server is not told one: spares are
# started for it (pp.Server's proto default).
DEFAULT_PROTO = 4

# Variables jobs must not see: the secret that lets a client use ppservers.
HIDDEN_FROM_JOBS = ("PP_SECRET", "PP_SECRET_FILE")

# Set to 0 (or off, false, no), this turns spares off (pp._prestart).
# Workers run with it at 0, so a job that imports pp starts no spares.
PRESTART_VARIABLE = "PPGO_PRESTART"
PRESTART_OFF = ("0", "off", "false", "no")

# What a worker runs when pp/worker.py's code object is cached (below): it
# loads the code, drops the cache's path from sys.argv and runs it, as if
# it were `python -c <source>`, without compiling the source, ~3 ms of each
# worker's start.
LOAD_CACHED_WORKER = ("import marshal, sys\n"
                      "with open(sys.argv.pop(1), 'rb') as cached:\n"
                      "    code = marshal.load(cached)\n"  # closed: no ResourceWarning
                      "del cached\n"
                      "exec(code)\n")

_worker_command: tuple[str, ...] | None = None


def detect_ncpus() -> int:
    """How many workers ``ncpus="autodetect"`` means: the online CPUs."""
    n: int | None
    try:
        n = os.sysconf("SC_NPROCESSORS_ONLN")
    except (AttributeError, ValueError, OSError):
        n = os.cpu_count()
    return n if n and n > 0 else 1


def worker_command(proto: int) -> list[str]:
    """How the workers run pp/worker.py, with this interpreter: its code
    object cached (cached_worker), else its source as ``-c``, either of
    which skips runpy and the pp package at every worker start, else (not a
    plain file: a zip import, say) as ``-m``."""
    global _worker_command
    if _worker_command is None:
        path = os.path.join(os.path.dirname(__file__), "worker.py")
        try:
            with open(path) as f:
                source = f.read()
        except OSError:
            _worker_command = ("-m", "pp.worker")
        else:
            cached = cached_worker(path, source)
            _worker_command = ("-c", LOAD_CACHED_WORKER, cached) if cached else ("-c", source)
    return [sys.executable, *_worker_command, str(proto)]


def cached_worker(path: str, source: str) -> str | None:
    """The path of a file holding worker.py's code object, compiled by and
    for this interpreter (marshal's format is the interpreter's), in the
    user's cache directory: $XDG_CACHE_HOME/ppgo, else ~/.cache/ppgo. The
    name says which source and which interpreter, as a .pyc's header does
    (the source's size and modification time, the interpreter's version),
    so a file once written never changes (one that does not load is written
    again); it starts with pp.worker, so ps still names the workers. None
    when it cannot be written there: the workers then compile the source."""
    import marshal

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "ppgo")
    try:
        stat = os.stat(path)
        cached = os.path.join(directory, "pp.worker-%s-%x-%x-%x.code" % (
            sys.implementation.cache_tag, sys.hexversion, stat.st_size, stat.st_mtime_ns))
        if _loads(cached):
            return cached
        code = marshal.dumps(compile(source, path, "exec", dont_inherit=True))
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except (OSError, ValueError):
        return None
    partial = "%s.%d.tmp" % (cached, os.getpid())
    try:
        with open(partial, "wb") as f:
            f.write(code)
        os.replace(partial, cached)  # whole or not at all, for workers starting meanwhile
    except OSError:
        try:
            os.remove(partial)
        except OSError:
            pass
        return None
    return cached


def worker_environment() -> list[str]:
    """The client's environment, with its cwd and sys.path importable (as
    legacy pp does, through PYTHONPATH), no secret, and no spares of its
    own."""
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN_FROM_JOBS}
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    paths += [os.getcwd()] + [p for p in sys.path if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env[PRESTART_VARIABLE] = "0"
    return ["%s=%s" % item for item in env.items()]


def _loads(path: str) -> bool:
    """Whether path holds a code object, as a worker will load it."""
    import marshal

    try:
        with open(path, "rb") as f:
            marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return False
    return True
