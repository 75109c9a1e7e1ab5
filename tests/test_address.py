"""ppservers entries: the forms a user writes, IPv6 included, parsed by
pp._address.parse_ppserver and checked by pp.Server before anything starts."""

from __future__ import annotations

import importlib
import time

import pytest

import pp

pytestmark = pytest.mark.ppgo_only

# pp._address is ppgo's; under another pp these tests are skipped (ppgo_only).
_address = (importlib.import_module("pp._address")
            if getattr(pp, "__distribution__", None) == "ppgo" else None)


@pytest.mark.parametrize("entry, host, port", [
    ("node1", "node1", 60000),
    ("node1:35000", "node1", 35000),
    ("node1.example.com:1", "node1.example.com", 1),
    ("1.2.3.4:5", "1.2.3.4", 5),
    ("1.2.3.4", "1.2.3.4", 60000),
    ("[::1]:35000", "::1", 35000),
    ("[::1]", "::1", 60000),
    ("[fe80::1%eth0]:65535", "fe80::1%eth0", 65535),
    ("[::ffff:10.0.0.1]:7", "::ffff:10.0.0.1", 7),
    ("::1", "::1", 60000),
    ("fe80::1", "fe80::1", 60000),
    ("2001:db8::8:800:200c:417a", "2001:db8::8:800:200c:417a", 60000),
    # A bare IPv6 literal has no port: its last group is part of it.
    ("fe80::1:8080", "fe80::1:8080", 60000),
    # Autodiscovery entries, exactly as before: split at the first ':'.
    ("*", "*", 60000),
    ("*:35000", "*", 35000),
    ("10.0.*.*", "10.0.*.*", 60000),
    ("10.0.*.*:35000", "10.0.*.*", 35000),
])
def test_parse_ppserver(entry, host, port):
    assert _address.parse_ppserver(entry) == (host, port)


def test_parse_ppserver_default_port():
    assert _address.parse_ppserver("[::1]", 35001) == ("::1", 35001)
    assert _address.parse_ppserver("node1", 35001) == ("node1", 35001)
    assert _address.parse_ppserver("*", 35001) == ("*", 35001)
    assert _address.parse_ppserver("node1:5", 35001) == ("node1", 5)


@pytest.mark.parametrize("entry, why", [
    ("[::1", "without a closing ']'"),
    ("[::1]x", "after ']'"),
    ("[::1]35000", "after ']'"),
    ("[::1]:", "port ''"),
    ("[::1]:http", "port 'http'"),
    ("[::1]:0", "1 to 65535"),
    ("[node1]:35000", "not an IPv6 address"),
    ("[1.2.3.4]:5", "not an IPv6 address"),
    ("[]", "no host"),
    ("[]:35000", "no host"),
    ("node1]:35000", "bracket"),
    ("host:notaport", "port 'notaport'"),
    ("host:", "port ''"),
    ("host: 5", "port ' 5'"),
    ("host:+5", "port '+5'"),
    ("host:0", "1 to 65535"),
    ("host:65536", "1 to 65535"),
    ("host:1:2", "not an IPv6 address"),
    ("::1:35000x", "not an IPv6 address"),
    ("", "no host"),
    (":35000", "no host"),
    ("*:0", "1 to 65535"),
    ("*:x", "port 'x'"),
    ("*:1:2", "port '1:2'"),
    # IPv6 patterns: autodiscovery is IPv4 broadcast.
    ("::*", "IPv4 only"),
    ("fe80::*", "IPv4 only"),
    ("[fe80::*]:35000", "IPv4 only"),
    ("fe80:0:0:0:0:0:0:*", "IPv4 only"),
])
def test_parse_ppserver_errors(entry, why):
    with pytest.raises(ValueError) as e:
        _address.parse_ppserver(entry)
    assert str(e.value).startswith("ppservers entry %r: " % (entry,)), e.value
    assert why in str(e.value), e.value


@pytest.mark.parametrize("host, port, joined", [
    ("node1", 35000, "node1:35000"),
    ("1.2.3.4", 5, "1.2.3.4:5"),
    ("::1", 35000, "[::1]:35000"),
    ("fe80::1%eth0", 60000, "[fe80::1%eth0]:60000"),
    ("*", 60000, "*:60000"),
])
def test_join_host_port(host, port, joined):
    assert _address.join_host_port(host, port) == joined
    if "*" not in host:
        assert _address.parse_ppserver(joined) == (host, port)  # round trip


@pytest.mark.parametrize("entry", ["[::1", "[::1]x", "host:notaport", "host:0", "",
                                   "fe80::*", "[::*]:35000"])
def test_server_refuses_bad_entries_at_once(entry):
    """pp.Server raises ValueError naming the entry, before it starts
    anything, rather than dialling or probing something that cannot be."""
    start = time.monotonic()
    with pytest.raises(ValueError) as e:
        pp.Server(ncpus=0, ppservers=("node1:35000", entry), secret="s")
    assert str(e.value).startswith("ppservers entry %r: " % (entry,)), e.value
    assert time.monotonic() - start < 5
