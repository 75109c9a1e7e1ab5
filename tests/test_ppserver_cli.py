"""The ppserver command: flags, config file, secret policy, pid file, signals,
idle exit, worker interpreter, and the standalone build. Every test runs real
ppserver processes on 127.0.0.1 and leaves none behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import pp
from ppserver_proc import (PPSERVER, REPO, PPServer, alive, children, free_port, run,
                           wait_until)

pytestmark = pytest.mark.ppgo_only

SECRET = "cli-test-secret"
DEFAULT_SECRET = "epo20pdosl;dksldkmm"  # legacy pp's built-in secret


def square(x):
    return x * x


def slow(seconds):
    import time
    time.sleep(seconds)
    return seconds


def interpreter():
    import sys
    return sys.executable, tuple(sys.version_info[:2])


def secret_variables():
    import os
    return os.environ.get("PP_SECRET"), os.environ.get("PP_SECRET_FILE")


def clean_env(**extra: str) -> dict:
    """This environment without PP_SECRET and PP_SECRET_FILE, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in ("PP_SECRET", "PP_SECRET_FILE")}
    env.update(extra)
    return env


@pytest.fixture
def servers():
    """Starts ppservers on 127.0.0.1 and kills whatever is left at the end."""
    started: list[PPServer] = []

    def start(*args: str, port: int | None = None, secret: str | None = SECRET,
              wait: bool = True, **kwargs) -> PPServer:
        argv = list(args)
        if port is not None:
            argv = ["-i", "127.0.0.1", "-p", str(port)] + argv
        if secret is not None:
            argv += ["-s", secret]
        srv = PPServer(argv, **kwargs)
        srv.port = port
        started.append(srv)
        if wait:
            srv.wait_listening()
        return srv

    yield start
    for srv in started:
        srv.kill()


def client(port: int, secret: str = SECRET, **kwargs) -> pp.Server:
    return pp.Server(0, ppservers=("127.0.0.1:%d" % port,), secret=secret, **kwargs)


# --- the command line ------------------------------------------------------

def test_installed_beside_python():
    assert os.access(PPSERVER, os.X_OK), PPSERVER


def test_help():
    r = run(["-h"])
    assert r.returncode == 0, r.stderr
    assert "Usage: ppserver [options]" in r.stdout
    for flag in ("-h", "-d", "-f FORMAT", "-a", "-r", "-n PROTO", "-c CONFIG", "-i INTERFACE",
                 "-b BROADCAST", "-p PORT", "-w NWORKERS", "-s SECRET", "-t SECONDS",
                 "-k SECONDS", "-P PIDFILE", "-q", "--python PATH"):
        assert "  " + flag in r.stdout, flag
    assert "PP_SECRET" in r.stdout and "SIGUSR1" in r.stdout


def test_version():
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("ppserver "), r


@pytest.mark.parametrize("args, named", [
    (["-x"], "-x"),
    (["--bogus"], "--bogus"),
    (["-p"], "-p"),
    (["-p", "sixty"], "-p"),
    (["-w", "0"], "-w"),
    (["-n", "9"], "-n"),
    (["-t", "soon"], "-t"),
    (["-f", "%(funcName)s"], "-f"),
    (["extra"], "extra"),
])
def test_bad_flag(args, named):
    r = run(args)
    assert r.returncode == 2, r
    assert named in r.stderr and "ppserver -h" in r.stderr, r.stderr
    assert r.stdout == ""


def test_port_in_use(tmp_path):
    pid_file = tmp_path / "pp.pid"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run(["-i", "127.0.0.1", "-p", str(port), "-s", SECRET, "-P", str(pid_file)])
    assert r.returncode == 1, r
    assert "port %d on 127.0.0.1 is in use (another ppserver?)" % port in r.stderr
    assert not pid_file.exists()


