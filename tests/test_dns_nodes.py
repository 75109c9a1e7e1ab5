"""A ppservers entry whose name resolves to several addresses, with real name
resolution: two ppservers on 127.0.0.2 and 127.0.0.3 (one port), and a
client in a mount namespace of its own whose /etc/hosts is a file the test
rewrites while jobs run. The name's nodes must join and leave with its
addresses, and every job give its result."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from helpers import clean_env, write_script
from ppserver_proc import PPServer

pytestmark = [pytest.mark.ppgo_only, pytest.mark.timeout(180)]

NAME = "ppnodes.test"
SECRET = "dns-test-secret"
ADDRESSES = ("127.0.0.2", "127.0.0.3")
# Seconds the client may run: each change of the hosts file is seen within
# about twice the core's 5 s lookup period.
CLIENT_TIMEOUT = 120

# Each phase waits for the nodes it expects, runs jobs that report the pid
# of the ppserver that ran them, and changes the name's addresses.
CLIENT = """\
import json
import os
import sys
import time

import pp

hosts, port, jobs_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
entry = "NAME:%d" % port
node_a, node_b = entry + " (127.0.0.2)", entry + " (127.0.0.3)"
release = os.path.join(jobs_dir, "release")


def square(n, hold):
    # A held job says where it started, then waits to be released.
    if hold:
        open(os.path.join(hold, "%d-started-on-%d" % (n, os.getppid())), "w").close()
        while not os.path.exists(os.path.join(hold, "release")):
            time.sleep(0.02)
    return n * n, os.getppid()


def set_addresses(*addresses):
    with open(hosts, "w") as f:  # in place: the client's /etc/hosts is bound to this file
        f.writelines("%s NAME\\n" % a for a in addresses)


def wait_nodes(server, want):
    # Waits for the active nodes to be want; returns the seconds it took.
    start = time.monotonic()
    while set(server.get_active_nodes()) - {"local"} != want:
        if time.monotonic() > start + 60:
            sys.exit("active nodes %s, want %s" % (server.get_active_nodes(), want))
        time.sleep(0.05)
    return time.monotonic() - start


def run(server, count, hold=""):
    tasks = [server.submit(square, (n, hold), modules=("os", "time")) for n in range(count)]
    return tasks


server = pp.Server(0, ppservers=(entry,), secret="SECRET")
report = {}
wait_nodes(server, {node_a})
report["a"] = [task() for task in run(server, 10)]

set_addresses("127.0.0.2", "127.0.0.3")
report["join_seconds"] = wait_nodes(server, {node_a, node_b})
report["both"] = [task() for task in run(server, 30)]

# A's address goes while jobs are held on A: they must run on B instead.
tasks = run(server, 8, jobs_dir)
deadline = time.monotonic() + 60
while not any(name.endswith("-on-%s" % sys.argv[4]) for name in os.listdir(jobs_dir)):
    if time.monotonic() > deadline:
        sys.exit("no job started on A")
    time.sleep(0.02)
set_addresses("127.0.0.3")
report["leave_seconds"] = wait_nodes(server, {node_b})
open(release, "w").close()
report["b"] = [task() for task in tasks]
report["njobs"] = {name: stat.njobs for name, stat in server.get_stats().items()}
print(json.dumps(report))
server.destroy()
""".replace("NAME", NAME).replace("SECRET", SECRET)


def namespace_command() -> list[str]:
    """unshare's arguments for a mount namespace of the client's own: as
    root a plain one, else inside a user namespace."""
    return ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]


def bound_hosts(hosts: str, argv: list[str]) -> list[str]:
    """argv run with hosts bound over /etc/hosts, in a namespace of its own."""
    return namespace_command() + ["--", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
                                  hosts] + argv


@pytest.fixture
def hosts_file(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("127.0.0.2 %s\n" % NAME)
    probe = subprocess.run(bound_hosts(str(path), ["getent", "hosts", NAME]),
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or "127.0.0.2" not in probe.stdout:
        pytest.skip("cannot give a process a hosts file of its own in a mount namespace "
                    "(unshare -m, mount --bind): %s" % (probe.stderr.strip() or probe.stdout))
    return path


def shared_port() -> int:
    """A port free on both addresses."""
    for _ in range(20):
        with socket.socket() as s:
            s.bind((ADDRESSES[0], 0))
            port = s.getsockname()[1]
            with socket.socket() as other:
                try:
                    other.bind((ADDRESSES[1], port))
                except OSError:
                    continue
            return port
    raise AssertionError("no port free on both %s" % (ADDRESSES,))


def test_name_nodes_join_and_leave_with_its_addresses(hosts_file, tmp_path):
    try:
        port = shared_port()
    except OSError as exc:
        pytest.skip("cannot listen on %s: %s" % (ADDRESSES, exc))
    env = dict(os.environ, PP_SECRET=SECRET)
    args = ["-p", str(port), "-w", "1"]
    with PPServer(["-i", ADDRESSES[0]] + args, env=env) as a, \
            PPServer(["-i", ADDRESSES[1]] + args, env=env) as b:
        a.wait_listening()
        b.wait_listening()
        jobs_dir = tmp_path / "jobs"
        jobs_dir.mkdir()
        client = write_script(tmp_path, "client.py", CLIENT)
        done = subprocess.run(
            bound_hosts(str(hosts_file), [sys.executable, str(client), str(hosts_file),
                                          str(port), str(jobs_dir), str(a.pid)]),
            env=clean_env(), capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    print("B joined %.1f s after the hosts file listed it, A left %.1f s after it no longer did"
          % (report["join_seconds"], report["leave_seconds"]))

    assert report["a"] == [[n * n, a.pid] for n in range(10)]
    assert [r[0] for r in report["both"]] == [n * n for n in range(30)]
    assert {r[1] for r in report["both"]} == {a.pid, b.pid}, "B never ran a job"
    # Held on A when its address went, the jobs came back and ran on B.
    assert report["b"] == [[n * n, b.pid] for n in range(8)]
    assert "lost ppserver %s:%d (127.0.0.2): %s no longer resolves to 127.0.0.2" \
        % (NAME, port, NAME) in done.stderr
    started_on_a = [name for name in os.listdir(jobs_dir) if name.endswith("-on-%d" % a.pid)]
    assert started_on_a, "no job was on A when it left"

    entry = "%s:%d" % (NAME, port)
    njobs = report["njobs"]
    assert set(njobs) == {"local", entry + " (127.0.0.2)", entry + " (127.0.0.3)"}
    assert njobs["local"] == 0
    assert njobs[entry + " (127.0.0.2)"] + njobs[entry + " (127.0.0.3)"] == 10 + 30 + 8
