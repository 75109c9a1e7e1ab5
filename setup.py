"""Builds ppgo: the pp package plus its Go extension module pp._core.

The extension is a hand-written cgo module (pybind/) built by `go build
-buildmode=c-shared`. It is compiled against this interpreter's headers but
not linked to libpython, so the wheel does not depend on where Python lives.
"""

import os
import shutil
import subprocess
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class GoExtension(Extension):
    """An extension built from a Go package by `go build`."""

    def __init__(self, name: str, package: str) -> None:
        super().__init__(name, sources=[])
        self.package = package


class BuildGo(build_ext):
    def build_extension(self, ext: Extension) -> None:
        if not isinstance(ext, GoExtension):
            return super().build_extension(ext)
        go = shutil.which("go")
        if go is None:
            raise RuntimeError("building ppgo needs the Go toolchain (go 1.26 or newer) on PATH")
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
)
