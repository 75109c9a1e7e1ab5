"""Several client threads using one server at once."""

import threading

import jobs


def run_threads(target, n):
    errors = []

    def wrapped(i):
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrapped, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors


def test_same_task_from_many_threads(server, tmp_path):
    gate = tmp_path / "gate"
    task = server.submit(jobs.touch_then_wait, (str(tmp_path / "started"), str(gate), [1, 2, 3]))
    results = [None] * 8
    ready = threading.Barrier(9)

    def call(i):
        ready.wait(30)
        results[i] = task()

    threads = threading.Thread(target=run_threads, args=(call, 8), daemon=True)
    threads.start()
    ready.wait(30)  # every thread is about to block in task()
    gate.touch()
    threads.join(90)
    assert not threads.is_alive()
    assert results == [[1, 2, 3]] * 8
    assert all(r is results[0] for r in results)  # unpickled once


def test_same_task_output_printed_once(server, capfd):
    task = server.submit(jobs.print_and_return, ("printed-once-4b8e", 1))
    results = []
    run_threads(lambda i: results.append(task()), 6)
    assert results == [1] * 6
    out, _ = capfd.readouterr()
    assert out.count("printed-once-4b8e") == 1


def test_different_tasks_from_many_threads(server):
    tasks = [server.submit(jobs.sleep_and_return, (0.01, i)) for i in range(40)]
    results = {}

    def call(i):
        for k in range(i, 40, 8):
            results[k] = tasks[k]()

    run_threads(call, 8)
    assert results == {i: i for i in range(40)}


def test_submit_from_many_threads(server):
    results = {}
    lock = threading.Lock()

    def submit_many(i):
        mine = [(i, j, server.submit(jobs.add, (i * 1000, j))) for j in range(60)]
        for a, b, t in mine:
            value = t()
            with lock:
                results[(a, b)] = value

    run_threads(submit_many, 6)
    assert len(results) == 6 * 60
    assert all(v == a * 1000 + b for (a, b), v in results.items())
    assert server.get_stats()["local"].njobs == 6 * 60


def test_wait_from_many_threads(server, tmp_path):
    gate = tmp_path / "gate"
    tasks = [server.submit(jobs.wait_for_path, (str(gate), i), group="g%d" % (i % 3))
             for i in range(6)]
    ready = threading.Barrier(7)

    def wait_group(i):
        ready.wait(30)
        server.wait("g%d" % (i % 3) if i < 3 else None)

    waiter = threading.Thread(target=run_threads, args=(wait_group, 6), daemon=True)
    waiter.start()
    ready.wait(30)
    gate.touch()
    waiter.join(90)
    assert not waiter.is_alive()
    assert [t() for t in tasks] == list(range(6))


def test_callbacks_and_task_calls_mixed(server):
    seen = []
    lock = threading.Lock()

    def callback(i, value):
        with lock:
            seen.append((i, value))

    tasks = [server.submit(jobs.square, (i,), callback=callback, callbackargs=(i,))
             for i in range(30)]
    results = {}

    def call(i):
        for k in range(i, 30, 5):
            results[k] = tasks[k]()

    run_threads(call, 5)
    assert results == {i: i * i for i in range(30)}
    server.wait()
    assert sorted(seen) == [(i, i * i) for i in range(30)]
