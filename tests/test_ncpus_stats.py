"""get_ncpus/set_ncpus at run time, get_active_nodes, get_stats, print_stats."""

import pytest

import pp
import jobs
from helpers import call_within, wait_until, worker_pids


@pytest.fixture
def baseline():
    """Worker processes that existed before the test (not the test's own)."""
    return set(worker_pids())


def own_workers(baseline):
    return set(worker_pids()) - baseline


def test_set_ncpus_grows_and_shrinks_live(baseline):
    server = pp.Server(ncpus=1)
    try:
        assert server.get_ncpus() == 1
        assert wait_until(lambda: len(own_workers(baseline)) == 1)
        assert server.submit(jobs.square, (2,))() == 4
        server.set_ncpus(3)
        assert server.get_ncpus() == 3
        assert wait_until(lambda: len(own_workers(baseline)) == 3), own_workers(baseline)
        # The new workers get the source of a function the first one has cached.
        assert [t() for t in [server.submit(jobs.square, (i,)) for i in range(9)]] == \
            [i * i for i in range(9)]
        server.set_ncpus(1)
        assert wait_until(lambda: server.get_ncpus() == 1)
        assert wait_until(lambda: len(own_workers(baseline)) == 1), own_workers(baseline)
        assert server.submit(jobs.square, (12,))() == 144
        server.set_ncpus(0)
        assert wait_until(lambda: server.get_ncpus() == 0)
        assert wait_until(lambda: len(own_workers(baseline)) == 0), own_workers(baseline)
        server.set_ncpus(2)
        assert wait_until(lambda: len(own_workers(baseline)) == 2)
        assert server.submit(jobs.square, (11,))() == 121
    finally:
        server.destroy()
    assert wait_until(lambda: len(own_workers(baseline)) == 0)


def test_set_ncpus_autodetect(baseline):
    server = pp.Server(ncpus=1)
    try:
        server.set_ncpus()
        n = server.get_ncpus()
        assert n >= 1
        assert wait_until(lambda: len(own_workers(baseline)) == n)
        server.set_ncpus(1)
        server.set_ncpus("autodetect")
        assert server.get_ncpus() == n
    finally:
        server.destroy()


def test_jobs_queued_on_zero_workers_run_after_set_ncpus(baseline):
    server = pp.Server(ncpus=0)
    try:
        task = server.submit(jobs.square, (8,))
        assert task.finished is False
        server.set_ncpus(1)
        assert call_within(task, 60) == 64
    finally:
        server.destroy()


@pytest.mark.parametrize("bad", ["3", 1.5, None, [1]])
def test_set_ncpus_type_error(server, bad):
    with pytest.raises(TypeError):
        server.set_ncpus(bad)
    assert server.get_ncpus() == 2


def test_set_ncpus_negative_is_value_error(server):
    with pytest.raises(ValueError):
        server.set_ncpus(-1)
    assert server.get_ncpus() == 2


def test_shrink_while_jobs_run_keeps_all_results(baseline):
    server = pp.Server(ncpus=3)
    try:
        tasks = [server.submit(jobs.sleep_and_return, (0.1, i * i)) for i in range(15)]
        server.set_ncpus(1)
        assert [call_within(t, 60) for t in tasks] == [i * i for i in range(15)]
        assert wait_until(lambda: server.get_ncpus() == 1)
        assert wait_until(lambda: len(own_workers(baseline)) == 1), own_workers(baseline)
    finally:
        server.destroy()


def test_grow_while_jobs_run(baseline):
    server = pp.Server(ncpus=1)
    try:
        tasks = [server.submit(jobs.sleep_and_return, (0.05, i)) for i in range(12)]
        server.set_ncpus(3)
        assert [call_within(t, 60) for t in tasks] == list(range(12))
        assert wait_until(lambda: len(own_workers(baseline)) == 3)
    finally:
        server.destroy()


def test_get_active_nodes(server):
    assert server.get_active_nodes() == {"local": 2}
    server.set_ncpus(1)
    assert wait_until(lambda: server.get_active_nodes() == {"local": 1})


def test_get_stats(server):
    tasks = [server.submit(jobs.sleep_and_return, (0.2, i)) for i in range(3)]
    tasks += [server.submit(jobs.square, (i,)) for i in range(4)]
    for t in tasks:
        t()
    server.wait()
    stats = server.get_stats()
    assert isinstance(stats, dict)
    assert "local" in stats
    local = stats["local"]
    assert local.ncpus == 2
    assert local.njobs == 7
    # Three jobs slept 0.2 s each: at least that much job time was counted.
    assert isinstance(local.time, float)
    assert local.time >= 0.5
    assert hasattr(local, "rworker")
    assert set(stats) == {"local"}


def test_get_stats_counts_jobs_incrementally(server1):
    assert server1.get_stats()["local"].njobs == 0
    server1.submit(jobs.square, (1,))()
    server1.wait()
    assert server1.get_stats()["local"].njobs == 1
    for i in range(5):
        server1.submit(jobs.square, (i,))()
    server1.wait()
    assert server1.get_stats()["local"].njobs == 6


def test_print_stats(server, capfd):
    for t in [server.submit(jobs.square, (i,)) for i in range(6)]:
        t()
    server.wait()
    server.print_stats()
    out, _ = capfd.readouterr()
    assert " job count | % of all jobs | job time sum | time per job | job server" in out
    assert "Time elapsed since server creation" in out
    assert "active tasks," in out
    assert "cores" in out
    lines = out.splitlines()
    rows = [line for line in lines if line.rstrip().endswith("| local")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].split("|")]
    assert cells[0] == "6"
    assert float(cells[1]) == 100.0
    assert cells[4] == "local"
    tail = [line for line in lines if "active tasks," in line]
    assert tail[0].split() == ["0", "active", "tasks,", "2", "cores"]
