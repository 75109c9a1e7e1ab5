"""Checks the release that `make wheels` left in dist/ (docs/RELEASING.md):

- the files and their tags: cp310-abi3, manylinux_2_17 / manylinux2014;
- auditwheel's policy, and abi3audit's check of CPython 3.10's stable ABI;
- each wheel's binaries: pp._core for its architecture, needing glibc's
  libraries only and no symbol newer than glibc 2.17; ppserver static;
- the x86_64 wheel installed into a fresh venv of every CPython 3.10+ here,
  with no Go and no C compiler on PATH, running the pp suites (all of them
  on the oldest CPython, the one the abi3 tag stands on);
- aarch64 under qemu-user: the aarch64 ppserver serving an x86_64 client,
  and an arm64 CPython (Debian's) running jobs through the aarch64 pp._core;
- the sdist: a clear, immediate failure without Go, a working build with it.

Run by `make test-wheels` with the release venv's pytest.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable

import pytest
from packaging.utils import parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
WORK = ROOT / "build" / "release"
TESTS = ROOT / "tests"
BIN = Path(sys.executable).parent  # the release venv's: auditwheel, abi3audit
VERSION = re.search(r'^version = "(.+)"$', (ROOT / "python/pp/_version.py").read_text(),
                    re.M).group(1)
SDIST = DIST / ("ppgo-%s.tar.gz" % VERSION)

ARCHES = ("x86_64", "aarch64")
ELF_MACHINES = {"x86_64": "Advanced Micro Devices X86-64", "aarch64": "AArch64"}
# What pp._core may link: glibc's own libraries (cgo's runtime and net
# package need libpthread and libresolv before glibc 2.34 merged them into
# libc), all in the manylinux2014 policy.
GLIBC_LIBRARIES = {"libc.so.6", "libpthread.so.0", "libresolv.so.2"}
NEWEST_GLIBC = (2, 17)

# The CPythons the x86_64 wheel is installed into. The oldest runs every
# suite; the others run the tests that load the extension, run local and
# remote jobs through the wheel's ppserver, and run a legacy script.
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
FULL_SUITE_ON = PYTHONS[0]
SUBSET = ["test_task.py",
          "test_cluster.py::test_ppserver_is_installed_beside_python",
          "test_cluster.py::test_remote_only_jobs",
          "test_legacy_scripts.py::test_sum_primes_script",
          "test_legacy_scripts.py::test_sum_primes_script_autodetect"]
# Commands a source build would need; none may be on the matrix's PATH.
COMPILERS = re.compile(r"^(cc|c89.*|c99.*|c\+\+|.*-c\+\+|.*gcc.*|.*g\+\+.*|cpp.*|.*-cpp.*"
                       r"|clang.*|tcc|go|gofmt|zig)$")

QEMU = shutil.which("qemu-aarch64-static")
needs_qemu = pytest.mark.skipif(
    QEMU is None, reason="qemu-aarch64-static is not installed (Debian's qemu-user-static, "
    "which .ci/run installs), so no aarch64 binary can run here")
SECRET = "release-test-secret"


def run(cmd: list, timeout: float = 600, check: bool = True, **kwargs) -> str:
    """Runs cmd; returns its stdout and stderr together."""
    r = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout, **kwargs)
    if check and r.returncode != 0:
        command = shlex.join(map(str, cmd))
        raise AssertionError("%s exited %d:\n%s" % (command, r.returncode, r.stdout[-6000:]))
    return r.stdout


def wheel(arch: str) -> Path:
    return DIST / ("ppgo-%s-cp310-abi3-manylinux2014_%s.manylinux_2_17_%s.whl"
                   % (VERSION, arch, arch))


# --- the files --------------------------------------------------------------

def test_dist_holds_the_sdist_and_a_wheel_per_architecture():
    assert sorted(DIST.glob("ppgo-*")) == sorted([SDIST] + [wheel(a) for a in ARCHES])


@pytest.mark.parametrize("arch", ARCHES)
def test_wheel_tags(arch):
    name, version, _, tags = parse_wheel_filename(wheel(arch).name)
    assert (name, str(version)) == ("ppgo", VERSION)
    want = {"cp310-abi3-manylinux_2_17_" + arch, "cp310-abi3-manylinux2014_" + arch}
    assert {str(t) for t in tags} == want
    with zipfile.ZipFile(wheel(arch)) as z:
        meta = z.read("ppgo-%s.dist-info/WHEEL" % VERSION).decode()
    assert set(re.findall(r"^Tag: (.+)$", meta, re.M)) == want
    assert "Root-Is-Purelib: false" in meta


@pytest.mark.parametrize("arch", ARCHES)
def test_auditwheel_show_reports_manylinux2014(arch):
    out = run([BIN / "auditwheel", "show", wheel(arch)])
    print("\n$ auditwheel show %s\n%s" % (wheel(arch).name, out))
    # The oldest policy the wheel's symbols allow; manylinux_2_17 or older
    # means the manylinux_2_17 tag holds (x86_64 needs nothing past 2.3.2).
    m = re.search(r'consistent with the\s+following platform tag:\s+"manylinux_(\d+)_(\d+)_(\w+)"',
                  out)
    assert m, out
    assert (int(m[1]), int(m[2])) <= NEWEST_GLIBC and m[3] == arch, out
    assert "requires no external shared libraries" in out, out


@pytest.mark.parametrize("arch", ARCHES)
def test_core_uses_only_the_stable_abi_of_cpython_3_10(arch):
    out = run([BIN / "abi3audit", "--strict", "--assume-minimum-abi3", "3.10", "--verbose",
               wheel(arch)])
    assert "0 ABI version mismatches and 0 ABI violations" in " ".join(out.split()), out


# --- the binaries in each wheel -----------------------------------------------

@pytest.fixture(scope="session")
def unpacked(tmp_path_factory) -> dict[str, Path]:
    """Each wheel's files, extracted with their modes."""
    dirs = {}
    for arch in ARCHES:
        target = dirs[arch] = tmp_path_factory.mktemp("wheel-" + arch)
        with zipfile.ZipFile(wheel(arch)) as z:
            for info in z.infolist():
                path = Path(z.extract(info, target))
                path.chmod(info.external_attr >> 16 & 0o777 or 0o644)
    return dirs


