"""pp.Server's constructor arguments and the module-level names of pp."""

import logging
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

import pp
import jobs
from helpers import clean_env, wait_until, worker_pids


# -- module pp ------------------------------------------------------------

def test_module_names():
    assert isinstance(pp.version, str) and pp.version
    assert isinstance(pp.__version__, str) and pp.__version__
    assert pp.version == pp.__version__
    assert isinstance(pp.copyright, str) and pp.copyright
    assert issubclass(pp.DestroyedServerError, RuntimeError)
    assert callable(pp.Server)
    assert callable(pp.Template)


def test_import_pp_starts_no_worker_processes(tmp_path):
    # ppgo starts spare workers at import unless told not to (pp._prestart,
    # tests/test_prestart.py); told not to, it starts nothing, as pp 1.7.0.
    code = textwrap.dedent("""
        import os, sys, threading
        import pp
        # Touch the public names too: they must not start anything either.
        pp.Server, pp.Template, pp.DestroyedServerError, pp.version
        kids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/stat" % entry, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if int(data[data.rindex(b")") + 2:].split()[1]) == os.getpid():
                    kids.append(entry)
        print("children", len(kids))
        print("threads", threading.active_count())
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path),
                          env=dict(clean_env(), PPGO_PRESTART="0"), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "children 0" in proc.stdout.splitlines()
    assert "threads 1" in proc.stdout.splitlines()


@pytest.mark.ppgo_only
def test_go_runtime_loads_with_the_first_server(tmp_path):
    code = textwrap.dedent("""
        import sys
        import pp
        pp.Server, pp.Template
        print("before", "pp._core" in sys.modules)
        server = pp.Server(1)
        print("after", "pp._core" in sys.modules)
        server.destroy()
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path),
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["before", "False", "after", "True"]