@pytest.mark.parametrize("secret", [None, DEFAULT_SECRET])
def test_refuses_every_interface_without_a_real_secret(secret):
    # Refused before it binds anything: nothing listens beyond loopback.
    args = ["-i", "0.0.0.0", "-p", str(free_port())]
    if secret is not None:
        args += ["-s", secret]
    r = run(args, env=clean_env())
    assert r.returncode == 2, r
    assert "refusing to listen" in r.stderr
    assert "-s SECRET" in r.stderr and "PP_SECRET" in r.stderr


def test_default_secret_is_allowed_on_loopback(servers):
    port = free_port()
    srv = servers(port=port, secret=None, env=clean_env())
    assert "legacy pp's default secret" in srv.stderr
    job_server = client(port, secret=DEFAULT_SECRET)
    try:
        assert job_server.submit(square, (7,))() == 49
    finally:
        job_server.destroy()


def test_pp_secret_from_the_environment(servers):
    port = free_port()
    servers(port=port, secret=None, env=clean_env(PP_SECRET="from-env"))
    job_server = client(port, secret="from-env")
    try:
        assert job_server.submit(square, (3,))() == 9
    finally:
        job_server.destroy()


def secret_file(tmp_path, secret: str):
    path = tmp_path / "pp.secret"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return str(path)


def test_secret_file(servers, tmp_path):
    port = free_port()
    srv = servers("--secret-file", secret_file(tmp_path, "from-a-file"), port=port, secret=None,
                  env=clean_env(PP_SECRET="not-this-one"))
    assert "visible to other users" not in srv.stderr
    job_server = client(port, secret="from-a-file")
    try:
        assert job_server.submit(square, (6,))() == 36
    finally:
        job_server.destroy()


def test_pp_secret_file_from_the_environment(servers, tmp_path):
    port = free_port()
    servers(port=port, secret=None, env=clean_env(PP_SECRET_FILE=secret_file(tmp_path, "env-file")))
    job_server = client(port, secret="env-file")
    try:
        assert job_server.submit(square, (8,))() == 64
    finally:
        job_server.destroy()


def test_unreadable_secret_file(tmp_path):
    missing = str(tmp_path / "nope")
    r = run(["-i", "127.0.0.1", "-p", str(free_port()), "--secret-file", missing], env=clean_env())
    assert r.returncode == 2, r
    assert "secret file:" in r.stderr and missing in r.stderr, r.stderr


def test_secret_on_the_command_line_warns(servers):
    # It still works: ps shows it to every user of the machine, so say so.
    port = free_port()
    srv = servers("-w", "1", port=port)
    assert "the secret given with -s is visible to other users of this machine (ps)" in srv.stderr
    job_server = client(port)
    try:
        assert job_server.submit(square, (2,))() == 4
    finally:
        job_server.destroy()


@pytest.mark.parametrize("how", ["PP_SECRET", "PP_SECRET_FILE"])
def test_jobs_do_not_see_the_secret(servers, tmp_path, how):
    port = free_port()
    value = "node-secret" if how == "PP_SECRET" else secret_file(tmp_path, "node-secret")
    servers("-w", "1", port=port, secret=None, env=clean_env(**{how: value}))
    job_server = client(port, secret="node-secret")
    try:
        assert job_server.submit(secret_variables, ())() == (None, None)
    finally:
        job_server.destroy()


# --- jobs, logging ---------------------------------------------------------

def test_jobs_run_through_the_ppserver(servers):
    port = free_port()
    srv = servers("-w", "2", port=port)
    job_server = client(port)
    try:
        tasks = [job_server.submit(square, (i,)) for i in range(50)]
        assert [t() for t in tasks] == [i * i for i in range(50)]
        assert job_server.get_active_nodes()["127.0.0.1:%d" % port] == 2
        executable, _ = job_server.submit(interpreter, ())()
        # The ppserver in a venv's bin/ runs its workers with that venv's python3.
        assert executable == os.path.join(os.path.dirname(PPSERVER), "python3")
    finally:
        job_server.destroy()
    srv.wait_for("client disconnected")
    assert "Workers run Python" in srv.stderr and "(beside ppserver)" in srv.stderr


