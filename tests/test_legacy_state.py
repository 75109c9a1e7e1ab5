"""Legacy pp's semi-private Server state that published code reads (the
shims of pp/_legacy.py). tests/test_corpus.py runs the same uses against
pp 1.7.0; these check the edges."""

import os
import pickle

import pytest

import pp
import jobs
from helpers import call_within, wait_until

pytestmark = pytest.mark.ppgo_only  # the shims' own guarantees; see test_corpus.py for pp's


def test_queue_holds_jobs_no_worker_started(server1, tmp_path):
    gate = tmp_path / "gate"
    running = server1.submit(jobs.wait_for_path, (str(gate), "done"))
    waiting = [server1.submit(jobs.square, (i,)) for i in range(3)]
    assert wait_until(lambda: server1._Server__queue == [t.tid for t in waiting])
    gate.touch()
    assert call_within(running, 30) == "done"
    assert [t() for t in waiting] == [0, 1, 4]
    assert server1._Server__queue == []


def test_queue_is_read_only_until_destroy(server):
    with pytest.raises(AttributeError, match="read-only"):
        server._Server__queue = []
    server.destroy()
    server._Server__queue = []  # shutdown helpers do this after destroy()
    with pytest.raises(AttributeError):
        server._Server__queue = [1]


def test_workers_list_pids_and_whether_free(server1, tmp_path):
    gate = tmp_path / "gate"
    task = server1.submit(jobs.wait_for_path, (str(gate), 1))
    assert wait_until(lambda: [w.is_free for w in server1._Server__workers] == [False])
    (worker,) = server1._Server__workers
    assert os.path.exists("/proc/%d" % worker.pid)
    gate.touch()
    assert call_within(task, 30) == 1
    assert wait_until(lambda: [w.is_free for w in server1._Server__workers] == [True])
    server1.destroy()
    assert server1._Server__workers == []


def test_exiting_refuses_jobs_but_lets_submitted_ones_finish(server, tmp_path):
    gate = tmp_path / "gate"
    task = server.submit(jobs.wait_for_path, (str(gate), "finished"))
    server._exiting = True
    with pytest.raises(pp.DestroyedServerError):
        server.submit(jobs.square, (1,))
    gate.touch()
    assert call_within(task, 30) == "finished"
    server._exiting = False
    assert server.submit(jobs.square, (3,))() == 9
    server.destroy()
    server._exiting = False  # a destroyed server stays destroyed
    assert server._exiting
    with pytest.raises(pp.DestroyedServerError):
        server.submit(jobs.square, (1,))


def test_wildcard_entries_in_pp_shape():
    server = pp.Server(0, ppservers=("*:35123", "127.0.*.*"), broadcast="127.255.255.255")
    try:
        assert server.ppservers == []
        assert server.auto_ppservers == [
            (("0.0.0.0", 35123), ("127.255.255.255", 35123)),
            (("127.0.0.0", 60000), ("127.255.255.255", 60000)),
        ]
    finally:
        server.destroy()


def test_logger_and_protocol(server):
    assert server.logger.name == "pp"
    assert server.pickle_proto == 4


def test_insert_runs_a_pp_serialized_job(server):
    source = "def shifted(x, by):\n    return [v + by for v in x]\n"
    task = server.insert(pickle.dumps(("shifted", [source], ())), pickle.dumps(([1, 2], 10)))
    assert task() == [11, 12]


@pytest.mark.parametrize("sfunc, sargs, error", [
    (b"not a pickle", pickle.dumps(()), ValueError),
    (pickle.dumps(("f", ["def f(): pass"])), pickle.dumps(()), ValueError),
    ("text", pickle.dumps(()), TypeError),
])
def test_insert_rejects_what_is_not_a_pp_job(server, sfunc, sargs, error):
    with pytest.raises(error):
        server.insert(sfunc, sargs)


def test_insert_cannot_requeue_a_task(server):
    task = server.submit(jobs.square, (2,))
    sfunc = pickle.dumps(("square", ["def square(x):\n    return x * x\n"], ()))
    with pytest.raises(ValueError, match="re-runs"):
        server.insert(sfunc, pickle.dumps((3,)), task)
    server.destroy()
    with pytest.raises(pp.DestroyedServerError):
        server.insert(sfunc, pickle.dumps((3,)))


def test_pp_module_helpers(server):
    assert pp.get_class_hierarchy(jobs.Square) == [jobs.Shape, jobs.Square]
    assert pp.is_not_imported(jobs.Square, ()) and not pp.is_not_imported(jobs.Square, ("jobs",))
    assert isinstance(server.submit(jobs.square, (1,)), pp._Task)
