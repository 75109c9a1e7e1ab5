"""Groups, Server.wait(group) and pp.Template."""

import threading

import pp
import jobs
from helpers import call_within


def test_wait_group_waits_only_for_that_group(server, tmp_path):
    gate = tmp_path / "gate"
    log = tmp_path / "fast.log"
    slow = server.submit(jobs.wait_for_path, (str(gate), "slow"), group="slow")
    fast = [server.submit(jobs.append_line, (str(log), i), group="fast") for i in range(6)]
    call_within(server.wait, 60, "fast")
    assert sorted(log.read_text().split()) == [str(i) for i in range(6)]
    assert all(t.finished for t in fast), "task.finished is not set after wait(group)"
    assert slow.finished is False  # still blocked on its gate
    assert [t() for t in fast] == list(range(6))
    gate.touch()
    call_within(server.wait, 60, "slow")
    assert slow.finished is True
    assert slow() == "slow"


def test_wait_without_group_waits_for_all(server, tmp_path):
    gate = tmp_path / "gate"
    tasks = [server.submit(jobs.wait_for_path, (str(gate), g), group=g) for g in ("a", "b", "c")]
    tasks.append(server.submit(jobs.square, (3,)))  # the default group
    waiter = threading.Thread(target=server.wait, daemon=True)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # blocked: the gated jobs cannot finish
    gate.touch()
    waiter.join(60)
    assert not waiter.is_alive()
    assert all(t.finished for t in tasks), "task.finished is not set after wait()"
    assert [t() for t in tasks] == ["a", "b", "c", 9]


def test_wait_default_group(server, tmp_path):
    gate = tmp_path / "gate"
    other = server.submit(jobs.wait_for_path, (str(gate), "other"), group="other")
    plain = [server.submit(jobs.square, (i,)) for i in range(4)]
    call_within(server.wait, 60, "default")
    assert all(t.finished for t in plain), "task.finished is not set after wait('default')"
    assert other.finished is False
    gate.touch()
    assert call_within(other, 60) == "other"


def test_wait_for_unknown_or_empty_group_returns(server):
    call_within(server.wait, 10, "never-used-group")
    call_within(server.wait, 10)
    assert server.submit(jobs.square, (2,), group="g")() == 4
    call_within(server.wait, 10, "g")


def test_wait_after_destroy_returns():
    server = pp.Server(ncpus=1)
    server.submit(jobs.square, (2,))()
    server.destroy()
    call_within(server.wait, 10)


def test_template_submit(server):
    template = pp.Template(server, jobs.sum_of_cubes_plus_one,
                           (jobs.helper_cube, jobs.helper_plus_one))
    tasks = [template.submit(n) for n in range(5)]
    assert [t() for t in tasks] == [sum(i ** 3 for i in range(n)) + 1 for n in range(5)]


def test_template_with_modules_and_several_args(server):
    template = pp.Template(server, jobs.use_os_path, modules=("os.path",))
    assert template.submit("x", "y")() == "x/y"


def test_template_with_callback_and_group(server, tmp_path):
    results = []
    lock = threading.Lock()
    done = threading.Event()

    def collect(tag, value):
        with lock:
            results.append((tag, value))
            if len(results) == 4:
                done.set()

    gate = tmp_path / "gate"
    template = pp.Template(server, jobs.square, callback=collect, callbackargs=("sq",),
                           group="tmpl")
    blocker = server.submit(jobs.wait_for_path, (str(gate), 0), group="other")
    tasks = [template.submit(i) for i in range(1, 5)]
    call_within(server.wait, 60, "tmpl")
    assert blocker.finished is False
    assert done.wait(30)
    assert sorted(results) == [("sq", 1), ("sq", 4), ("sq", 9), ("sq", 16)]
    assert [t() for t in tasks] == [1, 4, 9, 16]
    gate.touch()
    assert blocker() == 0


def test_template_keyword_arguments(server):
    template = pp.Template(job_server=server, func=jobs.use_sqrt, depfuncs=(),
                           modules=("from math import sqrt",), callback=None,
                           callbackargs=(), group="kw", globals=None)
    assert template.submit(49.0)() == 7.0
    call_within(server.wait, 10, "kw")
