"""The reference implementations that compatibility tests compare ppgo with.

pp 1.7.0, ppft and pathos each live in a venv of their own, made by the
benchmark's bench/envs.py (one set of pins for both) under .bench/ and
reused while their pinned versions are installed. pathos on ppgo gets a
fresh venv per test session, holding the ppgo wheel that `make install`
left in build/dist and the ppft stand-in (shims/ppft), installed the way
docs/PATHOS.md tells users to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import clean_env

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "build" / "dist"
sys.path.insert(0, str(ROOT / "bench"))

import envs  # noqa: E402  (bench/envs.py, found through the path above)

# Where the reference interpreters come from, for skip and failure messages.
HOW = "made by bench/envs.py under %s with pip (needs PyPI)" % envs.BENCH_DIR


def pp170_python() -> Path:
    """The interpreter of the pp 1.7.0 reference venv."""
    return envs.ensure(envs.ANCHOR_ENVS["pp170"], Path(sys.executable))


def pathos_on_ppft_python() -> Path:
    """pathos with uqfoundation's ppft, pinned."""
    return envs.ensure(envs.PATHOS_ON_PPFT, Path(sys.executable))


def ppgo_wheel() -> Path:
    """The ppgo wheel `make install` built (built here if it is missing), or
    the one PP_TESTS_WHEEL names (the release checks' install matrix)."""
    if os.environ.get("PP_TESTS_WHEEL"):
        return Path(os.environ["PP_TESTS_WHEEL"])
    wheels = sorted(DIST.glob("ppgo-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "-w", str(DIST), str(ROOT)], check=True)
        wheels = sorted(DIST.glob("ppgo-*.whl"))
    return wheels[-1]


def pathos_on_ppgo_python(directory: Path) -> Path:
    """A new venv in directory with ppgo, the ppft stand-in and pinned
    pathos, installed as docs/PATHOS.md says."""
    python = envs.create(directory, Path(sys.executable))
    wheels = directory / "wheels"
    subprocess.run([str(python), "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(ROOT / "shims" / "ppft")], check=True)
    envs.pip_install(python, str(ppgo_wheel()), *map(str, wheels.glob("ppft-*.whl")))
    envs.pip_install(python, *envs.PATHOS_PINS, "pytest")
    return python


def ppgo_python() -> Path:
    """The interpreter running the tests, where ppgo is installed."""
    return Path(sys.executable)


def run(python: Path, script: Path, cwd: Path, *args: str,
        timeout: float = 120.0) -> subprocess.CompletedProcess:
    """Runs script with python in cwd, as a user runs a legacy script."""
    return subprocess.run([str(python), str(script), *args], cwd=str(cwd), env=clean_env(),
                          capture_output=True, text=True, timeout=timeout)
