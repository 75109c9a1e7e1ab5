"""Helpers shared by the test modules (not jobs: nothing here is shipped)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

WORKER_RE = re.compile(r"pp\.?_?worker")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process from /proc, or None if it is gone."""
    data = _read("/proc/%d/stat" % pid)
    if not data:
        return None
    # The command name is in parentheses and may itself contain spaces or
    # parentheses: the fields we want follow the last ')'.
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[1])


def cmdline(pid: int) -> str:
    data = _read("/proc/%d/cmdline" % pid) or b""
    return data.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def children(pid: int | None = None) -> list[int]:
    """PIDs of the live (not zombie) child processes of pid (default: us)."""
    pid = os.getpid() if pid is None else pid
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_stat(int(entry))
        if st is not None and st[1] == pid and st[0] != "Z":
            found.append(int(entry))
    return sorted(found)


def worker_pids(pid: int | None = None) -> list[int]:
    """PIDs of the pp worker interpreters that are children of pid (default:
    this process): ppgo's run worker.py's source, which names ``pp.worker``,
    pp 1.7.0's ``python -m pp._worker``."""
    return [c for c in children(pid) if WORKER_RE.search(cmdline(c))]


def is_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.02) -> bool:
    """Polls predicate until it is true or the deadline passes; returns its
    last value (truthy on success)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def call_within(fn, timeout: float = 30.0, *args, **kwargs):
    """Calls fn on a helper thread and returns its result; fails the test if
    it does not return within timeout (so a hang is reported, not waited out)."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError("%r did not return within %.0f s" % (fn, timeout))
    if "error" in box:
        raise box["error"]
    return box.get("value")


def clean_env() -> dict:
    """The environment for a legacy script: ours, without a PYTHONPATH that a
    pp implementation may have set in this process."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # Left block-buffered when piped, as a user's `script > log` would be.
    env.pop("PYTHONUNBUFFERED", None)
    return env


def write_script(directory, name: str, source: str):
    path = directory / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def run_script(directory, source: str, *args: str, timeout: float = 60.0,
               name: str = "script.py") -> subprocess.CompletedProcess:
    """Writes source as a script in directory and runs it there with this
    interpreter, the way a user runs a legacy pp script."""
    path = write_script(directory, name, source)
    return subprocess.run([sys.executable, str(path), *args], cwd=str(directory),
                          env=clean_env(), capture_output=True, text=True,
                          timeout=timeout)


def kill_quietly(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(pid, sig)
    except OSError:
        pass
