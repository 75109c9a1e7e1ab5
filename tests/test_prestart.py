"""Spare workers (pp._prestart): started by ``import pp``, taken by the first
Server only when they were started exactly as its workers would be, and
never left behind. Each test runs a client script in a process of its own
and checks what it reports, and which processes outlive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from helpers import clean_env, is_alive, wait_until, write_script

pytestmark = [pytest.mark.ppgo_only,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")]

PRELUDE = '''
import json, os, sys, time
import pp
from pp import _prestart

def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

def children():
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    found.append(int(entry))
        except (OSError, ValueError):
            pass
    return found

def report(**fields):
    print(json.dumps(fields), flush=True)

def worker_pids(server, count):
    """The pids of the server's workers once all count have started."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = sorted(pid for pid, _busy in server._engine.worker_states())
        if len(pids) == count:
            return pids
        time.sleep(0.01)
    raise SystemExit("the server did not start %d workers" % count)

def whoami(*_):
    import os, sys
    return {"pid": os.getpid(), "cwd": os.getcwd(), "path": sys.path,
            "executable": sys.executable, "env": os.environ.get("PPGO_TEST_VALUE")}

spares = _prestart.pids()
'''


def run(tmp_path, body: str, env: dict | None = None, **kwargs) -> list[dict]:
    """Runs PRELUDE + body as a script in tmp_path; returns what it reported."""
    path = write_script(tmp_path, "client.py", PRELUDE + body)
    proc = subprocess.run([sys.executable, str(path)], cwd=str(tmp_path),
                          env=env or clean_env(), capture_output=True, text=True,
                          timeout=120, **kwargs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def all_gone(pids: list[int]) -> bool:
    return wait_until(lambda: not any(is_alive(pid) for pid in pids))


def test_the_first_server_runs_its_jobs_on_the_spares(tmp_path):
    (out,) = run(tmp_path, '''
server = pp.Server(len(spares))
workers = worker_pids(server, len(spares))
ran_on = {server.submit(whoami, (i,))()["pid"] for i in range(4)}
report(spares=spares, workers=workers, ran_on=sorted(ran_on), left=_prestart.pids())
''')
    assert out["spares"], "import pp started no spares"
    assert out["workers"] == sorted(out["spares"])
    assert set(out["ran_on"]) <= set(out["spares"])
    assert out["left"] == []
    assert all_gone(out["spares"])


def test_spares_take_large_payloads_through_shared_memory(tmp_path):
    """A spare has its segment socket like any worker: large arguments and
    results (out of band, in a segment) go both ways."""
    (out,) = run(tmp_path, '''
def echo_with_pid(payload):
    import os
    return os.getpid(), payload

server = pp.Server(len(spares))
payload = os.urandom(4 << 20)
results = [server.submit(echo_with_pid, (payload,))() for _ in range(4)]
report(spares=spares, ran_on=sorted({pid for pid, _ in results}),
       intact=all(back == payload for _, back in results))
''')
    assert out["spares"], "import pp started no spares"
    assert set(out["ran_on"]) <= set(out["spares"])
    assert out["intact"]


# Each change the spares did not see, made after import pp, before Server().
CHANGES = {
    "sys.path": 'sys.path.insert(0, os.path.join(os.getcwd(), "added"))',
    "cwd": 'os.mkdir("elsewhere"); os.chdir("elsewhere")',
    "environment": 'os.environ["PPGO_TEST_VALUE"] = "set after import pp"',
    "interpreter": 'os.symlink(sys.executable, "python-link"); '
                   'sys.executable = os.path.abspath("python-link")',
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_setup_changed_after_import_discards_the_spares(tmp_path, change):
    (out,) = run(tmp_path, CHANGES[change] + '''
server = pp.Server(len(spares))
workers = worker_pids(server, len(spares))
job = server.submit(whoami, (0,))()
report(spares=spares, workers=workers, job=job, spares_alive=[p for p in spares if alive(p)])
''')
    assert out["spares"]
    assert not set(out["workers"]) & set(out["spares"]), "a worker with a stale setup"
    assert out["spares_alive"] == []
    job = out["job"]
    if change == "sys.path":
        assert str(tmp_path / "added") in job["path"]
    elif change == "cwd":
        assert job["cwd"] == str(tmp_path / "elsewhere")
    elif change == "environment":
        assert job["env"] == "set after import pp"
    else:
        assert job["executable"] == str(tmp_path / "python-link")


def test_other_options_discard_the_spares(tmp_path):
    # The spares unpickle with the default protocol; a Server told another
    # one needs workers started for it.
    (out,) = run(tmp_path, '''
