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

_worker_source: str | None = None


def detect_ncpus() -> int:
    """How many workers ``ncpus="autodetect"`` means: the online CPUs."""
    n: int | None
    try:
        n = os.sysconf("SC_NPROCESSORS_ONLN")
    except (AttributeError, ValueError, OSError):
        n = os.cpu_count()
    return n if n and n > 0 else 1


def worker_command(proto: int) -> list[str]:
    """How the workers run pp/worker.py, with this interpreter: as ``-c``
    source, which skips runpy and the pp package at every worker start, else
    (not a plain file: a zip import, say) as ``-m``."""
    global _worker_source
    if _worker_source is None:
        try:
            with open(os.path.join(os.path.dirname(__file__), "worker.py")) as f:
                _worker_source = f.read()
        except OSError:
            _worker_source = ""
    run = ["-c", _worker_source] if _worker_source else ["-m", "pp.worker"]
    return [sys.executable, *run, str(proto)]


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
