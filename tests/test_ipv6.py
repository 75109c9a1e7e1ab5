"""IPv6: real ppserver processes listening on ::1, pp clients naming them
"[::1]:port". Only loopback is ever used; without an IPv6 loopback the
tests that need one skip and say why."""

from __future__ import annotations

import pytest

import jobs
import pp
from cluster import SECRET, Node, free_port, ipv6_loopback_missing
from ppserver_proc import PPServer, run

pytestmark = pytest.mark.ppgo_only

DEFAULT_SECRET = "epo20pdosl;dksldkmm"  # legacy pp's built-in secret

_missing = ipv6_loopback_missing()
needs_ipv6 = pytest.mark.skipif(bool(_missing), reason=_missing or "has ::1")


def _clean_env() -> dict:
    import os
    return {k: v for k, v in os.environ.items() if k != "PP_SECRET"}


@needs_ipv6
def test_jobs_run_on_a_ppserver_on_ipv6_loopback(capsys):
    with Node(interface="::1", workers=2) as node:
        assert node.addr == "[::1]:%d" % node.port
        server = pp.Server(ncpus=0, ppservers=(node.addr,), secret=SECRET)
        try:
            tasks = [server.submit(jobs.square, (i,)) for i in range(100)]
            t = server.submit(jobs.sum_of_cubes_plus_one, (3,),
                              depfuncs=(jobs.helper_cube, jobs.helper_plus_one))
            assert [task() for task in tasks] == [i * i for i in range(100)]
            assert t() == 10
            assert server.get_active_nodes() == {"local": 0, node.addr: 2}
            assert server.get_stats()[node.addr].njobs == 101
            capsys.readouterr()
            server.print_stats()
            assert "| " + node.addr + "\n" in capsys.readouterr().out
        finally:
            server.destroy()
        log = node.stop()
    assert "Listening on [::1]:%d " % node.port in log
    assert "client=[::1]:" in log  # the client came over IPv6


@needs_ipv6
@pytest.mark.parametrize("entry", ["[::1]", "::1"])
def test_ipv6_entries_without_a_port_take_the_default(entry, monkeypatch):
    """"[::1]" and a bare "::1" name port Server.default_port (60000 unless
    changed, as here, to a free one)."""
    with Node(interface="::1", workers=1) as node:
        monkeypatch.setattr(pp.Server, "default_port", node.port)
        server = pp.Server(ncpus=0, ppservers=(entry,), secret=SECRET)
        try:
            assert server.submit(jobs.square, (9,))() == 81
            assert server.get_active_nodes() == {"local": 0, node.addr: 1}
        finally:
            server.destroy()


@needs_ipv6
@pytest.mark.parametrize("interface", ["::1", "[::1]"])
def test_ppserver_on_ipv6_loopback_may_use_the_default_secret(interface):
    """::1 is loopback: no secret needed, as on 127.0.0.1; the banner
    brackets the address."""
    port = free_port("::1")
    with PPServer(["-i", interface, "-p", str(port), "-w", "1"], env=_clean_env()) as srv:
        srv.wait_listening()
        assert "Listening on [::1]:%d with 1 worker(s)" % port in srv.stderr
        server = pp.Server(ncpus=0, ppservers=("[::1]:%d" % port,), secret=DEFAULT_SECRET)
        try:
            assert server.submit(jobs.square, (7,))() == 49
        finally:
            server.destroy()


@needs_ipv6
def test_ppserver_interface_from_the_config_file(tmp_path):
    port = free_port("::1")
    config = tmp_path / "pp.ini"
    config.write_text("[general]\nsecret = %s\nworkers = 1\n[network]\ninterface = ::1\n"
                      "port = %d\n" % (SECRET, port))
    with PPServer(["-c", str(config)]) as srv:
        srv.wait_listening()
        assert "Listening on [::1]:%d " % port in srv.stderr
        server = pp.Server(ncpus=0, ppservers=("[::1]:%d" % port,), secret=SECRET)
        try:
            assert server.submit(jobs.square, (5,))() == 25
        finally:
            server.destroy()


@pytest.mark.parametrize("interface", ["::", "[::]", "2001:db8::1"])
def test_ppserver_refuses_ipv6_beyond_loopback_without_a_secret(interface):
    # Refused before it binds anything: nothing listens beyond loopback.
    r = run(["-i", interface, "-p", str(free_port())], env=_clean_env())
    assert r.returncode == 2, r
    assert "refusing to listen" in r.stderr and "-i ::1" in r.stderr, r.stderr


@pytest.mark.parametrize("interface", ["[::1", "127.0.0.1:35000", "[localhost]"])
def test_ppserver_refuses_a_malformed_interface(interface):
    r = run(["-i", interface, "-s", SECRET])
    assert r.returncode == 2, r
    assert "-i: " in r.stderr and interface in r.stderr, r.stderr
