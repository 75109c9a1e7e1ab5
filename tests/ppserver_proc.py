"""ppserver processes for the command-line tests: start one, wait for what it
logs, signal it, find its workers. Only 127.0.0.1 is ever used."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

# pip installs ppserver beside the venv's python3.
PPSERVER = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "ppserver")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 20.0


def free_port() -> int:
    """A TCP port nobody listens on now on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """The pids of the live processes whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        st = _stat(int(entry)) if entry.isdigit() else None
        if st is not None and st[1] == pid and st[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Whether pid is a running process (a zombie is dead already)."""
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def _stat(pid: int) -> tuple[str, int] | None:
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], int(fields[1])


def wait_until(condition, timeout: float = TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.02)


class PPServer:
    """One ppserver process; its stdout and stderr are collected as it runs."""

    def __init__(self, args: list[str], exe: str = PPSERVER, env: dict | None = None,
                 cwd: str | None = None) -> None:
        self.args = [exe] + list(args)
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=cwd)
        self.pid = self.proc.pid
        self._lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(name, stream), daemon=True)
                         for name, stream in (("stdout", self.proc.stdout),
                                              ("stderr", self.proc.stderr))]
        for t in self._readers:
            t.start()

    def _read(self, name: str, stream) -> None:
        for line in stream:
            with self._cond:
                self._lines[name].append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def stdout(self) -> str:
        with self._cond:
            return "".join(self._lines["stdout"])

    @property
    def stderr(self) -> str:
        with self._cond:
            return "".join(self._lines["stderr"])

    def wait_for(self, text: str, stream: str = "stderr", timeout: float = TIMEOUT,
                 after: int = 0) -> int:
        """Waits until a line after the first `after` ones contains text;
        returns how many lines the stream has then."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                lines = self._lines[stream]
                if any(text in line for line in lines[after:]):
                    return len(lines)
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._readers):
                    raise AssertionError(
                        "ppserver exited (%s) before printing %r; stderr:\n%s"
                        % (self.proc.returncode, text, "".join(self._lines["stderr"])))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("ppserver did not print %r within %ss; %s:\n%s"
                                         % (text, timeout, stream, "".join(lines)))
                self._cond.wait(min(left, 0.1))

    def lines(self, stream: str = "stderr") -> int:
        with self._cond:
            return len(self._lines[stream])

    def wait_listening(self) -> None:
        self.wait_for("Listening on")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Waits for the process to exit and its output to be read."""
        rc = self.proc.wait(timeout)
        for t in self._readers:
            t.join(timeout)
        return rc

    def workers(self, n: int) -> list[int]:
        """Waits until n worker processes run and returns their pids."""
        wait_until(lambda: len(children(self.pid)) == n, what="%d workers" % n)
        return children(self.pid)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def __enter__(self) -> PPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def run(args: list[str], exe: str = PPSERVER, env: dict | None = None,
        timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Runs a ppserver that is expected to exit on its own."""
    return subprocess.run([exe] + list(args), capture_output=True, text=True, env=env,
                          timeout=timeout)