server = pp.Server(len(spares), proto=2)
workers = worker_pids(server, len(spares))
report(spares=spares, workers=workers, result=server.submit(whoami, (0,))()["pid"])
''')
    assert not set(out["workers"]) & set(out["spares"])
    assert out["result"] in out["workers"]
    assert all_gone(out["spares"])


def test_a_smaller_server_takes_what_it_needs_and_a_larger_starts_the_rest(tmp_path):
    small, large = run(tmp_path, '''
first = pp.Server(1)
report(spares=spares, workers=worker_pids(first, 1),
       spares_alive=[p for p in spares if alive(p)])
first.destroy()
''') + run(tmp_path, '''
server = pp.Server(len(spares) + 1)
report(spares=spares, workers=worker_pids(server, len(spares) + 1))
''')
    assert len(small["workers"]) == 1 and small["workers"][0] in small["spares"]
    assert small["spares_alive"] == small["workers"], "the spares not needed still run"
    assert set(large["spares"]) < set(large["workers"])


def test_import_pp_starts_only_spares_and_no_server_leaves_none_behind(tmp_path):
    (out,) = run(tmp_path, '''
import threading
report(spares=spares, children=children(), threads=threading.active_count(),
       go_loaded="pp._core" in sys.modules)
''')
    assert out["spares"] and sorted(out["children"]) == sorted(out["spares"])
    assert out["threads"] == 1 and not out["go_loaded"], "import pp started more than spares"
    assert all_gone(out["spares"])


# A child forked from C (no Python at-fork handler runs) keeps the spares'
# pipes open: they die because their client did, not because a pipe ended.
@pytest.mark.parametrize("holder", ["alone", "with a child holding the pipes"])
def test_spares_die_with_a_killed_client(tmp_path, holder):
    path = write_script(tmp_path, "client.py", PRELUDE + '''
holder = 0
if sys.argv[1] != "alone":
    import ctypes
    holder = ctypes.PyDLL(None).fork()
    if holder == 0:
        time.sleep(600)
        os._exit(0)
report(spares=spares, holder=holder)
time.sleep(600)
''')
    proc = subprocess.Popen([sys.executable, str(path), holder], cwd=str(tmp_path),
                            env=clean_env(), stdout=subprocess.PIPE, text=True)
    try:
        out = json.loads(proc.stdout.readline())
        assert out["spares"] and all(is_alive(pid) for pid in out["spares"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    try:
        assert all_gone(out["spares"])
    finally:
        if out["holder"]:
            os.kill(out["holder"], signal.SIGKILL)


def test_a_forked_child_makes_its_own_server_and_the_parent_keeps_the_spares(tmp_path):
    child, parent = run(tmp_path, '''
pid = os.fork()
if pid == 0:
    left = _prestart.pids()
    server = pp.Server(1)
    job = server.submit(whoami, (0,))()
    server.destroy()
    report(who="child", left=left, ran_on=job["pid"])
    os._exit(0)
os.waitpid(pid, 0)
server = pp.Server(len(spares))
report(who="parent", spares=spares, workers=worker_pids(server, len(spares)))
''')
    assert child["who"] == "child" and parent["who"] == "parent"
    assert child["left"] == [], "the child took over its parent's spares"
    assert child["ran_on"] not in parent["spares"]
    assert parent["workers"] == sorted(parent["spares"])
    assert all_gone(parent["spares"])


@pytest.mark.parametrize("value", ["0", "off"])
def test_ppgo_prestart_off_starts_no_spares(tmp_path, value):
    env = dict(clean_env(), PPGO_PRESTART=value)
    (out,) = run(tmp_path, 'report(spares=spares, children=children())\n', env=env)
    assert out["spares"] == [] and out["children"] == []


def test_a_job_that_imports_pp_starts_no_spares(tmp_path):
    (out,) = run(tmp_path, '''
def spares_in_worker():
    import os
    import pp._prestart
    return pp._prestart.pids(), os.environ.get("PPGO_PRESTART")

server = pp.Server(1)
report(in_worker=server.submit(spares_in_worker, ())())
''')
    assert out["in_worker"] == [[], "0"]


def test_a_library_that_imports_pp_starts_no_spares(tmp_path):
    """Only the main script's import starts spares: a library may import pp
    and never make a Server."""
    write_script(tmp_path, "uses_pp.py", "import pp\nfrom pp import _prestart\n")
    path = write_script(tmp_path, "client.py", '''