def ppserver_in(directory: Path) -> Path:
    return directory / ("ppgo-%s.data" % VERSION) / "data" / "bin" / "ppserver"


def readelf(*args: object) -> str:
    return run(["readelf", "--wide", *args])


def elf_machine(path: Path) -> str:
    return re.search(r"Machine:\s+(.+)", readelf("--file-header", path))[1].strip()


@pytest.mark.parametrize("arch", ARCHES)
def test_core_needs_glibc_2_17_and_nothing_else(arch, unpacked):
    core = unpacked[arch] / "pp" / "_core.abi3.so"
    assert elf_machine(core) == ELF_MACHINES[arch]
    dynamic = readelf("--dynamic", core)
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic))
    assert "libc.so.6" in needed and needed <= GLIBC_LIBRARIES, needed  # no libpython
    assert "RPATH" not in dynamic and "RUNPATH" not in dynamic
    versions = {tuple(map(int, v.split("."))) for v in
                re.findall(r"Name: GLIBC_([\d.]+)", readelf("--version-info", core))}
    assert versions and max(versions) <= NEWEST_GLIBC, sorted(versions)


@pytest.mark.parametrize("arch", ARCHES)
def test_ppserver_is_static_and_executable(arch, unpacked):
    exe = ppserver_in(unpacked[arch])
    assert os.access(exe, os.X_OK)
    assert elf_machine(exe) == ELF_MACHINES[arch]
    assert "INTERP" not in readelf("--program-headers", exe)  # no dynamic loader
    assert "no dynamic section" in readelf("--dynamic", exe)


# --- the x86_64 wheel on every CPython here, with no Go or C compiler ---------

def find_python(minor: str) -> Path | None:
    """CPython `minor` (3.X): on PATH, else one of pyenv's versions (its
    shim answers only for the selected versions)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = [shutil.which("python" + minor)]
    found += sorted(root.glob("versions/%s.*/bin/python%s" % (minor, minor)), reverse=True)
    for python in filter(None, found):
        r = subprocess.run([str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip() == minor:
            return Path(python)
    return None


@pytest.fixture(scope="session")
def no_compilers(tmp_path_factory) -> str:
    """A directory of links to the system's commands less every compiler,
    Go and Zig: with a venv's bin/, the whole PATH of the matrix."""
    directory = tmp_path_factory.mktemp("no-compilers-bin")
    for source in (Path("/usr/sbin"), Path("/usr/bin")):
        for tool in sorted(source.iterdir()) if source.is_dir() else ():
            link = directory / tool.name
            if not COMPILERS.match(tool.name) and not link.exists():
                link.symlink_to(tool)
    for command in ("go", "gcc", "cc", "c++", "clang", "zig"):
        assert shutil.which(command, path=str(directory)) is None, command
    return str(directory)


def pins(*names: str) -> list[str]:
    """The versions release/requirements.txt pins for these packages."""
    lines = (Path(__file__).parent / "requirements.txt").read_text().splitlines()
    return [line for line in lines if line.split("==")[0] in names]


