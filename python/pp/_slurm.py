"""The "slurm" ppservers entry: the nodes of the Slurm allocation the client
runs in, from the compressed host list Slurm puts in its environment.

Slurm writes a job's nodes as a host list: host names separated by commas,
where brackets stand for ranges of numbers, as in "node[01-04,07]" or
"a[1-2],b3,c[08-10]-ib" (text may follow a bracket, and a name may have
several). A range keeps the zero padding of its first number.
"""

from __future__ import annotations

import os
from typing import Mapping

# The environment variables that hold the allocation's nodes, in the order
# they are read: SLURM_JOB_NODELIST since Slurm 2.x, SLURM_NODELIST before.
NODELIST_VARIABLES = ("SLURM_JOB_NODELIST", "SLURM_NODELIST")

# The most host names one list may expand to. Well above the largest Slurm
# allocations (the biggest clusters have some ten thousand nodes), and far
# below what a typo such as "node[1-1000000000]" would make a client build
# and dial.
MAX_HOSTS = 65536


def expand_hostlist(hostlist: str) -> list[str]:
    """The host names a Slurm host list stands for, in its order.

    "node[01-03,07],gpu1" gives ["node01", "node02", "node03", "node07",
    "gpu1"]; several brackets in one name give every combination, the
    last varying fastest. Raises ValueError naming the bad part of the
    list: an empty name, an unclosed, nested or stray bracket, a range
    that is empty, backwards or not made of digits, or more than
    MAX_HOSTS names in all.
    """
    blank = next((ch for ch in hostlist if ch.isspace()), None)
    if blank is not None:
        raise ValueError("Slurm host list %r: host names have no whitespace, this has %r"
                         % (hostlist, blank))
    hosts: list[str] = []
    for expr in _split_top_level(hostlist):
        if not expr:
            raise ValueError("Slurm host list %r: an empty host name (two commas in a row, "
                             "or one at an end)" % (hostlist,))
        parts = _parse_expr(hostlist, expr)
        count = 1
        for choices in parts:
            count *= len(choices)
        if len(hosts) + count > MAX_HOSTS:
            raise ValueError("Slurm host list %r: %r makes it more than %d hosts, the most "
                             "one list may name" % (hostlist, expr, MAX_HOSTS))
        names = [""]
        for choices in parts:
            names = [name + choice for name in names for choice in choices]
        hosts.extend(names)
    return hosts


def allocation_hosts(environ: Mapping[str, str] | None = None) -> list[str]:
    """The host names of the Slurm allocation the process runs in, from
    SLURM_JOB_NODELIST (else SLURM_NODELIST). Raises ValueError when
    neither is set, or the list is not a valid host list."""
    env = os.environ if environ is None else environ
    for variable in NODELIST_VARIABLES:
        hostlist = env.get(variable)
        if hostlist:
            try:
                return expand_hostlist(hostlist)
            except ValueError as exc:
                raise ValueError("%s: %s" % (variable, exc)) from None
    raise ValueError("not inside a Slurm allocation: neither %s is set (run the client "
                     "from sbatch or salloc)" % " nor ".join(NODELIST_VARIABLES))


def _split_top_level(hostlist: str) -> list[str]:
    """Splits at the commas outside brackets."""
    exprs, depth, start = [], 0, 0
    for i, ch in enumerate(hostlist):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            exprs.append(hostlist[start:i])
            start = i + 1
    exprs.append(hostlist[start:])
    return exprs


def _parse_expr(hostlist: str, expr: str) -> list[list[str]]:
    """One host expression as a sequence of choices: literal text is a
    single choice, a bracket the numbers it stands for."""
    parts: list[list[str]] = []
    pos = 0
    while pos < len(expr):
        open_at = expr.find("[", pos)
        close_at = expr.find("]", pos)
        if close_at >= 0 and (open_at < 0 or close_at < open_at):
            raise ValueError("Slurm host list %r: %r has a ']' with no '[' before it"
                             % (hostlist, expr))
        if open_at < 0:
            parts.append([expr[pos:]])
            break
        if open_at > pos:
            parts.append([expr[pos:open_at]])
        if close_at < 0:
            raise ValueError("Slurm host list %r: %r has a '[' that is not closed"
                             % (hostlist, expr))
        inside = expr[open_at + 1:close_at]
        if "[" in inside:
            raise ValueError("Slurm host list %r: %r has brackets inside brackets"
                             % (hostlist, expr))
        parts.append(_expand_ranges(hostlist, expr, inside))
        pos = close_at + 1
    return parts


def _expand_ranges(hostlist: str, expr: str, inside: str) -> list[str]:
    """"01-03,7" gives ["01", "02", "03", "7"]: each range as wide as its
    first number, as Slurm pads them."""
    numbers: list[str] = []
    for item in inside.split(","):
        lo, dash, hi = item.partition("-")
        if not _digits(lo) or dash and not _digits(hi):
            raise ValueError("Slurm host list %r: %r in %r is not a number or a range "
                             "such as 1-4" % (hostlist, item, expr))
        if not dash:
            numbers.append(lo)
            continue
        first, last = int(lo), int(hi)
        if last < first:
            raise ValueError("Slurm host list %r: range %r in %r runs backwards"
                             % (hostlist, item, expr))
        if len(numbers) + last - first + 1 > MAX_HOSTS:
            raise ValueError("Slurm host list %r: range %r in %r makes more than %d hosts, "
                             "the most one list may name" % (hostlist, item, expr, MAX_HOSTS))
        numbers.extend(str(n).zfill(len(lo)) for n in range(first, last + 1))
    return numbers


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
