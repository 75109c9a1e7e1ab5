"""Metrics (docs/DEPLOY.md): a real Prometheus, started here on loopback,
scrapes a ppserver and a client, and its query API returns the job counts
of what the test ran. The status page's browser test is Go's
(core/metrics/browser_test.go)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import pytest

import jobs
import pp
from ppserver_proc import TIMEOUT, PPServer, free_port, wait_until
from ppserver_proc import run as ppserver_run

pytestmark = pytest.mark.ppgo_only

PROMETHEUS = shutil.which("prometheus")
SECRET = "metrics-test-secret"
# Prometheus scrapes this often: each target is read at least twice a
# second, so the counts it serves catch up within seconds of the jobs.
SCRAPE_INTERVAL = "500ms"
# How long the test waits for Prometheus to start, scrape and answer.
PROMETHEUS_TIMEOUT = 60.0

JOBS = 40


def square(x):
    return x * x


def die():
    import os
    os._exit(3)  # the worker dies: the job is lost on every attempt


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as res:
        return res.read().decode()


def health(address: str) -> tuple[int, str]:
    """GET /healthz: its status and body, whatever the status."""
    try:
        with urllib.request.urlopen("http://%s/healthz" % address, timeout=5) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_metrics_address_is_checked():
    for bad, error, message in [
        ("9100", ValueError, 'metrics address "9100": want HOST:PORT or :PORT'),
        ("127.0.0.1:http", ValueError, 'port "http" is not a number from 0 to 65535'),
        (9100, TypeError, "not the number 9100"),
        (b"127.0.0.1:0", TypeError, "not bytes"),
    ]:
        with pytest.raises(error, match=re.escape(message)):
            pp.Server(0, metrics=bad)


def test_client_listener_stops_with_destroy():
    server = pp.Server(1, secret=SECRET, metrics="127.0.0.1:0")
    address = server.metrics_address
    host, port = address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert server.submit(square, (7,))() == 49
    body = http_get("http://%s/metrics" % address)
    assert 'ppgo_client_node_jobs_done_total{node="local"} 1' in body
    for page in ("/metrics", "/status.json", "/"):
        assert SECRET not in http_get("http://%s%s" % (address, page)), page
    assert health(address) == (200, "ok\n")
    server.destroy()
    with pytest.raises(urllib.error.URLError):
        http_get("http://%s/metrics" % address)


def test_listener_does_not_keep_the_process_alive():
    # A script that never calls destroy() still exits, and at once.
    script = ("import pp\n"
              "server = pp.Server(1, metrics='127.0.0.1:0')\n"
              "print(server.metrics_address)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"127\.0\.0\.1:\d+\n", done.stdout), done.stdout


def test_ppserver_metrics_flag():
    assert ppserver_run(["--metrics", "9100"]).returncode == 2
    port = free_port()
    with PPServer(["-i", "127.0.0.1", "-p", str(port), "-w", "1", "-s", SECRET,
                   "--metrics", "127.0.0.1:0"]) as ppserver:
        ppserver.wait_listening()
        found = re.search(r"Metrics on http://([\d.]+:\d+)/metrics, status page on http://\1/",
                          ppserver.stderr)
        assert found, ppserver.stderr
        body = http_get("http://%s/metrics" % found.group(1))
        assert "ppgo_server_workers 1" in body and SECRET not in body
        assert "<svg" in http_get("http://%s/" % found.group(1))


def test_ppserver_healthz_follows_the_drain(tmp_path):
    """/healthz of a real ppserver: ok while it serves, 503 and why from
    SIGTERM while a job still runs, which still returns its result."""
    port = free_port()
    with PPServer(["-i", "127.0.0.1", "-p", str(port), "-w", "1", "-s", SECRET,
                   "--metrics", "127.0.0.1:0"]) as ppserver:
        ppserver.wait_listening()
        found = re.search(r"Metrics on http://([\d.]+:\d+)/metrics", ppserver.stderr)
        assert found, ppserver.stderr
        address = found.group(1)
        assert health(address) == (200, "ok\n")

        client = pp.Server(0, ppservers=("127.0.0.1:%d" % port,), secret=SECRET)
        try:
            started, gate = tmp_path / "started", tmp_path / "gate"
            task = client.submit(jobs.touch_then_wait, (str(started), str(gate), "drained"))
            wait_until(started.exists, what="the job to start on the ppserver")
            ppserver.signal(signal.SIGTERM)
            wait_until(lambda: health(address)[0] == 503, what="/healthz to say the node drains")
            _, body = health(address)
            assert body.startswith("draining: ") and "1 job(s) still running" in body, body
            assert body.count("\n") == 1, body
            gate.touch()
            assert task() == "drained"
        finally:
            client.destroy()
        assert ppserver.wait() == 0


def test_executor_serves_metrics():
    with pp.Executor(1, metrics="127.0.0.1:0") as executor:
        assert list(executor.map(square, range(5))) == [0, 1, 4, 9, 16]
        body = http_get("http://%s/metrics" % executor.server.metrics_address)
    assert 'ppgo_client_node_jobs_done_total{node="local"} 5' in body


def test_no_metrics_unless_asked():
    server = pp.Server(0)
    try:
        assert server.metrics_address is None
    finally:
        server.destroy()


class Prometheus:
    """A Prometheus server on a loopback port, scraping targets by job
    name, with its data in a directory of the test's."""

    def __init__(self, workdir: str, targets: dict[str, str]) -> None:
        self.address = "127.0.0.1:%d" % free_port()
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: %s\n  scrape_timeout: %s\n"
                    "scrape_configs:\n" % (SCRAPE_INTERVAL, SCRAPE_INTERVAL))
            for job, target in targets.items():
                f.write("  - job_name: %s\n    static_configs:\n      - targets: ['%s']\n"
                        % (job, target))
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(workdir, "data"),
             "--web.listen-address=" + self.address],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, expr: str) -> dict[str, float]:
        """The instant vector expr gives now, by its labels ("" for none)."""
        url = "http://%s/api/v1/query?%s" % (self.address, urllib.parse.urlencode({"query": expr}))
        try:
            doc = json.loads(http_get(url))
        except (urllib.error.URLError, ConnectionError):
            return {}  # not listening yet
        assert doc["status"] == "success", doc
        return {",".join("%s=%s" % kv for kv in sorted(r["metric"].items())): float(r["value"][1])
                for r in doc["data"]["result"]}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary (Debian package prometheus)")
