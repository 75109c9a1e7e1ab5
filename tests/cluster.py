"""Real ppserver processes for the cluster tests (nothing here is shipped)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

PPSERVER = os.path.join(os.path.dirname(sys.executable), "ppserver")
SECRET = "cluster-test-secret"
START_TIMEOUT = 15.0


def free_port() -> int:
    """A TCP port nobody listens on now (and, likely, UDP too)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """A ppserver process on 127.0.0.1; stop() or kill() it, or use `with`."""

    def __init__(self, *flags: str, port: int | None = None, workers: int = 2,
                 secret: str | None = SECRET, interface: str = "127.0.0.1",
                 wait: bool = True) -> None:
        self.port = port or free_port()
        self.addr = "127.0.0.1:%d" % self.port
        argv = [PPSERVER, "-p", str(self.port), "-w", str(workers), "-i", interface]
        if secret is not None:
            argv += ["-s", secret]
        argv += list(flags)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        if wait:
            self.wait_listening()

    def wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ppserver exited with %s: %s"
                                   % (self.proc.returncode, self.proc.stdout.read()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise RuntimeError("ppserver did not listen on %s within %ss" % (self.addr, START_TIMEOUT))

    def kill(self) -> None:
        """SIGKILL, as a crashed machine would go."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> str:
        """SIGTERM and wait; returns what the node logged."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            out, _ = self.proc.communicate()
        return out or ""

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(condition, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.02)
