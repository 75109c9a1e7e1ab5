"""Workers load pp/worker.py's compiled code from the user's cache
directory instead of compiling its source at every start (pp._workers);
where the cache cannot be written, or holds a broken file, they still run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import clean_env, write_script

pytestmark = pytest.mark.ppgo_only

CLIENT = '''
import json, sys
import pp
from pp import _workers

def argv():
    import sys
    return sys.argv

server = pp.Server(1)
print(json.dumps({"command": _workers.worker_command(4)[1:-1], "argv": server.submit(argv)()}))
'''


def run_client(tmp_path, cache_home: str) -> dict:
    path = write_script(tmp_path, "client.py", CLIENT)
    # Development mode shows every warning, ResourceWarning included, in
    # the workers too: the loader must leave nothing to warn about.
    env = dict(clean_env(), XDG_CACHE_HOME=cache_home, PYTHONDEVMODE="1")
    proc = subprocess.run([sys.executable, str(path)], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_workers_run_the_cached_code(tmp_path):
    cache = tmp_path / "cache"
    first = run_client(tmp_path, str(cache))
    (cached,) = (cache / "ppgo").glob("pp.worker-*.code")
    assert first["command"][-1] == str(cached)
    assert first["argv"] == ["-c", "4"], "the cache's path is left in the job's sys.argv"
    cached.write_bytes(b"not a code object")  # broken: written again
    second = run_client(tmp_path, str(cache))
    assert second["command"] == first["command"] and second["argv"] == ["-c", "4"]


def test_workers_compile_the_source_where_nothing_can_be_cached(tmp_path):
    blocked = tmp_path / "a file, not a directory"
    blocked.write_text("")
    out = run_client(tmp_path, str(blocked))
    assert out["command"][0] == "-c" and "def main()" in out["command"][1]
    assert out["argv"] == ["-c", "4"]
