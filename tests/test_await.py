"""``await task``: the core wakes the event loop through a pipe (pp._aio),
so these check what that path must get right: successive loops, loops in
several threads, one task awaited twice, a cancelled awaiter, destroy()
while tasks are awaited, and no file descriptor left behind."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

import pytest

import jobs
import pp

pytestmark = pytest.mark.ppgo_only

# No await here should take long; this bounds each so a regression fails
# instead of hanging the suite.
WITHIN = 30.0


def run(coro):
    """asyncio.run(coro), failing the test if it takes more than WITHIN."""
    return asyncio.run(asyncio.wait_for(coro, WITHIN))


def test_await_gives_results_exceptions_and_timeouts(server):
    async def main():
        assert await server.submit(jobs.square, (7,)) == 49
        with pytest.raises(ValueError, match="no good"):
            await server.submit(jobs.raise_value_error, ("no good",))
        with pytest.raises(pp.JobTimeoutError):
            await server.submit(jobs.sleep_and_return, (3600, "never"), timeout=0.5)
        done = server.submit(jobs.square, (3,))
        done.wait()
        assert await done == 9  # finished before it was awaited

    run(main())


def test_await_in_successive_event_loops(server):
    # Each asyncio.run makes a new loop; the pipe must follow it.
    for round_ in range(3):
        async def main():
            tasks = [server.submit(jobs.square, (i,)) for i in range(50)]
            return await asyncio.gather(*tasks)

        assert run(main()) == [i * i for i in range(50)], "round %d" % round_


def test_loops_in_two_threads_await_at_once(server):
    results: dict[int, list[int]] = {}

    def in_thread(k: int) -> None:
        async def main():
            return await asyncio.gather(*(server.submit(jobs.square, (k * 100 + i,))
                                          for i in range(100)))
        results[k] = run(main())

    threads = [threading.Thread(target=in_thread, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WITHIN * 2)
    assert results == {k: [(k * 100 + i) ** 2 for i in range(100)] for k in range(2)}


def test_a_task_awaited_twice_one_awaiter_cancelled(server, tmp_path):
    gate = tmp_path / "gate"
    task = server.submit(jobs.wait_for_path, (str(gate), "ran"))

    async def main():
        first = asyncio.ensure_future(task)
        second = asyncio.ensure_future(task)
        await asyncio.sleep(0.2)
        first.cancel()
        gate.touch()
        assert await second == "ran"
        with pytest.raises(asyncio.CancelledError):
            await first

    run(main())


def test_await_a_task_with_a_callback_sees_the_callback_done(server):
    seen = []

    async def main():
        task = server.submit(jobs.sleep_and_return, (0.2, 5), callback=seen.append)
        assert await task == 5
        assert seen == [5]

    run(main())


def test_destroy_on_the_loop_ends_the_awaits(tmp_path):
    server = pp.Server(ncpus=2)  # one worker stays stuck, the other runs square

    async def main():
        stuck = server.submit(jobs.wait_for_path, (str(tmp_path / "never"), 1))
        finished = server.submit(jobs.square, (4,))
        assert await finished == 16
        asyncio.get_running_loop().call_later(0.2, server.destroy)
        with pytest.raises(pp.DestroyedServerError):
            await stuck

    try:
        run(main())
    finally:
        server.destroy()


def test_destroy_from_another_thread_ends_the_awaits(tmp_path):
    server = pp.Server(ncpus=1)

    async def main():
        stuck = [server.submit(jobs.wait_for_path, (str(tmp_path / "never"), i))
                 for i in range(3)]
        threading.Timer(0.3, server.destroy).start()
        outcomes = await asyncio.gather(*stuck, return_exceptions=True)
        assert all(isinstance(o, pp.DestroyedServerError) for o in outcomes), outcomes

    try:
        run(main())
    finally:
        server.destroy()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_no_descriptor_left_after_destroy():
    kept = []  # destroyed servers still referenced: destroy() itself must close the pipe

    def one_server() -> None:
        server = pp.Server(ncpus=1)
        kept.append(server)
        try:
            async def main():
                return await server.submit(jobs.square, (5,))

            assert run(main()) == 25
            assert run(main()) == 25  # a second loop takes the pipe over
        finally:
            server.destroy()
        gc.collect()

    one_server()  # the Go runtime's own descriptors open once, here
    before = open_fds()
    for _ in range(5):
        one_server()
    assert open_fds() <= before
