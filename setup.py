"""Builds ppgo: the pp package, its Go extension module pp._core, and the
ppserver command.

The extension is a hand-written cgo module (pybind/) built by `go build
-buildmode=c-shared`. It is compiled against this interpreter's headers but
not linked to libpython, so the wheel does not depend on where Python lives,
and it uses only CPython 3.10's stable ABI (pybind/shim.c defines
Py_LIMITED_API), so the wheel, tagged cp310-abi3, serves every CPython from
3.10 up.

Go's usual variables steer the build: GOARCH (and CC, a C compiler for that
architecture) cross-build both binaries; `make wheels` builds the release
wheels that way, with Zig as the C compiler (docs/RELEASING.md). Without Go
the build stops at once, pointing to the wheels.

ppserver (ppserver/) is a static Go binary built in the same build_ext step
and shipped as a data file installed to the environment's bin/ directory,
beside the environment's python3, which it then runs its workers with.
"""

import glob
import os
import shutil
import subprocess
import sysconfig

from setuptools import Extension, setup
from setuptools.errors import PlatformError
from setuptools.command.build import build
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))

# Where build_ext puts the ppserver binary; relative, as data_files wants.
PPSERVER_BINARY = os.path.join("build", "ppserver")


class GoExtension(Extension):
    """An extension built from a Go package by `go build`."""

    def __init__(self, name: str, package: str) -> None:
        # py_limited_api names the module _core.abi3.so.
        super().__init__(name, sources=[], py_limited_api=True)
        self.package = package


# The oldest CPython the extension's stable ABI serves: pybind/shim.c's
# Py_LIMITED_API and requires-python (pyproject.toml) say the same.
LIMITED_API = "cp310"

NO_GO = """\
ppgo: building from source needs Go 1.26 or newer on PATH (https://go.dev/dl/)
and a C compiler for cgo. The prebuilt wheels need neither: they exist for
Linux on x86_64 and aarch64 with glibc 2.17 or newer, for CPython 3.10 and
newer (`pip install --only-binary ppgo ppgo`). pip builds from source only
when no wheel fits this machine, or when told to (--no-binary)."""

# GOARCH -> the machine in a wheel's platform tag, for cross builds: Go
# builds for GOARCH, and the wheel must say so, not name the build machine.
WHEEL_MACHINES = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l",
                  "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def bdist_wheel_options() -> dict[str, str]:
    options = {"py_limited_api": LIMITED_API}
    goarch = os.environ.get("GOARCH")
    if goarch:
        if goarch not in WHEEL_MACHINES:
            raise PlatformError("ppgo: no wheel platform tag known for GOARCH=" + goarch)
        options["plat_name"] = "linux_" + WHEEL_MACHINES[goarch]
    return options


def find_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise PlatformError(NO_GO)
    return go


class Build(build):
    def run(self) -> None:
        find_go()  # before anything is built: say at once what is missing
        super().run()


class BuildGo(build_ext):
    def run(self) -> None:
        super().run()
        self.build_ppserver()

    def build_ppserver(self) -> None:
        # Static (no cgo): the binary runs on any Linux of its architecture
        # and needs nothing from the environment but a python3 for workers.
        target = os.path.join(ROOT, PPSERVER_BINARY)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        ldflags = "-s -w -X main.version=" + self.distribution.get_version()
        cmd = [find_go(), "build", "-trimpath", "-ldflags=" + ldflags, "-o", target, "./ppserver"]
        self.announce("running " + " ".join(cmd), level=2)
        subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, CGO_ENABLED="0"), check=True)

    def build_extension(self, ext: Extension) -> None:
        if not isinstance(ext, GoExtension):
            return super().build_extension(ext)
        go = find_go()
        target = os.path.abspath(self.get_ext_fullpath(ext.name))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # A module left by an earlier build under another name (the full-API
        # _core.cpython-311-x86_64-linux-gnu.so of older ppgo) would be
        # packed too, and imported first.
        stem = os.path.join(os.path.dirname(target), ext.name.rpartition(".")[2] + ".")
        for stale in glob.glob(glob.escape(stem) + "*"):
            if stale != target:
                os.remove(stale)
        env = dict(os.environ, CGO_ENABLED="1")
        # A call outside the limited API is undeclared: fail, do not guess.
        env["CGO_CFLAGS"] = ("-O2 -Werror=implicit-function-declaration -I"
                             + sysconfig.get_paths()["include"])
        cmd = [go, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w",
               "-o", target, ext.package]
        self.announce("running " + " ".join(cmd), level=2)
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        header = os.path.splitext(target)[0] + ".h"
        if os.path.exists(header):
            os.remove(header)  # cgo's export header; not part of the package


setup(
    ext_modules=[GoExtension("pp._core", "./pybind")],
    cmdclass={"build": Build, "build_ext": BuildGo},
    options={"bdist_wheel": bdist_wheel_options()},
    # "bin" is relative to the install prefix: a venv's bin/, beside its
    # python3. pip keeps the executable bit the wheel records.
    data_files=[("bin", [PPSERVER_BINARY])],
)