@pytest.mark.ppgo_only
def test_extension_does_not_link_libpython():
    # Linking libpython would tie the wheel to the build machine's Python.
    import importlib.util

    path = importlib.util.find_spec("pp._core").origin
    with open(path, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    proc = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "libc.so" in proc.stdout
    assert "libpython" not in proc.stdout


# -- ncpus --------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["2", 2.0, [2], None])
def test_ncpus_not_int_is_type_error(bad):
    with pytest.raises(TypeError):
        pp.Server(ncpus=bad)


@pytest.mark.parametrize("bad", [-1, -8])
def test_ncpus_negative_is_value_error(bad):
    with pytest.raises(ValueError):
        pp.Server(ncpus=bad)


def test_ncpus_autodetect_is_number_of_cpus():
    before = set(worker_pids())
    server = pp.Server()  # "autodetect" is the default
    try:
        n = server.get_ncpus()
        assert isinstance(n, int)
        cpus = os.cpu_count() or 1
        assert 1 <= n <= cpus
        assert n in (cpus, len(os.sched_getaffinity(0)))
        assert wait_until(lambda: len(set(worker_pids()) - before) == n)
        assert server.submit(jobs.square, (7,))() == 49
    finally:
        server.destroy()


def test_ncpus_autodetect_explicit():
    server = pp.Server("autodetect")
    try:
        assert server.get_ncpus() >= 1
    finally:
        server.destroy()


def test_ncpus_zero_is_legal():
    before = set(worker_pids())
    server = pp.Server(ncpus=0)
    try:
        assert server.get_ncpus() == 0
        assert server.get_active_nodes() == {"local": 0}
        assert set(worker_pids()) - before == set()
    finally:
        server.destroy()


def test_ncpus_gives_that_many_workers():
    before = set(worker_pids())
    server = pp.Server(ncpus=3)
    try:
        assert server.get_ncpus() == 3
        assert wait_until(lambda: len(set(worker_pids()) - before) == 3)
    finally:
        server.destroy()
    assert wait_until(lambda: not set(worker_pids()) - before)


# -- ppservers and secret -----------------------------------------------------

@pytest.mark.parametrize("bad", [["localhost"], "localhost", None])
def test_ppservers_not_tuple_is_type_error(bad):
    with pytest.raises(TypeError):
        pp.Server(ncpus=0, ppservers=bad)


@pytest.mark.parametrize("bad", [123, b"bytes", ["s"]])
def test_secret_not_str_is_type_error(bad):
    with pytest.raises(TypeError):
        pp.Server(ncpus=0, secret=bad)


# ppgo_only: pp 1.7.0 reads neither PP_SECRET_FILE nor hides PP_SECRET from jobs.
@pytest.mark.ppgo_only
def test_secret_from_environment_and_hidden_from_jobs(monkeypatch, tmp_path):
    monkeypatch.setenv("PP_SECRET", "from the environment")
    server = pp.Server(ncpus=1)
    try:
        assert server.secret == "from the environment"
        assert server.submit(jobs.read_environment, ("PP_SECRET",))() is None
    finally:
        server.destroy()
    secret_file = tmp_path / "secret"
    secret_file.write_text("from a file\n")
    monkeypatch.delenv("PP_SECRET")
    monkeypatch.setenv("PP_SECRET_FILE", str(secret_file))
    server = pp.Server(ncpus=1)
    try:
        assert server.secret == "from a file"
        assert server.submit(jobs.read_environment, ("PP_SECRET_FILE",))() is None
        assert server.submit(jobs.read_environment, ("HOME",))() == os.environ.get("HOME")
    finally:
        server.destroy()
    monkeypatch.setenv("PP_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="PP_SECRET_FILE"):
        pp.Server(ncpus=0)


def test_secret_str_accepted():
    server = pp.Server(ncpus=1, secret="some passphrase")
    try:
        assert server.submit(jobs.add, (2, 3))() == 5
    finally:
        server.destroy()


# -- restart ------------------------------------------------------------------

def test_without_restart_jobs_share_a_worker(server1):
    pids = [t() for t in [server1.submit(jobs.getpid) for _ in range(4)]]
    assert len(set(pids)) == 1
    assert pids[0] != os.getpid()


def test_restart_runs_each_job_in_a_new_worker():
    server = pp.Server(ncpus=1, restart=True)
    try:
        tasks = [server.submit(jobs.getpid) for _ in range(4)]
        pids = [t() for t in tasks]
        assert all(isinstance(p, int) for p in pids), pids
        assert len(set(pids)) == 4
        assert os.getpid() not in pids
        # And the server keeps working with the replacements.
        assert server.submit(jobs.square, (9,))() == 81
    finally:
        server.destroy()


# -- proto, socket_timeout, loglevel, broadcast ---------------------------

@pytest.mark.parametrize("proto", [2, 3, 4, 5])
def test_proto_is_the_pickle_protocol_of_results(proto):
    server = pp.Server(ncpus=1, proto=proto)
    try:
        task = server.submit(jobs.identity, ({"k": [1, 2.5, "x"]},))
        raw = task(raw_result=True)
        assert isinstance(raw, bytes)
        assert raw[:2] == bytes([0x80, proto])
        assert pickle.loads(raw)[0] == {"k": [1, 2.5, "x"]}
        assert task() == {"k": [1, 2.5, "x"]}
    finally:
        server.destroy()


def test_default_proto_is_4(server):
    raw = server.submit(jobs.identity, (1,))(raw_result=True)
    assert raw[:2] == b"\x80\x04"


@pytest.fixture
def restore_pp_logger():
    logger = logging.getLogger("pp")
    level = logger.level
    yield logger
    logger.setLevel(level)


@pytest.mark.parametrize("level, expected", [
    (logging.ERROR, logging.ERROR),
    ("WARNING", logging.WARNING),
    (logging.DEBUG, logging.DEBUG),
])
def test_loglevel_sets_the_pp_logger(restore_pp_logger, level, expected):
    server = pp.Server(ncpus=1, loglevel=level)
    try:
        assert restore_pp_logger.level == expected
        assert server.submit(jobs.square, (3,))() == 9
    finally:
        server.destroy()


def test_all_arguments_by_keyword(restore_pp_logger):
    server = pp.Server(ncpus=1, ppservers=(), secret="s3cret", restart=False,
                       proto=4, socket_timeout=60, loglevel=logging.WARNING,
                       broadcast=None)
    try:
        assert server.submit(jobs.add, (1, 2))() == 3
    finally:
        server.destroy()


def test_all_arguments_positionally(restore_pp_logger):
    server = pp.Server(1, (), "s3cret", False, 4, 60, logging.WARNING, None)
    try:
        assert server.get_ncpus() == 1
        assert server.submit(jobs.add, (1, 2))() == 3
    finally:
        server.destroy()


# -- the caller's cwd and sys.path are importable in workers ---------------

def test_callers_sys_path_is_importable_in_workers(tmp_path, monkeypatch):
    moddir = tmp_path / "extra"
    moddir.mkdir()
    (moddir / "ppgo_test_syspath_mod.py").write_text("VALUE = 'from sys.path'\n")
    monkeypatch.syspath_prepend(str(moddir))
    server = pp.Server(ncpus=1)
    try:
        task = server.submit(jobs.identity, ("x",), modules=("ppgo_test_syspath_mod",))
        assert task() == "x"
        task = server.submit(_read_syspath_mod, (), modules=("ppgo_test_syspath_mod",))
        assert task() == "from sys.path"
    finally:
        server.destroy()


def test_callers_cwd_is_importable_in_workers(tmp_path, monkeypatch):
    (tmp_path / "ppgo_test_cwd_mod.py").write_text("VALUE = 'from cwd'\n")
    monkeypatch.chdir(tmp_path)
    server = pp.Server(ncpus=1)
    try:
        task = server.submit(_read_cwd_mod, (), modules=("ppgo_test_cwd_mod",))
        assert task() == "from cwd"
    finally:
        server.destroy()


def _read_syspath_mod():
    return ppgo_test_syspath_mod.VALUE  # noqa: F821


def _read_cwd_mod():
    return ppgo_test_cwd_mod.VALUE  # noqa: F821
