"""Shared fixtures for the pp test suites.

The tests import the *installed* ``pp`` (ppgo, or legacy pp 1.7.0 to validate
the tests themselves); run them from a directory outside the repository.
"""

from __future__ import annotations

import os

import pytest

import pp
from helpers import worker_pids  # noqa: F401  (re-exported for the suites)

IS_PPGO = getattr(pp, "__distribution__", None) == "ppgo"


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "ppgo_only: behaviour ppgo guarantees beyond legacy pp 1.7.0 "
        "(skipped unless pp.__distribution__ == 'ppgo')")


def pytest_collection_modifyitems(config, items):
    # PP_TESTS_RUN_PPGO_ONLY=1 runs the ppgo_only tests against another pp too
    # (to see where legacy pp differs).
    if IS_PPGO or os.environ.get("PP_TESTS_RUN_PPGO_ONLY") == "1":
        return
    skip = pytest.mark.skip(reason="ppgo_only: needs pp.__distribution__ == 'ppgo'")
    for item in items:
        if "ppgo_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return "pp under test: %s %s from %s" % (
        getattr(pp, "__distribution__", "pp"), pp.version, pp.__file__)


def _serving(ncpus: int):
    job_server = pp.Server(ncpus=ncpus)
    try:
        yield job_server
    finally:
        job_server.destroy()


@pytest.fixture
def server():
    """A two-worker server, destroyed after the test."""
    yield from _serving(2)


@pytest.fixture
def server1():
    """A one-worker server (jobs run one after another, in order)."""
    yield from _serving(1)


@pytest.fixture
def one_worker():
    """A one-worker server and the set of worker PIDs that were already
    running before it started (so a test can tell its own worker apart)."""
    before = set(worker_pids())
    server = pp.Server(ncpus=1)
    try:
        yield server, before
    finally:
        server.destroy()