def test_wrong_secret_is_refused_and_counted(servers):
    port = free_port()
    srv = servers("-w", "1", port=port)
    job_server = client(port, secret="not-it")
    try:
        srv.wait_for("client refused: wrong secret")
    finally:
        job_server.destroy()
    srv.signal(signal.SIGUSR1)
    srv.wait_for("failed authentication", stream="stdout")
    assert "0 client(s) connected, " in srv.stdout
    assert "0 failed authentication(s)" not in srv.stdout


def test_log_format_and_levels(servers):
    port = free_port()
    srv = servers("-w", "1", "-d", "-f", "%(levelname)s|%(name)s|%(message)s", port=port)
    lines = srv.stderr.splitlines()
    assert "INFO|pp|Listening on 127.0.0.1:%d with 1 worker(s) (pid %d)" % (port, srv.pid) in lines
    assert any(line.startswith("DEBUG|pp|") for line in lines), lines
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0


def test_quiet_prints_no_banner(servers):
    port = free_port()
    srv = servers("-w", "1", "-q", port=port, wait=False)
    wait_until(lambda: len(children(srv.pid)) == 1, what="the worker")
    job_server = client(port)
    try:
        assert job_server.submit(square, (5,))() == 25
    finally:
        job_server.destroy()
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0
    assert srv.stderr == ""


def test_limits_reach_the_node(servers, tmp_path):
    port = free_port()
    config = tmp_path / "ppserver.ini"
    config.write_text("[network]\nfailed_handshake_rate = 0.5\nmax_queued_mb = 7\n")
    srv = servers("-d", "-c", str(config), "--max-handshakes", "5",
                  "--max-handshakes-per-address=2", "--failed-handshake-burst", "3",
                  "--write-timeout", "2.5", port=port)
    line = [x for x in srv.stderr.splitlines() if " limits " in x]
    assert line, srv.stderr
    for field in ("max_handshakes=5", "max_handshakes_per_address=2", "failed_handshake_burst=3",
                  "failed_handshake_rate=0.5", "write_timeout=2.5s", 'max_queued="7.0 MiB"'):
        assert field in line[0], line[0]


# --- signals, pid file, idle exit ------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_removes_the_pid_file(servers, tmp_path, sig):
    pid_file = tmp_path / "ppserver.pid"
    srv = servers("-w", "3", "-P", str(pid_file), port=free_port())
    assert pid_file.read_text().strip() == str(srv.pid)
    workers = srv.workers(3)
    srv.signal(sig)
    assert srv.wait() == 0
    assert not pid_file.exists()
    assert [pid for pid in workers if alive(pid)] == []
    assert "received %s" % sig.name in srv.stderr


def test_sigkill_leaves_no_workers(servers):
    srv = servers("-w", "2", port=free_port())
    workers = srv.workers(2)
    srv.kill()
    wait_until(lambda: not any(alive(pid) for pid in workers), what="orphan workers to die")


def test_sigusr1_prints_statistics_and_keeps_serving(servers):
    port = free_port()
    srv = servers("-w", "2", port=port)
    job_server = client(port)
    try:
        assert [job_server.submit(square, (i,))() for i in range(4)] == [0, 1, 4, 9]
        srv.signal(signal.SIGUSR1)
        srv.wait_for("client(s) connected", stream="stdout")
        out = srv.stdout
        assert "Job execution statistics:" in out
        assert " job count | % of all jobs | job time sum | time per job | job server" in out
        row = [line for line in out.splitlines() if line.endswith("| local")]
        assert row and row[0].split()[0] == "4", out
        assert "0 active tasks, 2 cores" in out
        assert "1 client(s) connected, 0 failed authentication(s)" in out
        assert "Time elapsed since server creation" in out
        # Still serving, and a second report works too.
        assert job_server.submit(square, (9,))() == 81
        n = srv.lines("stdout")
        srv.signal(signal.SIGUSR1)
        srv.wait_for("Job execution statistics:", stream="stdout", after=n)
    finally:
        job_server.destroy()
    assert srv.proc.poll() is None
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0


