"""ppgo's benchmark suite: every workload against ppgo and its anchors.

    python bench/run.py                       # everything (what `make bench` runs)
    python bench/run.py --only tiny --lib ppgo
    python bench/run.py --only tiny,latency --lib ppgo,pool --quick

How it works: the anchors pp 1.7.0 and ppft are installed from PyPI into
venvs of their own under .bench/ (bench/envs.py; reused when already right);
ppgo, multiprocessing.Pool ("Pool") and ProcessPoolExecutor ("PPE") run under
the repository's .venv. Then, one workload at a time and one library at a
time, never two at once, it runs bench/workloads.py in a fresh process of
that library's interpreter, in a session of its own, with a time limit: a
process that runs past it is killed with everything it started and its cell
reads "timeout"; one that fails reads "error" (its output is kept in
.bench/logs/). Afterwards anything left in that session is killed too.

The slow anchors (pp 1.7.0, ppft) run fewer remote jobs, where the full count
would take minutes: see WORKLOADS; their cells show the count they ran.

It prints the table and the goal lines (bench/report.py), and saves the run
as JSON with a PNG chart beside it: bench/results/latest.{json,png} for a
full run, .bench/results/partial.{json,png} for a partial or --quick one
(--out overrides).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import envs
import report

BENCH = Path(__file__).resolve().parent
WORKLOADS_PY = BENCH / "workloads.py"
LATEST = BENCH / "results" / "latest.json"
PARTIAL = envs.BENCH_DIR / "results" / "partial.json"
LOGS = envs.BENCH_DIR / "logs"

LIBS = report.LIB_ORDER
# The libraries every workload runs by default; a reference (pingpong)
# runs only the workloads that name it.
EXECUTORS = tuple(lib for lib in LIBS if lib not in report.REFERENCES)
PP_LIBS = ("ppgo", "pp170", "ppft")
SLOW_LIBS = ("pp170", "ppft")
# Before and after each cell the machine's CPU use is sampled for this long:
# with nothing of the suite running, it is other work, which skews the
# figures of a cell it overlaps (a burst inside a cell can still go unseen).
BACKGROUND_SAMPLE_S = 0.3


@dataclass(frozen=True)
class Workload:
    name: str
    timeout: float             # seconds, per process
    count: int | None = None   # job count (None: the workload has no count)
    slow_count: int | None = None  # count for SLOW_LIBS, where the full one takes minutes
    libs: tuple[str, ...] = EXECUTORS
    repeats: int = 1           # separate processes; numeric figures are medians

    def count_for(self, lib: str, quick: bool) -> int | None:
        n = self.slow_count if lib in SLOW_LIBS and self.slow_count else self.count
        if n is not None and quick:
            n = max(4, n // 10)
        return n


# Over the network pp 1.7.0 and ppft manage ~90 and ~45 jobs/s with ~45 and
# ~90 ms round trips: their full remote counts would take 4 to 8 minutes
# each, so they run 500 jobs and 100 round trips. scale keeps 1M jobs for
# everyone (~4 min each for pp 1.7.0 and ppft on 2 cores), because the client
# RSS it reports is only comparable at the same count.
# tiny, latency and cpu decide goals and vary ±15 % from one process to the
# next on a 2-core machine, so they take the median of three processes.
WORKLOADS = (
    Workload("tiny", 120, 20_000, repeats=3),
    Workload("latency", 90, 2_000, libs=EXECUTORS + ("pingpong",), repeats=3),
    Workload("cpu", 120, 16, repeats=3),
    Workload("payload", 180, 64),   # 64 × 1 MiB, then 64 / 8 × 32 MiB
    Workload("startup", 60, repeats=3),
    Workload("startup_process", 120, 5, repeats=3),  # 5 client processes each
    Workload("remote_tiny", 180, 20_000, slow_count=500, libs=PP_LIBS),
    Workload("remote_latency", 180, 2_000, slow_count=100, libs=PP_LIBS),
    Workload("remote_payload", 180, 64, slow_count=16, libs=PP_LIBS),
    Workload("executor_tiny", 120, 20_000, libs=("ppgo", "ppe"), repeats=3),
    Workload("map_chunked", 180, 1_000_000, libs=("ppgo", "pool", "ppe")),
    Workload("async_latency", 90, 2_000, libs=("ppgo",), repeats=3),
    Workload("scale", 420, 1_000_000),
    Workload("memory", 60),
    # The scheduler on 1 to 1 000 simulated nodes (tools/schedsim), jobs per
    # shape and mode; ppgo's own, so no anchor runs it.
    Workload("sched_sim", 300, 200_000, libs=("ppgo",)),
)
WORKLOAD_BY_NAME = {w.name: w for w in WORKLOADS}


# --- one cell: one library running one workload, in processes of its own ---

def run_process(lib: str, workload: Workload, n: int | None, log: Path) -> dict[str, Any]:
    """Run workloads.py once; kill its whole session at the end, whatever happened."""
    with tempfile.TemporaryDirectory(prefix="ppgo-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [str(envs.library_python(lib)), str(WORKLOADS_PY), "--lib", lib,
               "--workload", workload.name, "--out", str(out)]
        if n is not None:
            cmd += ["--n", str(n)]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        with open(log, "a") as logf:
            logf.write("$ %s\n" % " ".join(cmd))
            logf.flush()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    cwd=tmp, env=env, start_new_session=True)
            try:
                rc = proc.wait(timeout=workload.timeout)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                kill_session(proc)
        if rc is None:
            return {"status": "timeout", "reason": "ran past %.0f s" % workload.timeout}
        if rc != 0 or not out.exists():
            return {"status": "error", "reason": "exit status %s; see %s" % (rc, log)}
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL the process group the workload led: it, its workers, its ppserver."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def median_metrics(samples: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key, v in samples[0].items():
        if isinstance(v, (int, float)):
            merged[key] = statistics.median(s[key] for s in samples)
    merged["samples"] = samples
    return merged


def busy_cores(interval: float = BACKGROUND_SAMPLE_S) -> float | None:
    """CPU in use on the whole machine over `interval`, in cores (from /proc/stat)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(t) for t in f.readline().split()[1:]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        return sum(ticks), idle
    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    if total1 == total0:
        return 0.0
    busy = 1 - (idle1 - idle0) / (total1 - total0)
    return round(busy * (os.cpu_count() or 1), 2)


