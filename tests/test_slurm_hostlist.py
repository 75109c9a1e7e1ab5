"""The "slurm" ppservers entry: Slurm's compressed host lists expanded by
pp._slurm, and the entry read from the environment by pp._address."""

from __future__ import annotations

import importlib

import pytest

import pp

pytestmark = pytest.mark.ppgo_only

_ppgo = getattr(pp, "__distribution__", None) == "ppgo"
_slurm = importlib.import_module("pp._slurm") if _ppgo else None
_address = importlib.import_module("pp._address") if _ppgo else None


@pytest.mark.parametrize("hostlist, hosts", [
    ("node1", ["node1"]),
    ("node[01-04,07]", ["node01", "node02", "node03", "node04", "node07"]),
    ("a[1-2],b3,c[08-10]-ib", ["a1", "a2", "b3", "c08-ib", "c09-ib", "c10-ib"]),
    # The padding is the first number's width, kept past the next power of ten.
    ("n[8-11]", ["n8", "n9", "n10", "n11"]),
    ("n[098-101]", ["n098", "n099", "n100", "n101"]),
    ("n[007]", ["n007"]),
    # Several ranges and single numbers in one bracket, in the order written.
    ("gpu[5,1-2,9]", ["gpu5", "gpu1", "gpu2", "gpu9"]),
    # Several brackets in one name: every combination, the last fastest.
    ("rack[1-2]-n[1-2]", ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]),
    # A bracket may start a name, and names may be fully qualified.
    ("[1-2]x", ["1x", "2x"]),
    ("cn[1-2].cluster.example.org,login.example.org",
     ["cn1.cluster.example.org", "cn2.cluster.example.org", "login.example.org"]),
    ("n[1-1]", ["n1"]),
])
def test_expand_hostlist(hostlist, hosts):
    assert _slurm.expand_hostlist(hostlist) == hosts


@pytest.mark.parametrize("hostlist, bad", [
    ("", "an empty host name"),
    ("a,,b", "an empty host name"),
    ("a,", "an empty host name"),
    ("node[1-3", "'node[1-3' has a '[' that is not closed"),
    ("node1-3]", "'node1-3]' has a ']' with no '['"),
    ("node[1-[2]]", "brackets inside brackets"),
    ("node[]", "'' in 'node[]' is not a number"),
    ("node[1-]", "'1-' in 'node[1-]' is not a number"),
    ("node[-3]", "'-3' in 'node[-3]' is not a number"),
    ("node[a-c]", "'a-c' in 'node[a-c]' is not a number"),
    ("node[1,,2]", "'' in 'node[1,,2]' is not a number"),
    ("node[1-2-3]", "'1-2-3' in 'node[1-2-3]' is not a number"),
    ("node[٣]", "'٣' in 'node[٣]' is not a number"),  # Arabic-Indic three: not ASCII
    ("node[5-2]", "range '5-2' in 'node[5-2]' runs backwards"),
    ("node 1", "no whitespace, this has ' '"),
    ("n[0-99999999999]", "range '0-99999999999' in 'n[0-99999999999]' makes more than 65536"),
    ("a[1-300]b[1-300]", "'a[1-300]b[1-300]' makes it more than 65536 hosts"),
])
def test_expand_hostlist_rejects(hostlist, bad):
    with pytest.raises(ValueError) as exc:
        _slurm.expand_hostlist(hostlist)
    assert bad in str(exc.value)
    assert repr(hostlist) in str(exc.value)


def test_the_cap_is_on_the_whole_list():
    half = "a[1-%d]" % (_slurm.MAX_HOSTS // 2)
    assert len(_slurm.expand_hostlist(half)) == _slurm.MAX_HOSTS // 2
    assert len(_slurm.expand_hostlist(half + "," + half.replace("a", "b"))) == _slurm.MAX_HOSTS
    with pytest.raises(ValueError, match="'c1' makes it more than 65536"):
        _slurm.expand_hostlist(half + "," + half.replace("a", "b") + ",c1")


@pytest.mark.parametrize("entry, port", [("slurm", 60000), ("slurm:35000", 35000)])
def test_slurm_entry(entry, port):
    env = {"SLURM_JOB_NODELIST": "node[1-2]", "SLURM_NODELIST": "other1"}
    assert _address.expand_ppserver(entry, environ=env) == [("node1", port), ("node2", port)]


def test_slurm_entry_falls_back_to_slurm_nodelist():
    env = {"SLURM_NODELIST": "old[3-4]"}
    assert _address.expand_ppserver("slurm:5", environ=env) == [("old3", 5), ("old4", 5)]


def test_slurm_entry_outside_an_allocation():
    with pytest.raises(ValueError, match="ppservers entry 'slurm:5': not inside a Slurm "
                                         "allocation: neither SLURM_JOB_NODELIST nor "
                                         "SLURM_NODELIST is set"):
        _address.expand_ppserver("slurm:5", environ={})


def test_slurm_entry_with_a_bad_list_names_the_variable():
    with pytest.raises(ValueError, match=r"ppservers entry 'slurm': SLURM_JOB_NODELIST: Slurm "
                                         r"host list 'n\[1-': 'n\[1-' has a '\['"):
        _address.expand_ppserver("slurm", environ={"SLURM_JOB_NODELIST": "n[1-"})


@pytest.mark.parametrize("entry", ["slurm.:5", "slurm.example.org", "slurmctl:5", "10.0.0.1"])
def test_other_entries_are_one_node(entry):
    env = {"SLURM_JOB_NODELIST": "node[1-2]"}
    assert _address.expand_ppserver(entry, environ=env) == [_address.parse_ppserver(entry)]


def test_server_expands_the_slurm_entry(monkeypatch):
    # Nothing listens there: the nodes are only named, and pp.Server keeps
    # the expanded list as legacy pp keeps its ppservers.
    monkeypatch.setenv("SLURM_JOB_NODELIST", "127.0.0.[1-2]")
    monkeypatch.delenv("SLURM_NODELIST", raising=False)
    server = pp.Server(0, ppservers=("slurm:1",))
    try:
        assert server.ppservers == [("127.0.0.1", 1), ("127.0.0.2", 1)]
    finally:
        server.destroy()


def test_server_refuses_the_slurm_entry_outside_an_allocation(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_NODELIST", raising=False)
    monkeypatch.delenv("SLURM_NODELIST", raising=False)
    with pytest.raises(ValueError, match="not inside a Slurm allocation"):
        pp.Server(0, ppservers=("slurm",))
