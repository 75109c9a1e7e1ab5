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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now on host (and, likely, UDP too)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def ipv6_loopback_missing() -> str:
    """Why this machine cannot listen on ::1, or "" when it can."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        return "cannot bind ::1 (no IPv6 loopback here): %s" % e
    return ""


class Node:
    """A ppserver process on loopback, 127.0.0.1 or ::1; stop() or kill()
    it, or use `with`."""

    def __init__(self, *flags: str, port: int | None = None, workers: int = 2,
                 secret: str | None = SECRET, interface: str = "127.0.0.1",
                 wait: bool = True) -> None:
        if interface not in ("127.0.0.1", "::1"):
            raise ValueError("test nodes listen on loopback only, not %r" % interface)
        self.host = interface
        self.port = port or free_port(interface)
        # As pp names the node: an IPv6 host in brackets.
        self.addr = ("[%s]:%d" if ":" in interface else "%s:%d") % (interface, self.port)
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
                with socket.create_connection((self.host, self.port), timeout=0.2):
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
        self.proc.stdout.close()  # nothing more to read; the test's fds stay flat

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