def run_cell(lib: str, workload: Workload, quick: bool) -> dict[str, Any]:
    if lib not in workload.libs:
        return {"status": "n/a", "reason": "%s has no %s mode" % (lib, workload.name)}
    before = busy_cores()  # nothing of ours runs now: this is other work
    n = workload.count_for(lib, quick)
    log = LOGS / ("%s-%s.log" % (workload.name, lib))
    log.unlink(missing_ok=True)
    t0 = time.monotonic()
    runs = []
    for _ in range(workload.repeats):
        result = run_process(lib, workload, n, log)
        runs.append(result)
        if result["status"] != "ok":
            break
    cell = dict(runs[-1])
    if cell["status"] == "ok" and len(runs) > 1:
        cell["metrics"] = median_metrics([r["metrics"] for r in runs])
    wall = round(time.monotonic() - t0, 2)
    after = busy_cores()
    samples = [b for b in (before, after) if b is not None]
    cell.update(n=n, default_n=workload.count, wall_s=wall,
                background_cores=max(samples) if samples else None,
                background_samples=[before, after])
    return cell


# --- the whole run ---

def prepare(libs: list[str]) -> dict[str, str]:
    """Make the anchors' venvs; a library whose venv fails gets its reason."""
    broken = {}
    if not envs.PPGO_PYTHON.exists():
        for lib in ("ppgo", "pool", "ppe", "pingpong"):
            broken[lib] = "%s missing: run `make install`" % envs.PPGO_PYTHON
    for lib in libs:
        if lib in envs.ANCHOR_ENVS and lib not in broken:
            try:
                envs.ensure(envs.ANCHOR_ENVS[lib])
            except (OSError, subprocess.CalledProcessError) as e:
                broken[lib] = "could not set up its venv: %s" % e
    return broken


def run_all(workloads: list[Workload], libs: list[str], quick: bool,
            broken: dict[str, str]) -> report.Cells:
    cells: report.Cells = {}
    total = sum(1 for w in workloads for lib in libs
                if lib not in report.REFERENCES or lib in w.libs)
    done = 0
    for workload in workloads:
        for lib in libs:
            if lib in report.REFERENCES and lib not in workload.libs:
                continue  # a reference has no figure of its own on such rows
            done += 1
            cell: dict[str, Any]
            if lib in broken and lib in workload.libs:
                cell = {"status": "error", "reason": broken[lib], "wall_s": 0.0}
            else:
                cell = run_cell(lib, workload, quick)
            cells.setdefault(workload.name, {})[lib] = cell
            print("[%2d/%d] %-15s %-6s %-12s %6.1f s  %s%s" % (
                done, total, workload.name, lib, cell["status"], cell.get("wall_s", 0.0),
                headline(workload.name, cell), busy_note(cell)), flush=True)
    return cells


def busy_note(cell: dict[str, Any]) -> str:
    if not report.busy(cell):
        return ""
    return "  [machine busy: %.1f cores in use by others around it]" % cell["background_cores"]


def background_summary(cells: report.Cells) -> dict[str, Any]:
    samples = [c["background_cores"] for by_lib in cells.values() for c in by_lib.values()
               if c.get("background_cores") is not None]
    if not samples:
        return {}
    busy = sum(1 for s in samples if s >= report.BUSY_CORES)
    return {"mean_cores": round(statistics.fmean(samples), 2), "max_cores": max(samples),
            "cells_busy": busy, "cells": len(samples)}