def venv_env(venv: Path, path: str) -> dict[str, str]:
    """The environment of a command in venv: PATH is its bin/ and path."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYENV_VERSION", "PP_TESTS_WHEEL")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), path])
    return env


@pytest.fixture(scope="session")
def installed(tmp_path_factory, no_compilers) -> Callable[[str], Path]:
    """installed(minor) -> a venv of CPython `minor` with the x86_64 wheel
    installed from dist/ by pip, and pytest; made once a session."""
    venvs: dict[str, Path] = {}

    def make(minor: str) -> Path:
        if minor not in venvs:
            python = find_python(minor)
            if python is None:
                pytest.skip("CPython %s is not installed here (looked on PATH and in pyenv's "
                            "versions), so the wheel was not tried with it" % minor)
            venv = tmp_path_factory.mktemp("py" + minor)
            run([python, "-m", "venv", venv])
            env = venv_env(venv, no_compilers)
            pip = [venv / "bin" / "python", "-m", "pip", "install", "-q"]
            run(pip + ["--no-index", "--find-links", DIST, "--only-binary", ":all:", "ppgo"],
                env=env)
            # ppgo's optional extra, as a full install has it.
            run(pip + pins("pytest", "pytest-timeout", "cloudpickle"), env=env)
            venvs[minor] = venv
        return venvs[minor]
    return make


@pytest.mark.parametrize("minor", PYTHONS)
def test_wheel_installs_and_runs_without_go(minor, installed, no_compilers, tmp_path):
    venv = installed(minor)
    env = venv_env(venv, no_compilers)
    python = venv / "bin" / "python"
    where = run([python, "-c", "import pp._core; print(pp._core.__file__)"], env=env, cwd=tmp_path)
    assert where.strip().startswith(str(venv)) and where.strip().endswith("_core.abi3.so"), where
    assert VERSION in run([venv / "bin" / "ppserver", "--version"], env=env)
    if minor == FULL_SUITE_ON:
        # Every suite, with the pathos recipe installing this wheel too.
        env["PP_TESTS_WHEEL"] = str(wheel("x86_64"))
        selection = [str(TESTS)]
    else:
        selection = [str(TESTS / test) for test in SUBSET]
    # From a directory outside the repository: pp is the installed one.
    out = run([python, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *selection],
              env=env, cwd=tmp_path, timeout=1500)
    summary = out.strip().splitlines()[-1].strip("= ")
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    print("\nCPython %s (%s): %s" % (minor, "every suite" if minor == FULL_SUITE_ON
                                     else "subset", summary))
    print("".join("\n  " + line for line in skipped))
    assert "pp under test: ppgo %s from %s" % (VERSION, venv) in out, out[:2000]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, out


# --- aarch64, under qemu-user -------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmulatedPPServer:
    """The aarch64 ppserver under qemu on 127.0.0.1, its workers run by the
    given (native x86_64) python3: qemu passes the exec to the kernel."""

    def __init__(self, exe: Path, python: Path) -> None:
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.proc = subprocess.Popen(
            [QEMU, str(exe), "-p", str(self.port), "-i", "127.0.0.1", "-s", SECRET, "-w", "2",
             "--python", str(python)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            seen.append(line)
            if "Listening on" in line:
                return
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        raise AssertionError("the aarch64 ppserver did not start:\n" + "".join(seen))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            self.proc.kill()
            self.proc.stderr.close()


CLIENT = """
import platform, sys
if len(sys.argv) > 2:
    sys.executable = sys.argv[2]  # how the Go core runs this interpreter's workers
import pp

def square(x):
    return x * x

def machine():
    import platform
    return platform.machine()

ncpus, ppservers = (0, (sys.argv[1],)) if sys.argv[1] != "local" else (2, ())
server = pp.Server(ncpus, ppservers=ppservers, secret="%s")
tasks = [server.submit(square, (i,)) for i in range(50)]
assert [t() for t in tasks] == [i * i for i in range(50)]
print("client", platform.machine(), "workers", server.submit(machine, ())(),
      "nodes", sorted(server.get_active_nodes().items()))
server.destroy()
""" % SECRET


@needs_qemu
def test_aarch64_ppserver_serves_an_x86_64_client(installed, unpacked, tmp_path):
    exe = ppserver_in(unpacked["aarch64"])
    assert VERSION in run([QEMU, exe, "--version"])
    venv = installed("%d.%d" % sys.version_info[:2])
    python = venv / "bin" / "python3"
    node = EmulatedPPServer(exe, python)
    try:
        (tmp_path / "client.py").write_text(CLIENT)
        out = run([python, "client.py", node.addr], cwd=tmp_path, timeout=120)
    finally:
        assert node.stop() == 0
    assert "client x86_64 workers x86_64 nodes [('%s', 2), ('local', 0)]" % node.addr in out, out


@pytest.fixture(scope="session")
def arm64_python() -> Path:
    """Debian's arm64 CPython, unpacked under build/release (kept between
    runs) from the packages apt downloads with arm64 package lists of its
    own there: nothing is installed, the system's apt state is untouched."""
    if QEMU is None:
        pytest.skip("no qemu-aarch64-static")
    base = WORK / "arm64-python"
    root = base / "root"
    found = sorted(root.glob("usr/bin/python3.[0-9]*"))
    if not found:
        if shutil.which("apt-get") is None:
            pytest.skip("no apt-get here to fetch Debian's arm64 CPython")
        found = fetch_arm64_python(base, root)
    return found[-1]