import json, os
import uses_pp
print(json.dumps({"spares": uses_pp._prestart.pids()}), flush=True)
''')
    proc = subprocess.run([sys.executable, str(path)], cwd=str(tmp_path), env=clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == {"spares": []}


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_children_that_import_pp_start_no_spares(tmp_path, method):
    """Children of a multiprocessing pool that import pp, in a function of
    the main script (its globals are __main__'s after a fork), start no
    spares: a pool of them would each start a set."""
    path = write_script(tmp_path, "client.py", '''
import json, multiprocessing

def spares_in_child(_):
    import pp
    from pp import _prestart
    return _prestart.pids()

if __name__ == "__main__":
    with multiprocessing.get_context(%r).Pool(2) as pool:
        print(json.dumps(pool.map(spares_in_child, range(4))), flush=True)
''' % method)
    proc = subprocess.run([sys.executable, str(path)], cwd=str(tmp_path), env=clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == [[]] * 4


def test_two_servers_made_at_once_never_share_a_spare(tmp_path):
    (out,) = run(tmp_path, '''
import threading
barrier = threading.Barrier(2)
servers = []

def make():
    barrier.wait()
    servers.append(pp.Server(len(spares)))

threads = [threading.Thread(target=make) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
report(spares=spares, workers=[worker_pids(server, len(spares)) for server in servers],
       results=[server.submit(whoami, (0,))()["pid"] for server in servers])
''')
    first, second = out["workers"]
    assert not set(first) & set(second), "two servers run one worker process"
    assert out["results"][0] in first and out["results"][1] in second


def test_a_spare_no_server_takes_exits_by_itself_and_a_taken_one_stays(tmp_path):
    env = dict(clean_env(), PPGO_PRESTART="0")  # the script starts its own, short-lived
    (out,) = run(tmp_path, '''
_prestart.start(1, idle=0.5)
(idle,) = _prestart.pids()
deadline = time.monotonic() + 20
while alive(idle) and time.monotonic() < deadline:
    time.sleep(0.02)
expired = not alive(idle)
first = pp.Server(1)
replaced = worker_pids(first, 1)
first.destroy()

_prestart.start(1, idle=0.5)
(taken,) = _prestart.pids()
second = pp.Server(1)
time.sleep(1.5)  # three times the spare's idle limit
report(expired=expired, idle=idle, replaced=replaced, taken=taken,
       workers=worker_pids(second, 1), ran_on=second.submit(whoami, (0,))()["pid"])
''', env=env)
    assert out["expired"], "an idle spare lived past its limit"
    assert out["replaced"] != [out["idle"]]
    assert out["workers"] == [out["taken"]] and out["ran_on"] == out["taken"], \
        "a spare a Server took exited when idle"


def test_a_restarting_server_runs_its_first_jobs_on_spares_then_fresh_workers(tmp_path):
    (out,) = run(tmp_path, '''
server = pp.Server(len(spares), restart=True)
ran_on = [server.submit(whoami, (i,))()["pid"] for i in range(len(spares) + 2)]
report(spares=spares, ran_on=ran_on)
''')
    ran_on = out["ran_on"]
    assert len(set(ran_on)) == len(ran_on), "a worker ran two jobs despite restart=True"
    assert set(ran_on) & set(out["spares"])


def test_descriptors_reused_for_other_files_are_neither_handed_over_nor_closed(tmp_path):
    # Code that closes every descriptor it does not know (os.closerange)
    # after import pp, then opens files: they may take the spares' numbers.
    (out,) = run(tmp_path, '''
numbers = sorted(fd for s in _prestart._spares for fd in (s.jobs, s.results, s.leash))
for fd in numbers:
    os.close(fd)
files = {}
while not set(numbers) <= set(files):
    fd = os.open("held-%d" % len(files), os.O_RDWR | os.O_CREAT)
    files[fd] = "held-%d" % len(files)
server = pp.Server(len(spares))
workers = worker_pids(server, len(spares))
job = server.submit(whoami, (0,))()["pid"]
for fd in numbers:
    os.write(fd, b"still mine")
report(spares=spares, workers=workers, job=job,
       spares_alive=[p for p in spares if alive(p)])
''')
    assert not set(out["workers"]) & set(out["spares"])
    assert out["job"] in out["workers"] and out["spares_alive"] == []