def headline(workload: str, cell: dict[str, Any]) -> str:
    """The cell's figures that make the table's rows."""
    if cell["status"] != "ok":
        return cell.get("reason", "")
    m = cell["metrics"]
    keys = [row.metric for row in report.ROWS if row.workload == workload]
    return "  ".join("%s=%.4g" % (k, m[k]) for k in keys if k in m)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "ram_gib": ram_gib(),
        "kernel": platform.release(), "python": python_version(), "go": go_version(),
        "loadavg": load_average(),  # at the end of the run, the suite included
    }
    return info


def load_average() -> list[float] | None:
    """Other work on the machine skews every figure: the run records it."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def command_output(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=envs.ROOT)
    except OSError:
        return None
    return out.stdout.strip() or None


def python_version() -> str | None:
    """The Python every library ran on: .venv's (the anchors' venvs come from it)."""
    return command_output([str(envs.PPGO_PYTHON), "-c", "import sys; print(sys.version)"])


def go_version() -> str | None:
    return command_output(["go", "version"])


def git_state() -> dict[str, Any]:
    commit = command_output(["git", "rev-parse", "HEAD"])
    dirty = command_output(["git", "status", "--porcelain", "--", "core", "pybind",
                            "python", "ppserver", "setup.py", "pyproject.toml"])
    return {"commit": commit, "ppgo_sources_modified": bool(dirty)}


def library_infos(cells: report.Cells) -> dict[str, Any]:
    infos: dict[str, Any] = {}
    for by_lib in cells.values():
        for lib, cell in by_lib.items():
            if "info" in cell:
                infos.setdefault(lib, cell["info"])
    return infos


# --- output ---

def save(results: dict[str, Any], path: Path, chart: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print("results: %s" % path)
    if chart:
        draw_chart(path, path.with_suffix(".png"))


def draw_chart(json_path: Path, png_path: Path) -> None:
    """The chart needs matplotlib, which lives in .bench/tools, not in .venv."""
    try:
        python = envs.ensure(envs.TOOLS_ENV)
        subprocess.run([str(python), str(BENCH / "report.py"), str(json_path),
                        str(png_path)], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("chart: not drawn (%s)" % e)
        return
    print("chart:   %s" % png_path)


def print_report(cells: report.Cells) -> None:
    print()
    print(report.table(cells))
    print()
    print("Ratios: how many times better ppgo is than each anchor (>1: ppgo ahead). "
          "MB/s count the payload once, one way, per round trip. "
          "(500) etc.: that library ran fewer jobs; † marks its ratios. "
          "*: other processes kept the machine busy around that cell.")
    print()
    print("Goals:")
    for verdict in report.goals(cells):
        print("  " + verdict.line())


def parse_list(text: str | None, allowed: tuple[str, ...], what: str) -> list[str]:
    if not text:
        return list(allowed)
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise SystemExit("unknown %s: %s (choose from %s)" % (
            what, ", ".join(unknown), ", ".join(allowed)))
    return [item for item in allowed if item in items]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="ppgo's benchmark suite (see bench/run.py)")
    parser.add_argument("--only", help="comma-separated workloads: %s"
                        % ",".join(WORKLOAD_BY_NAME))
    parser.add_argument("--lib", help="comma-separated libraries: %s" % ",".join(LIBS))
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of every job count (a smoke run, not a measurement)")
    parser.add_argument("--out", type=Path, help="where to save the JSON (PNG beside it)")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workloads = [WORKLOAD_BY_NAME[name] for name in
                 parse_list(args.only, tuple(WORKLOAD_BY_NAME), "workload")]
    libs = parse_list(args.lib, LIBS, "library")
    full = not (args.only or args.lib or args.quick)
    out = args.out or (LATEST if full else PARTIAL)
    LOGS.mkdir(parents=True, exist_ok=True)

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    git = git_state()  # now: `make bench` has just built ppgo from this tree
    broken = prepare(libs)
    load_before = load_average()
    cells = run_all(workloads, libs, args.quick, broken)
    results = {
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "loadavg_before": load_before,
        "background": background_summary(cells),
        "quick": args.quick,
        "machine": machine(),
        "git": git,
        "libraries": library_infos(cells),
        "cells": cells,
        "table": report.table(cells),
        "goals": [v.__dict__ for v in report.goals(cells)],
    }
    print_report(cells)
    print()
    bg = results["background"]
    if bg:
        print("other work on the machine, sampled around each cell: mean %.2f, max %.2f cores;"
              " %d of %d cells ran on a busy machine" % (
                  bg["mean_cores"], bg["max_cores"], bg["cells_busy"], bg["cells"]))
    print("took %.0f s" % results["duration_s"])
    save(results, out, chart=not args.no_chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
