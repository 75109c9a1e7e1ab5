"""Builds ppgo: the pp package, its Go extension module pp._core, and the
ppserver command.

The extension is a hand-written cgo module (pybind/) built by `go build
-buildmode=c-shared`. It is compiled against this interpreter's headers but
not linked to libpython, so the wheel does not depend on where Python lives.

ppserver (ppserver/) is a static Go binary built in the same build_ext step
and shipped as a data file installed to the environment's bin/ directory,
beside the environment's python3, which it then runs its workers with.
"""

import os
import shutil
import subprocess
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))

# Where build_ext puts the ppserver binary; relative, as data_files wants.
PPSERVER_BINARY = os.path.join("build", "ppserver")


class GoExtension(Extension):
    """An extension built from a Go package by `go build`."""

    def __init__(self, name: str, package: str) -> None:
        super().__init__(name, sources=[])
        self.package = package


def find_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("building ppgo needs the Go toolchain (go 1.26 or newer) on PATH")
    return go


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
        env = dict(os.environ, CGO_ENABLED="1")
        env["CGO_CFLAGS"] = "-O2 -I" + sysconfig.get_paths()["include"]
        cmd = [go, "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w",
               "-o", target, ext.package]
        self.announce("running " + " ".join(cmd), level=2)
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        header = os.path.splitext(target)[0] + ".h"
        if os.path.exists(header):
            os.remove(header)  # cgo's export header; not part of the package


setup(
    ext_modules=[GoExtension("pp._core", "./pybind")],
    cmdclass={"build_ext": BuildGo},
    # "bin" is relative to the install prefix: a venv's bin/, beside its
    # python3. pip keeps the executable bit the wheel records.
    data_files=[("bin", [PPSERVER_BINARY])],
)