def test_idle_timeout_exits_and_removes_the_pid_file(servers, tmp_path):
    pid_file = tmp_path / "ppserver.pid"
    started = time.monotonic()
    srv = servers("-w", "1", "-t", "1", "-P", str(pid_file), port=free_port())
    assert pid_file.exists()
    assert srv.wait(timeout=15) == 0
    assert time.monotonic() - started >= 1.0
    assert not pid_file.exists()
    assert "no client connected for 1s: exiting" in srv.stderr


def test_idle_timeout_waits_while_a_client_is_connected(servers):
    port = free_port()
    srv = servers("-w", "1", "-t", "1", port=port)
    job_server = client(port)
    try:
        assert job_server.submit(square, (2,))() == 4
        srv.wait_for("client connected")
        time.sleep(2)  # longer than -t: the connected client keeps it up
        assert srv.proc.poll() is None
        assert job_server.submit(square, (3,))() == 9
    finally:
        job_server.destroy()
    left = time.monotonic()
    assert srv.wait(timeout=15) == 0
    assert time.monotonic() - left < 10


def test_sigterm_lets_running_jobs_finish(servers):
    port = free_port()
    srv = servers("-w", "1", port=port)
    job_server = client(port)
    try:
        task = job_server.submit(slow, (1.0,))
        wait_until(lambda: "1 active tasks" in _stats(srv), what="the job to start")
        srv.signal(signal.SIGTERM)
        assert task() == 1.0
        assert srv.wait() == 0
    finally:
        job_server.destroy()


def test_second_signal_stops_at_once(servers, tmp_path):
    pid_file = tmp_path / "ppserver.pid"
    port = free_port()
    srv = servers("-w", "1", "-P", str(pid_file), port=port)
    workers = srv.workers(1)
    job_server = client(port)
    try:
        job_server.submit(slow, (60,))
        wait_until(lambda: "1 active tasks" in _stats(srv), what="the job to start")
        srv.signal(signal.SIGTERM)
        srv.wait_for("stopping once running jobs finish")
        time.sleep(0.3)
        assert srv.proc.poll() is None  # draining
        stopped = time.monotonic()
        srv.signal(signal.SIGTERM)
        assert srv.wait() == 0
        assert time.monotonic() - stopped < 5
    finally:
        job_server.destroy()
    assert "again: stopping now" in srv.stderr
    assert not pid_file.exists()
    assert not any(alive(pid) for pid in workers)


def _stats(srv: PPServer) -> str:
    """Asks for statistics and returns the newest report."""
    n = srv.lines("stdout")
    srv.signal(signal.SIGUSR1)
    srv.wait_for("client(s) connected", stream="stdout", after=n)
    return srv.stdout.split("Job execution statistics:")[-1]


# --- the config file -------------------------------------------------------

def test_config_file_is_honoured(servers, tmp_path):
    port = free_port()
    pid_file = tmp_path / "from-config.pid"
    config = tmp_path / "ppserver.ini"
    config.write_text(
        "[general]\nworkers = 2\nsecret = config-secret\npid_file = %s\nrestart = false\n\n"
        "[network]\ninterface = 127.0.0.1\nport = %d\ntimeout = 30\n" % (pid_file, port))
    srv = servers("-c", str(config), secret=None, env=clean_env())
    assert "Listening on 127.0.0.1:%d with 2 worker(s)" % port in srv.stderr
    assert pid_file.read_text().strip() == str(srv.pid)
    srv.workers(2)
    job_server = client(port, secret="config-secret")
    try:
        assert job_server.submit(square, (11,))() == 121
        assert job_server.get_active_nodes()["127.0.0.1:%d" % port] == 2
    finally:
        job_server.destroy()
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0
    assert not pid_file.exists()


