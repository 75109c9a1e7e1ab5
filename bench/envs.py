"""The interpreters of the benchmark, and the virtual environments behind them.

ppgo, multiprocessing.Pool and ProcessPoolExecutor run under the repository's
.venv (where `make install` put ppgo). The anchors pp 1.7.0 and ppft both
provide a `pp` module, so each gets a venv of its own under .bench/, made from
.venv's interpreter so that every library runs on the same Python. A third
venv, .bench/tools, holds matplotlib for the chart. Creating them is
idempotent: a venv whose distribution already has the pinned version is
reused as it is.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench"
PPGO_PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class Env:
    name: str
    requirements: tuple[str, ...]  # what pip installs
    distribution: str              # whose version tells whether it is installed
    version: str | None            # the version wanted; None: any


# ppft is pinned to the newest release when the suite was written, so that
# runs stay comparable; bump it here deliberately.
ANCHOR_ENVS = {
    "pp170": Env("pp170", ("pp==1.7.0",), "pp", "1.7.0"),
    "ppft": Env("ppft", ("ppft==1.7.8",), "ppft", "1.7.8"),
}
TOOLS_ENV = Env("tools", ("matplotlib",), "matplotlib", None)

# pathos, the most used consumer of pp's interface (through ppft), with its
# dependencies, pinned like the anchors. The compatibility tests run it on
# uqfoundation's ppft (this venv) and on ppgo (a venv of their own).
PATHOS_PINS = ("pathos==0.3.5", "dill==0.4.1", "pox==0.3.7", "multiprocess==0.70.19")
PATHOS_ON_PPFT = Env("pathos-ppft", PATHOS_PINS + ("ppft==1.7.8", "pytest"), "pathos", "0.3.5")


def env_python(env: Env) -> Path:
    return BENCH_DIR / env.name / "bin" / "python"


def installed_version(python: Path, distribution: str) -> str | None:
    code = ("import importlib.metadata as m, sys\n"
            "try: print(m.version(sys.argv[1]))\n"
            "except m.PackageNotFoundError: pass\n")
    out = subprocess.run([str(python), "-c", code, distribution],
                         capture_output=True, text=True, check=False).stdout.strip()
    return out or None


def create(directory: Path, base_python: Path = PPGO_PYTHON) -> Path:
    """Makes a venv in directory unless there is one; returns its python."""
    python = directory / "bin" / "python"
    if not python.exists():
        print("creating venv %s" % directory, flush=True)
        subprocess.run([str(base_python), "-m", "venv", str(directory)], check=True)
    return python


def pip_install(python: Path, *args: str) -> None:
    print("installing %s into %s" % (" ".join(args), python.parent.parent), flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", *args], check=True)


def ensure(env: Env, base_python: Path = PPGO_PYTHON) -> Path:
    """The venv's interpreter, after creating the venv or installing into it
    only if it lacks the wanted version."""
    python = create(env_python(env).parent.parent, base_python)
    have = installed_version(python, env.distribution)
    if have is None or (env.version is not None and have != env.version):
        pip_install(python, *env.requirements)
    return python


def library_python(lib: str) -> Path:
    """The interpreter that runs a library's workloads (its venv must exist)."""
    if lib in ANCHOR_ENVS:
        return env_python(ANCHOR_ENVS[lib])
    return PPGO_PYTHON