def fetch_arm64_python(base: Path, root: Path) -> list[Path]:
    state = base / "apt"
    for d in (state / "lists" / "partial", state / "cache" / "archives" / "partial"):
        d.mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    apt = ["-o", "Dir::State=%s" % state, "-o", "Dir::State::lists=%s" % (state / "lists"),
           "-o", "Dir::State::status=%s" % (state / "status"),
           "-o", "Dir::Cache=%s" % (state / "cache"),
           "-o", "APT::Architecture=arm64", "-o", "APT::Architectures::=arm64"]
    r = subprocess.run(["apt-get", *apt, "update"], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip("apt-get cannot fetch Debian's arm64 package lists: " + r.stderr[-500:])
    show = run(["apt-cache", *apt, "show", "python3-minimal"])
    minor = re.search(r"python3\.(\d+)-minimal", show)[1]
    debs = base / "debs"
    debs.mkdir(exist_ok=True)
    packages = ["libc6", "zlib1g", "libexpat1", "python3.%s-minimal" % minor,
                "libpython3.%s-minimal" % minor, "libpython3.%s-stdlib" % minor]
    run(["apt-get", *apt, "download", *packages], cwd=debs)
    for deb in sorted(debs.glob("*.deb")):
        run(["dpkg-deb", "--extract", deb, root])
    return sorted(root.glob("usr/bin/python3.[0-9]*"))


@needs_qemu
def test_arm64_cpython_runs_jobs_through_the_aarch64_core(arm64_python, installed, unpacked,
                                                          tmp_path):
    root = arm64_python.parents[2]
    # No binfmt_misc here: an aarch64 worker exec'd by the Go core must be
    # started through qemu, so the client names this script as its python.
    wrapper = tmp_path / "python-arm64"
    wrapper.write_text("#!/bin/sh\nexec %s -L %s %s \"$@\"\n" % (QEMU, root, arm64_python))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "client.py").write_text(CLIENT)
    env = dict(os.environ, PYTHONPATH=str(unpacked["aarch64"]))  # the aarch64 wheel's pp
    out = run([wrapper, "client.py", "local", wrapper], cwd=tmp_path, env=env, timeout=120)
    assert "client aarch64 workers aarch64 nodes [('local', 2)]" in out, out
    # And remote jobs, from the emulated client to the emulated ppserver.
    python = installed("%d.%d" % sys.version_info[:2]) / "bin" / "python3"
    node = EmulatedPPServer(ppserver_in(unpacked["aarch64"]), python)
    try:
        out = run([wrapper, "client.py", node.addr], cwd=tmp_path, env=env, timeout=120)
    finally:
        assert node.stop() == 0
    assert "client aarch64 workers x86_64 nodes [('%s', 2), ('local', 0)]" % node.addr in out, out


# --- the sdist ------------------------------------------------------------------

def test_sdist_without_go_fails_at_once_pointing_to_the_wheels(no_compilers, tmp_path):
    run([sys.executable, "-m", "venv", tmp_path / "venv"])
    env = venv_env(tmp_path / "venv", no_compilers)
    started = time.monotonic()
    out = run([tmp_path / "venv" / "bin" / "pip", "install", SDIST], env=env, check=False,
              cwd=tmp_path)
    took = time.monotonic() - started
    text = " ".join(out.split())
    assert "needs Go 1.26 or newer on PATH" in text and "prebuilt wheels" in text, out
    assert "Successfully installed" not in out and "go build" not in out, out
    print("\nsdist without Go: failed after %.1f s (pip setting up its build environment "
          "included)" % took)


def test_sdist_with_go_builds_and_runs(tmp_path):
    if shutil.which("go") is None:
        pytest.skip("go is not on PATH")
    run([sys.executable, "-m", "venv", tmp_path / "venv"])
    env = venv_env(tmp_path / "venv", os.environ["PATH"])
    python = tmp_path / "venv" / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", SDIST], env=env)
    out = run([python, "-c", "import pp; s = pp.Server(2); print(s.submit(pow, (2, 10))())"],
              env=env, cwd=tmp_path)
    assert out.strip() == "1024"
    assert VERSION in run([tmp_path / "venv" / "bin" / "ppserver", "--version"], env=env)