def test_flags_override_the_config_file(servers, tmp_path):
    port = free_port()
    config = tmp_path / "ppserver.ini"
    config.write_text("[general]\nworkers = 3\nsecret = config-secret\n"
                      "[network]\ninterface = 127.0.0.1\nport = 1\n")
    srv = servers("-c", str(config), "-p", str(port), "-w", "1", secret="flag-secret")
    assert "Listening on 127.0.0.1:%d with 1 worker(s)" % port in srv.stderr
    job_server = client(port, secret="flag-secret")
    try:
        assert job_server.submit(square, (4,))() == 16
    finally:
        job_server.destroy()


@pytest.mark.parametrize("content, message", [
    ("[network]\nport = sixty\n", "ppserver.ini:2: [network] port:"),
    ("[general]\nrestart = perhaps\n", "ppserver.ini:2: [general] restart:"),
    ("workers = 2\n", "ppserver.ini:1:"),
])
def test_bad_config_file(tmp_path, content, message):
    config = tmp_path / "ppserver.ini"
    config.write_text(content)
    r = run(["-c", str(config), "-i", "127.0.0.1"])
    assert r.returncode == 2, r
    assert message in r.stderr, r.stderr


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.ini"
    r = run(["-c", str(missing)])
    assert r.returncode == 2 and str(missing) in r.stderr, r


# --- the worker interpreter ------------------------------------------------

def test_no_python_anywhere(tmp_path):
    """A ppserver with no python3 beside it or on PATH says how to name one."""
    lonely = tmp_path / "bin"
    lonely.mkdir()
    exe = str(lonely / "ppserver")
    shutil.copy(PPSERVER, exe)
    pid_file = tmp_path / "pp.pid"
    r = run(["-i", "127.0.0.1", "-p", str(free_port()), "-P", str(pid_file)], exe=exe,
            env=clean_env(PATH=str(tmp_path / "empty")))
    assert r.returncode == 1, r
    assert "no python3 in %s nor on PATH; name one with --python PATH" % lonely in r.stderr
    assert not pid_file.exists()


def test_python_flag(servers, tmp_path):
    port = free_port()
    srv = servers("-w", "1", "--python", sys.executable, port=port)
    assert "(--python)" in srv.stderr
    job_server = client(port)
    try:
        executable, _ = job_server.submit(interpreter, ())()
        assert os.path.realpath(executable) == os.path.realpath(sys.executable)
    finally:
        job_server.destroy()


def test_python_flag_not_a_python(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 2.7.18\n")
    fake.chmod(0o755)
    r = run(["-i", "127.0.0.1", "-p", str(free_port()), "--python", str(fake)])
    assert r.returncode == 1, r
    assert "is Python 2.7.18; the workers need Python 3.8 or newer" in r.stderr


# --- the standalone build --------------------------------------------------

@pytest.fixture(scope="session")
def standalone_binary():
    """build/ppserver-standalone, built now (go's cache makes a rebuild quick)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("the standalone test builds ppserver with Go, and go is not on PATH")
    target = os.path.join(REPO, "build", "ppserver-standalone")
    cmd = [go, "build", "-tags", "standalone", "-trimpath", "-ldflags=-s -w",
           "-o", target, "./ppserver"]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, CGO_ENABLED="0"))
    if r.returncode != 0:
        pytest.skip("cannot build the standalone ppserver: %s" % r.stderr.strip())
    return target


def test_standalone_runs_jobs_without_any_python_on_path(servers, standalone_binary, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    port = free_port()
    env = clean_env(PATH=str(empty))
    env.pop("PYTHONHOME", None)
    srv = servers("-w", "2", port=port, exe=standalone_binary, env=env, cwd=str(tmp_path))
    assert "(embedded)" in srv.stderr, srv.stderr
    workers = srv.workers(2)
    job_server = client(port)
    try:
        tasks = [job_server.submit(square, (i,)) for i in range(20)]
        assert [t() for t in tasks] == [i * i for i in range(20)]
        executable, version = job_server.submit(interpreter, ())()
        assert "ppgo" in executable and version >= (3, 8), executable
        assert os.path.realpath(executable) != os.path.realpath(sys.executable)
    finally:
        job_server.destroy()
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0
    assert not any(alive(pid) for pid in workers)
