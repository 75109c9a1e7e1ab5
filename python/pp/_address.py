"""ppservers entries: what a user writes to name a node, as (host, port).

Kept apart from _server.py so the rules (IPv6 brackets, default port,
autodiscovery patterns, the Slurm allocation) are pure functions a test
can call directly.
"""

from __future__ import annotations

from typing import Mapping

from pp._slurm import allocation_hosts

DEFAULT_PORT = 60000

# The entry that stands for the nodes of the client's Slurm allocation
# ("slurm" or "slurm:PORT"). A host really called slurm is named by its
# full name, or with a trailing dot ("slurm.:PORT").
SLURM_ENTRY = "slurm"


def expand_ppserver(entry: str, default_port: int = DEFAULT_PORT,
                    environ: Mapping[str, str] | None = None) -> list[tuple[str, int]]:
    """The nodes a ppservers entry names, as (host, port): the allocation's
    hosts for "slurm" and "slurm:PORT" (pp._slurm, read from environ,
    default os.environ), else the one node parse_ppserver gives.

    The client's own host is among the allocation's, and stays: its
    ppserver is a node like the others (docs/DEPLOY.md).
    """
    host, port = parse_ppserver(entry, default_port)
    if host != SLURM_ENTRY:
        return [(host, port)]
    try:
        hosts = allocation_hosts(environ)
    except ValueError as exc:
        raise ValueError("ppservers entry %r: %s" % (entry, exc)) from None
    return [(name, port) for name in hosts]


def parse_ppserver(entry: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """Splits a ppservers entry into (host, port).

    Accepted forms: "host", "host:port", "1.2.3.4:5", "[::1]:35000",
    "[::1]", a bare IPv6 literal such as "::1" or "fe80::1" (its colons
    leave no room for a port, so the whole entry is the host), and the
    autodiscovery patterns "*", "*:port", "10.0.*.*", "10.0.*.*:port"
    (returned with the '*'s in the host; the Go core checks the mask).
    The host comes back without brackets; the port is default_port when
    the entry has none.

    Raises ValueError naming the entry for anything else: an unclosed or
    misplaced bracket, a port that is not a number from 1 to 65535, an
    empty host, a bracketed or bare host that is not an IPv6 address, or
    an IPv6 pattern (autodiscovery broadcasts over IPv4 only).
    """
    if "*" in entry:
        if _looks_ipv6(entry):
            raise ValueError("ppservers entry %r: autodiscovery patterns are IPv4 only; "
                             "name an IPv6 node by its address, as in '[::1]:35000'"
                             % (entry,))
        # As legacy pp: the first ':' separates the port.
        host, sep, port_text = entry.partition(":")
    elif entry.startswith("["):
        close = entry.find("]")
        if close < 0:
            raise ValueError("ppservers entry %r: '[' without a closing ']'" % (entry,))
        host, rest = entry[1:close], entry[close + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("ppservers entry %r: after ']' only ':port' may follow, not %r"
                             % (entry, rest))
        sep, port_text = rest[:1], rest[1:]
        _check_ipv6(entry, host)
    elif entry.count(":") > 1:
        host, sep, port_text = entry, "", ""
        _check_ipv6(entry, host)
    else:
        host, sep, port_text = entry.partition(":")
        if "[" in host or "]" in host:
            raise ValueError("ppservers entry %r: a bracket may only enclose an IPv6 address, "
                             "as in '[::1]:35000'" % (entry,))
    if not host:
        raise ValueError("ppservers entry %r: no host" % (entry,))
    return host, _port(entry, port_text) if sep else default_port


def join_host_port(host: str, port: int) -> str:
    """The "host:port" the Go core dials and names the node by: an IPv6
    host goes in brackets, as Go's net.JoinHostPort writes it, so that
    the port stays separable and the name reads like legacy pp's."""
    if ":" in host:
        return "[%s]:%d" % (host, port)
    return "%s:%d" % (host, port)


def _port(entry: str, text: str) -> int:
    # Stricter than int(), which takes " 5", "+5", "5_0" and non-ASCII digits.
    if text.isascii() and text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise ValueError("ppservers entry %r: port %r is not a number from 1 to 65535"
                     % (entry, text))


def _looks_ipv6(pattern: str) -> bool:
    """Whether a pattern is an IPv6 one ("::*", "fe80:0:0:0:0:0:0:*",
    "[::*]:5") rather than an IPv4 mask with a bad port ("*:1:2")."""
    if "[" in pattern or "::" in pattern:
        return True
    first = pattern.find(":")
    return pattern.count(":") > 1 and "*" not in pattern[:first]


def _check_ipv6(entry: str, host: str) -> None:
    if not host:
        return  # "[]": the caller says there is no host
    import ipaddress  # only IPv6 entries pay for the import

    try:
        ipaddress.IPv6Address(host)  # a zone ("fe80::1%eth0") is allowed
    except ValueError:
        if ":" not in host:
            hint = "brackets are for IPv6 addresses; write a host name as 'host:port'"
        else:
            hint = "write an IPv6 address with a port as '[::1]:35000'"
        raise ValueError("ppservers entry %r: %r is not an IPv6 address (%s)"
                         % (entry, host, hint)) from None
