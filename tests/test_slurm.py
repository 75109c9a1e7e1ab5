"""pp on a real Slurm: a one-host cluster (slurm_host) runs
examples/slurm/ppgo.sbatch, which starts a ppserver with srun, and a pp
script whose "slurm" ppservers entry finds it; the jobs must run on that
ppserver, under slurmd's step daemon."""

from __future__ import annotations

import json
import os
import sys

import pytest

from cluster import free_port
from helpers import write_script
from slurm_host import NODE_NAME, OneHostSlurm, unavailable

pytestmark = [pytest.mark.ppgo_only, pytest.mark.timeout(300)]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SBATCH_SCRIPT = os.path.join(REPO, "examples", "slurm", "ppgo.sbatch")
# Seconds one batch job may take, queueing included; Slurm's own limit on
# it (--time, in minutes) is set just above, so a stuck job is killed.
JOB_TIMEOUT = 120

# The client: a legacy pp script with the "slurm" entry, whose jobs say
# where they ran: the worker's parent (the ppserver) and its parent (what
# started the ppserver).
CLIENT = """\
import json
import os

import pp


def where(n):
    def stat(pid):
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
        comm = text[text.index("(") + 1:text.rindex(")")]
        return comm, int(text[text.rindex(")") + 2:].split()[1])

    server, starter = os.getppid(), stat(os.getppid())[1]
    return n * n, stat(server)[0], server, stat(starter)[0]


server = pp.Server(0, ppservers=("slurm:" + os.environ["PP_PORT"],))
jobs = [server.submit(where, (i,), modules=("os",)) for i in range(N_JOBS)]
results = [job() for job in jobs]
print("RESULT", json.dumps({
    "nodelist": os.environ["SLURM_JOB_NODELIST"],
    "ppservers": server.ppservers,
    "results": results,
    "njobs": {name: stat.njobs for name, stat in server.get_stats().items()},
}))
server.destroy()
"""


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    cluster = OneHostSlurm(str(tmp_path_factory.mktemp("slurm")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def run_batch(slurm, tmp_path, script: str, *args: str) -> str:
    """Runs ppgo.sbatch on the one-host cluster for script and returns the
    job's output; the secret travels in a file named in the environment."""
    secret = tmp_path / "secret"
    secret.write_text("slurm-test-secret\n")
    secret.chmod(0o600)
    output = tmp_path / "job.out"
    env = {
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "PYTHON": sys.executable,
        "PP_SECRET_FILE": str(secret),
        "PP_PORT": str(free_port()),
        "PP_INTERFACE": "127.0.0.1",
    }
    done = slurm.sbatch(["--nodes=1", "--time=%d" % (JOB_TIMEOUT // 60 + 1),
                         "--output=%s" % output, "--chdir=%s" % tmp_path,
                         SBATCH_SCRIPT, script] + list(args), env, JOB_TIMEOUT)
    text = output.read_text() if output.exists() else ""
    assert done.returncode == 0, ("sbatch: %s%s\njob output:\n%s\nslurmd:\n%s"
                                  % (done.stdout, done.stderr, text, slurm.log("slurmd")))
    return text


def test_jobs_run_on_the_ppserver_srun_started(slurm, tmp_path):
    jobs = 24
    client = write_script(tmp_path, "client.py", CLIENT.replace("N_JOBS", str(jobs)))
    output = run_batch(slurm, tmp_path, str(client))
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, output
    report = json.loads(lines[0][len("RESULT "):])

    port = report["ppservers"][0][1]
    assert report["nodelist"] == NODE_NAME
    assert report["ppservers"] == [[NODE_NAME, port]]
    assert [r[0] for r in report["results"]] == [i * i for i in range(jobs)]
    # Every job ran in a worker of the one ppserver, which slurmd's step
    # daemon started: srun's task, not something the client started.
    assert {(r[1], r[3]) for r in report["results"]} == {("ppserver", "slurmstepd")}, report
    assert len({r[2] for r in report["results"]}) == 1, report
    node = "%s:%d (127.0.0.1)" % (NODE_NAME, port)
    assert report["njobs"] == {"local": 0, node: jobs}


def test_example_script_runs_across_the_allocation(slurm, tmp_path):
    example = os.path.join(REPO, "examples", "slurm", "sum_primes.py")
    output = run_batch(slurm, tmp_path, example)
    assert "Nodes of the allocation: %s:" % NODE_NAME in output
    assert "Sum of primes below 100000 is 454396537" in output
    assert "Sum of primes below 101900 is" in output
    # print_stats: all 20 jobs on the allocation's one node.
    stats = [line for line in output.splitlines()
             if "|" in line and "(127.0.0.1)" in line]
    assert len(stats) == 1 and stats[0].split()[0] == "20", output
