"""pp.Server with remote nodes: real ppserver processes on 127.0.0.1.

ppgo's ppserver speaks its own protocol, so these run against ppgo only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest

import jobs
import pp
from cluster import PPSERVER, SECRET, Node, free_port, wait_until

pytestmark = pytest.mark.ppgo_only


@pytest.fixture
def node():
    with Node(workers=2) as n:
        yield n


def remote_server(*addrs: str, ncpus: int = 0, **kwargs) -> pp.Server:
    kwargs.setdefault("secret", SECRET)
    return pp.Server(ncpus, ppservers=tuple(addrs), **kwargs)


def connected(server: pp.Server, addr: str) -> bool:
    return addr in server.get_active_nodes()


def test_ppserver_is_installed_beside_python():
    assert os.access(PPSERVER, os.X_OK), PPSERVER


def test_remote_only_jobs(node):
    server = remote_server(node.addr)
    try:
        tasks = [server.submit(jobs.square, (i,)) for i in range(200)]
        assert [t() for t in tasks] == [i * i for i in range(200)]
        assert server.get_active_nodes() == {"local": 0, node.addr: 2}
        stats = server.get_stats()
        assert stats[node.addr].njobs == 200 and stats[node.addr].ncpus == 2
        assert stats["local"].njobs == 0
    finally:
        server.destroy()


def test_remote_jobs_keep_the_job_semantics(node, capsys):
    """depfuncs, modules, output, job errors and callbacks work remotely."""
    server = remote_server(node.addr)
    results = []
    try:
        t1 = server.submit(jobs.sum_of_cubes_plus_one, (3,),
                           depfuncs=(jobs.helper_cube, jobs.helper_plus_one))
        t2 = server.submit(jobs.use_math, (16.0,), modules=("math",))
        t3 = server.submit(jobs.print_and_return, ("hello from a node", 3))
        t4 = server.submit(jobs.raise_value_error, ("boom",))
        t5 = server.submit(jobs.square, (7,), callback=results.append)
        assert (t1(), t2(), t3(), t4()) == (10, 6.0, 3, None)
        t5()
        server.wait()
        assert results == [49]
        out, err = capsys.readouterr()
        assert "hello from a node" in out
        assert "boom" in out + err
    finally:
        server.destroy()


def test_legacy_recipe_script_runs_unchanged(tmp_path):
    """`ppserver -p PORT -s SECRET -w 2` and the classic client script."""
    port = free_port()
    script = tmp_path / "cluster_sum_primes.py"
    script.write_text(textwrap.dedent("""
        import math, sys
        import pp

        def isprime(n):
            if n < 2:
                return False
            if n == 2:
                return True
            max = int(math.ceil(math.sqrt(n)))
            i = 2
            while i <= max:
                if n % i == 0:
                    return False
                i += 1
            return True

        def sum_primes(n):
            return sum([x for x in range(2, n) if isprime(x)])

        ppservers = ("127.0.0.1:PORT",)
        job_server = pp.Server(ncpus=0, ppservers=ppservers, secret="SECRET")
        inputs = (1000, 2000, 3000, 4000)
        jobs = [(i, job_server.submit(sum_primes, (i,), (isprime,), ("math",))) for i in inputs]
        for i, job in jobs:
            print("Sum of primes below", i, "is", job())
        print(job_server.get_active_nodes())
        job_server.print_stats()
    """).replace("PORT", str(port)).replace("SECRET", SECRET))
    with Node(port=port, workers=2):
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    primes = [n for n in range(2, 4000) if all(n % d for d in range(2, int(n ** 0.5) + 1))]
    assert "Sum of primes below 4000 is %d\n" % sum(primes) in out.stdout
    assert "'127.0.0.1:%d': 2" % port in out.stdout
    assert "Job execution statistics" in out.stdout


def test_two_nodes_share_by_capacity():
    with Node(workers=1) as small, Node(workers=3) as big:
        server = remote_server(small.addr, big.addr)
        try:
            wait_until(lambda: connected(server, small.addr) and connected(server, big.addr),
                       what="both nodes connected")
            tasks = [server.submit(jobs.sleep_and_return, (0.02, i)) for i in range(120)]
            assert [t() for t in tasks] == list(range(120))
            stats = server.get_stats()
            assert stats[small.addr].njobs + stats[big.addr].njobs == 120
            assert stats[big.addr].njobs > 1.8 * stats[small.addr].njobs, stats
        finally:
            server.destroy()


def test_local_and_remote_share_the_queue(node):
    server = remote_server(node.addr, ncpus=1)
    try:
        wait_until(lambda: connected(server, node.addr), what="node connected")
        tasks = [server.submit(jobs.sleep_and_return, (0.02, i)) for i in range(60)]
        assert [t() for t in tasks] == list(range(60))
        stats = server.get_stats()
        assert stats["local"].njobs > 0 and stats[node.addr].njobs > 0, stats
    finally:
        server.destroy()


def test_wrong_secret_is_reported_once_and_jobs_run_elsewhere(tmp_path):
    with Node(workers=1) as node:
        script = tmp_path / "wrong_secret.py"
        script.write_text(textwrap.dedent("""
            import time
            import pp

            def double(x):
                return 2 * x

            server = pp.Server(1, ppservers=(%r,), secret="not-the-secret")
            time.sleep(1.5)  # several redials
            print([server.submit(double, (i,))() for i in range(5)])
            print(sorted(server.get_active_nodes().items()))
        """ % node.addr))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
        log = node.stop()
    assert out.returncode == 0, out.stderr
    assert "[0, 2, 4, 6, 8]" in out.stdout
    assert "[('local', 1)]" in out.stdout
    warnings = [line for line in out.stderr.splitlines() if "wrong secret" in line]
    assert len(warnings) == 1, out.stderr
    assert node.addr in warnings[0]
    assert "wrong secret" in log


def test_sigkill_of_a_node_mid_run_loses_and_duplicates_nothing(tmp_path):
    """Jobs in flight on a killed node run elsewhere; every callback runs once."""
    with Node(workers=2) as doomed, Node(workers=2) as survivor:
        server = remote_server(doomed.addr, survivor.addr)
        calls = []
        lock = threading.Lock()

        def done(i, result):
            with lock:
                calls.append((i, result))

        try:
            wait_until(lambda: connected(server, doomed.addr) and connected(server, survivor.addr),
                       what="both nodes connected")
            started = tmp_path / "started"
            tasks = [server.submit(jobs.touch_then_sleep, (str(started) + str(i), 0.2, i),
                                   callback=done, callbackargs=(i,))
                     for i in range(40)]
            wait_until(lambda: any(tmp_path.iterdir()), what="a job to start")
            doomed.kill()
            assert [t() for t in tasks] == list(range(40))
            server.wait()
            assert sorted(calls) == [(i, i) for i in range(40)]
            assert not connected(server, doomed.addr)
            stats = server.get_stats()
            assert stats[survivor.addr].njobs >= 20, stats
        finally:
            server.destroy()


def test_a_restarted_node_is_reconnected():
    port = free_port()
    node = Node(port=port, workers=1)
    server = remote_server(node.addr)
    try:
        assert server.submit(jobs.square, (3,))() == 9
        node.kill()
        wait_until(lambda: not connected(server, node.addr), what="the node to be seen gone")
        task = server.submit(jobs.square, (4,))  # waits: no node can run it
        node = Node(port=port, workers=2)
        assert task() == 16
        wait_until(lambda: server.get_active_nodes().get(node.addr) == 2,
                   what="the node back with its new size")
    finally:
        server.destroy()
        node.stop()


def test_destroy_with_jobs_on_a_node_returns_promptly(node):
    server = remote_server(node.addr)
    tasks = [server.submit(jobs.sleep_and_return, (5, i)) for i in range(4)]
    # get_stats() names a node once it has connected, as pp's does.
    wait_until(lambda: connected(server, node.addr) and server.get_stats()[node.addr].njobs == 0,
               what="node connected")
    server.destroy()
    with pytest.raises(pp.DestroyedServerError):
        tasks[0]()


def test_autodiscovery_over_loopback_broadcast():
    """`ppserver -a -b 127.255.255.255` and a "*:PORT" client with broadcast=."""
    port = free_port()
    with Node("-a", "-b", "127.255.255.255", port=port, workers=1) as first:
        server = pp.Server(0, ppservers=("*:%d" % port,), secret=SECRET,
                           broadcast="127.255.255.255")
        try:
            assert server.submit(jobs.square, (5,))() == 25
            assert server.get_active_nodes() == {"local": 0, first.addr: 1}
        finally:
            server.destroy()


def test_a_node_announced_while_jobs_run_joins(tmp_path):
    port = free_port()
    server = pp.Server(0, ppservers=("*:%d" % port,), secret=SECRET,
                       broadcast="127.255.255.255")
    try:
        task = server.submit(jobs.square, (6,))  # nobody to run it yet
        with Node("-a", "-b", "127.255.255.255", port=port, workers=1) as late:
            assert task() == 36
            assert connected(server, late.addr)
    finally:
        server.destroy()


def test_autodiscovery_with_the_legacy_default_secret(monkeypatch):
    """A node without a secret (loopback only) announces under legacy pp's
    default, and a client without one verifies its announcements."""
    monkeypatch.delenv("PP_SECRET", raising=False)
    port = free_port()
    with Node("-a", "-b", "127.255.255.255", port=port, workers=1, secret=None) as node:
        server = pp.Server(0, ppservers=("*:%d" % port,), broadcast="127.255.255.255")
        try:
            assert server.submit(jobs.square, (7,))() == 49
            assert connected(server, node.addr)
        finally:
            server.destroy()


def test_autodiscovery_ignores_a_node_with_another_secret(tmp_path):
    """Its announcements fail authentication: the client never dials it,
    and says why in one warning."""
    port = free_port()
    with Node("-a", "-b", "127.255.255.255", port=port, workers=1, secret="another secret"):
        script = tmp_path / "other_secret.py"
        script.write_text(textwrap.dedent("""
            import time
            import pp

            server = pp.Server(1, ppservers=("*:%d",), secret=%r, broadcast="127.255.255.255")
            time.sleep(1.5)  # probes, and the node's answers
            print(sorted(server.get_active_nodes().items()))
        """ % (port, SECRET)))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "[('local', 1)]" in out.stdout
    warnings = [line for line in out.stderr.splitlines() if "discovery: ignored" in line]
    assert len(warnings) == 1, out.stderr
    assert "failing authentication" in warnings[0]


def test_bad_ppservers_entries_are_refused():
    with pytest.raises(ValueError, match="port"):
        pp.Server(0, ppservers=("127.0.0.1:notaport",))
    with pytest.raises(ValueError, match=r"10\.0\.\*"):
        pp.Server(0, ppservers=("10.0.*",))
    with pytest.raises(ValueError, match="broadcast"):
        pp.Server(0, ppservers=("*",), broadcast="not-an-address")


NETNS_SCRIPT = r"""
set -e
ip link set lo up
ip link add v0 type veth peer name v1
ip addr add 10.77.0.1/24 dev v0
ip link set v0 up
ip link set v1 up
ip route add default dev v0
"{ppserver}" -a -p {port} -s {secret} -w 1 &
node=$!
trap 'kill $node' EXIT
"{python}" "{client}"
"""

NETNS_CLIENT = """
import pp