def test_prometheus_scrapes_ppserver_and_client(tmp_path):
    port = free_port()
    node = "127.0.0.1:%d" % port
    with PPServer(["-i", "127.0.0.1", "-p", str(port), "-w", "2", "-s", SECRET,
                   "--metrics", "127.0.0.1:0"]) as ppserver:
        ppserver.wait_listening()
        found = re.search(r"Metrics on http://([\d.]+:\d+)/metrics", ppserver.stderr)
        assert found, ppserver.stderr
        ppserver_metrics = found.group(1)

        server = pp.Server(1, ppservers=(node,), secret=SECRET, metrics="127.0.0.1:0")
        try:
            wait_until(lambda: any(row.name == node and row.connected
                                   for row in server._engine.nodes()), what="the ppserver")
            tasks = [server.submit(square, (i,)) for i in range(JOBS)]
            assert [t() for t in tasks] == [i * i for i in range(JOBS)]
            assert server.submit(die)() is None  # failed after its last attempt

            prometheus = Prometheus(str(tmp_path), {"ppserver": ppserver_metrics,
                                                    "client": server.metrics_address})
            try:
                check_counts(prometheus, node)
            finally:
                prometheus.stop()
        finally:
            server.destroy()


def check_counts(prometheus: Prometheus, node: str) -> None:
    """What Prometheus holds of both ends: the jobs the test ran, and each
    end's view of the ppserver's share agreeing with the other's."""
    queries = {
        "up": "up",
        "done": "sum(ppgo_client_node_jobs_done_total)",
        "failed": "sum(ppgo_client_node_jobs_failed_total)",
        "retried": "sum(ppgo_client_node_jobs_retried_total)",
        "done_there": 'ppgo_client_node_jobs_done_total{node="%s"}' % node,
        "lost_there": 'sum(ppgo_client_node_jobs_retried_total{node="%s"})'
                      ' + sum(ppgo_client_node_jobs_failed_total{node="%s"})' % (node, node),
        "server_done": "ppgo_server_jobs_done_total",
        "server_client_done": "sum(ppgo_server_client_jobs_done_total)",
        "server_lost": 'ppgo_server_jobs_failed_total{reason="lost"}',
        "server_clients": "ppgo_server_clients",
        "timings": "sum(ppgo_client_job_duration_seconds_count)",
    }
    got: dict[str, dict[str, float]] = {}

    def scraped() -> bool:
        got.update({name: prometheus.query(expr) for name, expr in queries.items()})
        value = {name: sum(v.values()) if v else None for name, v in got.items()}
        return (len(got["up"]) == 2 and all(v == 1 for v in got["up"].values())
                and value["done"] == JOBS and value["failed"] == 1
                and value["retried"] == 2 and value["timings"] == JOBS
                and value["done_there"] and value["server_done"] == value["done_there"]
                and value["server_client_done"] == value["done_there"]
                and value["server_lost"] == value["lost_there"]
                and value["server_clients"] == 1)

    try:
        wait_until(scraped, timeout=PROMETHEUS_TIMEOUT, what="Prometheus to have the counts")
    except AssertionError:
        with open(prometheus.log.name) as f:
            log = f.read()[-3000:]
        raise AssertionError("Prometheus answers %s\nits log ends:\n%s" % (got, log)) from None