def cube(x):
    return x ** 3

server = pp.Server(0, ppservers=("*:{port}",), secret="{secret}")
print("RESULT", server.submit(cube, (3,))(), sorted(server.get_active_nodes()))
server.destroy()
"""


@pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("ip") is None,
                    reason="needs unshare and ip to make a network namespace")
def test_legacy_wildcard_discovery_inside_a_network_namespace(tmp_path):
    """The legacy "*:PORT" (broadcast to 255.255.255.255) inside a namespace
    the test makes, where a broadcast reaches nothing but its own veth."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a network namespace here: %s" % probe.stderr.decode().strip())
    port = free_port()
    client = tmp_path / "client.py"
    client.write_text(NETNS_CLIENT.format(port=port, secret=SECRET))
    script = NETNS_SCRIPT.format(ppserver=PPSERVER, python=sys.executable, port=port,
                                 secret=SECRET, client=client)
    out = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0 and "veth" in out.stderr and "RESULT" not in out.stdout:
        pytest.skip("cannot make a veth pair here: %s" % out.stderr.strip())
    assert "RESULT 27 ['10.77.0.1:%d', 'local']" % port in out.stdout, out.stderr


def test_function_blob_unpickles_without_pp():
    """A node's Python need not have pp: the shipped blob is plain data."""
    from pp import _source

    blob = _source.Shipper().ship(jobs.sum_of_cubes_plus_one, (jobs.helper_cube,), (),
                                  ("math",), None).blob
    check = "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read())[0])"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", check], input=blob,
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == "sum_of_cubes_plus_one"


def test_legacy_node_tables(node):
    """get_stats() and autopp_list name a node once it has connected, as pp
    does; autopp_list drops it to 0 when it goes away."""
    never = "127.0.0.1:%d" % free_port()
    server = remote_server(node.addr, never, ncpus=1)
    try:
        wait_until(lambda: connected(server, node.addr), what="node connected")
        assert server.submit(jobs.square, (3,))() == 9
        assert sorted(server.get_stats()) == sorted(["local", node.addr])
        assert server.autopp_list == {node.addr: 2}
        node.kill()
        wait_until(lambda: server.autopp_list == {node.addr: 0}, what="node counted out")
        assert node.addr in server.get_stats()
    finally:
        server.destroy()
