"""Turns the cells of a benchmark run into a table, goal lines and a chart.

The table is Markdown (paste it into docs/PERFORMANCE.md as printed): one row
per figure, one column per library, then one ratio column per anchor. A ratio
says how many times better ppgo is than that anchor on that row, whichever
way the row counts (for latency, RSS and startup it is anchor / ppgo), so >1
is ppgo ahead everywhere. Cells that did not produce a figure say why:
"timeout", "error", "not available" (the library could run it but something
is missing, e.g. the ppserver binary), "n/a" (no such mode, e.g. remote for
Pool). A figure from fewer jobs than the default carries its count, e.g.
"(500)", and its ratio a "†"; one taken while other processes kept the
machine busy carries a " *".

Run as a script to draw the chart of a saved run (needs matplotlib):

    .bench/tools/bin/python bench/report.py bench/results/latest.json latest.png
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

LIB_ORDER = ("ppgo", "pp170", "ppft", "pool", "ppe", "pingpong")
LIB_NAMES = {"ppgo": "ppgo", "pp170": "pp 1.7.0", "ppft": "ppft",
             "pool": "Pool", "ppe": "PPE", "pingpong": "pingpong"}
# References are floors, not competitors: their column shows the figure on
# the rows they run (pingpong: latency, a bare pipe between two Python
# processes), and no ratio column compares ppgo with them.
REFERENCES = ("pingpong",)
ANCHORS = tuple(lib for lib in LIB_ORDER[1:] if lib not in REFERENCES)
STATUS_TEXT = {"timeout": "timeout", "error": "error",
               "unavailable": "not available", "n/a": "n/a"}

# Cores in use by other processes around a cell above which its figures are
# marked " *": they may be skewed.
BUSY_CORES = 0.2

Cells = dict[str, dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    workload: str
    metric: str
    higher_is_better: bool
    fmt: str
    # Not comparable between runs of different job counts (memory grows with them).
    needs_same_count: bool = False
    # A figure of ppgo's alone (a simulation of its scheduler): no anchor has one.
    ppgo_only: bool = False


ROWS = (
    Row("tiny", "tiny: 20k x+1 jobs, jobs/s", "tiny", "jobs_per_s", True, "{:,.0f}"),
    Row("latency_median", "latency: median round trip, µs", "latency", "median_us",
        False, "{:,.0f}"),
    Row("latency_p99", "latency: p99 round trip, µs", "latency", "p99_us", False, "{:,.0f}"),
    Row("cpu_speedup", "cpu: 16 × 0.2 s, speedup 1→N", "cpu", "speedup", True, "{:.2f}"),
    Row("cpu_per_worker", "cpu: speedup / N", "cpu", "speedup_per_worker", True, "{:.3f}"),
    Row("payload_1", "payload 1 MiB, MB/s one way", "payload", "mib1_mb_per_s", True,
        "{:,.0f}"),
    Row("payload_32", "payload 32 MiB, MB/s one way", "payload", "mib32_mb_per_s", True,
        "{:,.0f}"),
    Row("startup", "startup: Server() → 1st result, s", "startup", "seconds", False,
        "{:.3f}"),
    Row("startup_process", "startup: process start → 1st result, s", "startup_process",
        "seconds", False, "{:.3f}"),
    Row("remote_tiny", "remote tiny: 20k jobs, jobs/s", "remote_tiny", "jobs_per_s", True,
        "{:,.0f}"),
    Row("remote_tiny_cpu", "remote tiny: CPU per job, client + ppserver + workers, µs",
        "remote_tiny", "cpu_us_per_job", False, "{:,.1f}"),
    Row("remote_median", "remote latency: median, µs", "remote_latency", "median_us",
        False, "{:,.0f}"),
    Row("remote_p99", "remote latency: p99, µs", "remote_latency", "p99_us", False,
        "{:,.0f}"),
    Row("remote_payload_1", "remote payload 1 MiB, MB/s one way", "remote_payload",
        "mib1_mb_per_s", True, "{:,.0f}"),
    Row("remote_payload_32", "remote payload 32 MiB, MB/s one way", "remote_payload",
        "mib32_mb_per_s", True, "{:,.0f}"),
    Row("executor_tiny", "Executor.submit: 20k x+1 jobs, jobs/s", "executor_tiny",
        "jobs_per_s", True, "{:,.0f}"),
    Row("map_chunked", "map of 1M items, chunksize 1000, items/s", "map_chunked",
        "items_per_s", True, "{:,.0f}"),
    Row("async_latency", "asyncio: median await round trip, µs", "async_latency",
        "median_us", False, "{:,.0f}"),
    Row("scale", "scale: 1M queued jobs, jobs/s", "scale", "jobs_per_s", True, "{:,.0f}"),
    Row("scale_rss", "scale: client peak RSS, MiB", "scale", "peak_rss_mib", False,
        "{:,.0f}", needs_same_count=True),
    Row("idle_client", "idle Server: client RSS, MiB", "memory", "client_rss_mib", False,
        "{:.1f}"),
    Row("idle_workers", "idle Server: workers' RSS sum, MiB", "memory", "children_rss_mib",
        False, "{:.1f}"),
    Row("sim_cpu_1", "sim: scheduler CPU per job, 1 node × 64 workers, ns", "sched_sim",
        "cpu_ns_1", False, "{:,.0f}", ppgo_only=True),
    Row("sim_cpu_1000", "sim: scheduler CPU per job, 1 000 nodes × 64 workers, ns",
        "sched_sim", "cpu_ns_1000", False, "{:,.0f}", ppgo_only=True),
    Row("sim_growth", "sim: CPU per job, 1 000 nodes / 1 node, worst of 2–64 workers",
        "sched_sim", "worst_growth", False, "{:.2f}×", ppgo_only=True),
    Row("sim_rate", "sim: dispatch rate, 1 000 nodes × 64, node goroutines, jobs/s",
        "sched_sim", "goroutines_jobs_per_s_1000", True, "{:,.0f}", ppgo_only=True),
    Row("sim_remote_growth", "sim: remote links, CPU per job, 1 000 nodes / 1 node, 64 workers",
        "sched_sim", "remote_growth", False, "{:.2f}×", ppgo_only=True),
    Row("sim_remote_rate", "sim: 1 000 remote links to instant ppservers, jobs/s",
        "sched_sim", "remote_jobs_per_s_1000", True, "{:,.0f}", ppgo_only=True),
)
ROW_BY_KEY = {row.key: row for row in ROWS}


# --- reading cells ---

def cell(cells: Cells, row: Row, lib: str) -> dict[str, Any] | None:
    return cells.get(row.workload, {}).get(lib)


def value(cells: Cells, row: Row, lib: str) -> float | None:
    c = cell(cells, row, lib)
    if c is None or c.get("status") != "ok":
        return None
    v = c["metrics"].get(row.metric)
    return float(v) if isinstance(v, (int, float)) else None


def scaled(c: dict[str, Any] | None) -> bool:
    """Whether this cell ran fewer jobs than the workload's default."""
    return bool(c and c.get("n") is not None and c.get("default_n") is not None
                and c["n"] != c["default_n"])


def short_count(n: int) -> str:
    if n >= 1000 and n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


def ratio(cells: Cells, row: Row, anchor: str) -> float | None:
    """How many times better ppgo is than `anchor` on this row (>1: ahead)."""
    mine, theirs = value(cells, row, "ppgo"), value(cells, row, anchor)
    if mine is None or theirs is None or mine <= 0 or theirs <= 0:
        return None
    if row.needs_same_count and (scaled(cell(cells, row, "ppgo"))
                                 or scaled(cell(cells, row, anchor))):
        return None
    return mine / theirs if row.higher_is_better else theirs / mine


def counts_differ(cells: Cells, row: Row, anchor: str) -> bool:
    mine, theirs = cell(cells, row, "ppgo"), cell(cells, row, anchor)
    return bool(mine and theirs and mine.get("n") != theirs.get("n"))


# --- the table ---

def cell_text(cells: Cells, row: Row, lib: str) -> str:
    c = cell(cells, row, lib)
    if c is None:
        return ""
    if c.get("status") != "ok":
        return STATUS_TEXT.get(c.get("status", "error"), c.get("status", "error"))
    v = value(cells, row, lib)
    text = "?" if v is None else row.fmt.format(v)
    if scaled(c):
        text += " (%s)" % short_count(c["n"])
    if busy(c):
        text += " *"
    return text


def busy(c: dict[str, Any]) -> bool:
    """Whether other work used the machine around this cell (see run.py)."""
    cores = c.get("background_cores")
    return cores is not None and cores >= BUSY_CORES


def ratio_text(cells: Cells, row: Row, anchor: str) -> str:
    r = ratio(cells, row, anchor)
    if r is None:
        return "—"
    text = "%.2f×" % r if r < 10 else "%.0f×" % r
    return text + ("†" if counts_differ(cells, row, anchor) else "")


def present_libs(cells: Cells) -> list[str]:
    seen = {lib for by_lib in cells.values() for lib in by_lib}
    return [lib for lib in LIB_ORDER if lib in seen]


def table(cells: Cells) -> str:
    """The Markdown table of figures and ratios."""
    libs = present_libs(cells)
    anchors = [a for a in ANCHORS if a in libs] if "ppgo" in libs else []
    header = (["figure"] + [LIB_NAMES[lib] for lib in libs]
              + ["ppgo vs %s" % LIB_NAMES[a] for a in anchors])
    lines = [header, ["---"] + ["---:"] * (len(header) - 1)]
    for row in ROWS:
        if row.workload not in cells:
            continue
        lines.append([row.label] + [cell_text(cells, row, lib) for lib in libs]
                     + [ratio_text(cells, row, a) for a in anchors])
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


# --- goals of the issue ---

@dataclass(frozen=True)
class Verdict:
    goal: str
    status: str  # PASS, MISS or N/A (not measured in this run)
    detail: str

    def line(self) -> str:
        return "%-4s  %s: %s" % (self.status, self.goal, self.detail)


def ahead_everywhere(cells: Cells, anchor: str) -> Verdict:
    goal = "ahead of %s on every row" % LIB_NAMES[anchor]
    behind, ahead, missing = [], [], []
    for row in ROWS:
        if row.workload not in cells or row.ppgo_only:
            continue
        r = ratio(cells, row, anchor)
        if r is None:
            missing.append(row.key)
        elif r > 1:
            ahead.append((row.key, r))
        else:
            behind.append((row.key, r))
    if not ahead and not behind:
        return Verdict(goal, "N/A", "no row measured for both")
    parts = ["ahead on %d of %d compared rows" % (len(ahead), len(ahead) + len(behind))]
    if behind:
        parts.append("behind on " + ", ".join("%s %.2f×" % kr for kr in behind))
    if missing:
        parts.append("not compared: " + ", ".join(missing))
    return Verdict(goal, "MISS" if behind else "PASS", "; ".join(parts))


def ratio_goal(cells: Cells, goal: str, row_key: str, anchor: str,
               target: float) -> Verdict:
    row = ROW_BY_KEY[row_key]
    r = ratio(cells, row, anchor)
    if r is None:
        return Verdict(goal, "N/A", "not measured (ppgo: %s, %s: %s)" % (
            cell_text(cells, row, "ppgo") or "not run", LIB_NAMES[anchor],
            cell_text(cells, row, anchor) or "not run"))
    note = " (anchor ran fewer jobs)" if counts_differ(cells, row, anchor) else ""
    status = "PASS" if r >= target else "MISS"
    return Verdict(goal, status, "%.2f× (target ≥ %.3g×)%s" % (r, target, note))


def remote_payload_goal(cells: Cells) -> Verdict:
    """32 MiB through a loopback ppserver at least as fast as Pool locally."""
    goal = "remote 32 MiB payload ≥ Pool's local"
    mine = value(cells, ROW_BY_KEY["remote_payload_32"], "ppgo")
    pool = value(cells, ROW_BY_KEY["payload_32"], "pool")
    if mine is None or pool is None or pool <= 0:
        return Verdict(goal, "N/A", "not measured")
    return Verdict(goal, "PASS" if mine >= pool else "MISS",
                   "%.0f MB/s against Pool's %.0f MB/s locally (%.2f×)" % (mine, pool, mine / pool))


def least_goal(cells: Cells, goal: str, row_key: str, least: float, fmt: str) -> Verdict:
    """ppgo's figure in a row at least an absolute target."""
    mine = value(cells, ROW_BY_KEY[row_key], "ppgo")
    if mine is None:
        return Verdict(goal, "N/A", "not measured")
    return Verdict(goal, "PASS" if mine >= least else "MISS",
                   (fmt + " (target ≥ " + fmt + ")").format(mine, least))


def cpu_goal(cells: Cells) -> Verdict:
    goal = "cpu speedup ≥ 0.97 × workers"
    v = value(cells, ROW_BY_KEY["cpu_per_worker"], "ppgo")
    if v is None:
        return Verdict(goal, "N/A", "not measured")
    workers = cells["cpu"]["ppgo"]["metrics"]["workers"]
    return Verdict(goal, "PASS" if v >= 0.97 else "MISS",
                   "speedup %.2f on %d workers = %.3f × workers" % (v * workers, workers, v))


def scale_goal(cells: Cells) -> Verdict:
    goal = "1M queued jobs within 1 GiB client RSS"
    c = cells.get("scale", {}).get("ppgo")
    if c is None or c.get("status") != "ok":
        return Verdict(goal, "N/A" if c is None else "MISS",
                       "scale: %s" % (c or {}).get("status", "not run"))
    m = c["metrics"]
    if m["jobs"] < 1_000_000:
        return Verdict(goal, "N/A", "this run queued only %d jobs" % m["jobs"])
    return Verdict(goal, "PASS" if m["peak_rss_mib"] <= 1024 else "MISS",
                   "%d jobs, peak RSS %.0f MiB = %.2f GiB" % (
                       m["jobs"], m["peak_rss_mib"], m["peak_rss_mib"] / 1024))


def goals(cells: Cells) -> list[Verdict]:
    return [
        ahead_everywhere(cells, "pp170"),
        ahead_everywhere(cells, "ppft"),
        ratio_goal(cells, "tiny ≥ 3× Pool.apply_async", "tiny", "pool", 3),
        ratio_goal(cells, "tiny ≥ 25× ppft", "tiny", "ppft", 25),
        ratio_goal(cells, "latency median ≤ ¼ of Pool's", "latency_median", "pool", 4),
        cpu_goal(cells),
        ratio_goal(cells, "32 MiB payload ≥ 10× Pool", "payload_32", "pool", 10),
        ratio_goal(cells, "32 MiB payload ≥ 5× Pool", "payload_32", "pool", 5),
        ratio_goal(cells, "32 MiB payload ≥ 4× pp 1.7.0", "payload_32", "pp170", 4),
        remote_payload_goal(cells),
        least_goal(cells, "remote tiny ≥ 100k jobs/s", "remote_tiny", 100_000, "{:,.0f} jobs/s"),
        ratio_goal(cells, "startup ≤ ¼ of ppft's", "startup", "ppft", 4),
        # ≤ 1.5× Pool's time: Pool's / ppgo's ≥ 1 / 1.5, rounded up (issue #16).
        ratio_goal(cells, "startup ≤ 1.5× Pool's", "startup", "pool", 0.67),
        ratio_goal(cells, "remote tiny ≥ 400× ppft", "remote_tiny", "ppft", 400),
        scale_goal(cells),
        ratio_goal(cells, "Executor.submit ≥ 5× ProcessPoolExecutor", "executor_tiny", "ppe", 5),
        ratio_goal(cells, "map(chunksize=1000) ≥ Pool.map", "map_chunked", "pool", 1),
        async_goal(cells),
        sim_goal(cells),
        floor_goal(cells),
        ratio_goal(cells, "latency median ≤ 0.6× Pool's", "latency_median", "pool", 1 / 0.6),
        ratio_goal(cells, "1M queued jobs: peak client RSS ≤ ppft's", "scale_rss", "ppft", 1),
        ratio_goal(cells, "1M queued jobs: peak client RSS ≤ pp 1.7.0's", "scale_rss",
                   "pp170", 1),
        idle_goal(cells),
    ]


def sim_goal(cells: Cells) -> Verdict:
    """The scheduler's CPU per job flat within 1.5× from 1 to 1 000 nodes."""
    goal = "scheduler CPU per job within 1.5× from 1 to 1 000 nodes"
    growth = value(cells, ROW_BY_KEY["sim_growth"], "ppgo")
    if growth is None:
        return Verdict(goal, "N/A", "not measured")
    return Verdict(goal, "PASS" if growth <= 1.5 else "MISS",
                   "%.2f× at worst (1 000 nodes against 1, 2 to 64 workers each)" % growth)


# The bounds on the rows below: latency within this factor of the
# bare pipe, and an idle client within this many MiB of pp 1.7.0's.
FLOOR_FACTOR = 1.3
IDLE_MARGIN_MIB = 2.0


def floor_goal(cells: Cells) -> Verdict:
    """ppgo's median round trip within FLOOR_FACTOR of the bare pipe's."""
    goal = "latency median ≤ %g× the pingpong floor" % FLOOR_FACTOR
    row = ROW_BY_KEY["latency_median"]
    mine, floor = value(cells, row, "ppgo"), value(cells, row, "pingpong")
    if mine is None or floor is None or floor <= 0:
        return Verdict(goal, "N/A", "not measured")
    return Verdict(goal, "PASS" if mine <= FLOOR_FACTOR * floor else "MISS",
                   "%.0f µs against %.0f µs through a bare pipe (%.2f×)"
                   % (mine, floor, mine / floor))


def idle_goal(cells: Cells) -> Verdict:
    goal = "idle client RSS ≤ pp 1.7.0's + %g MiB" % IDLE_MARGIN_MIB
    row = ROW_BY_KEY["idle_client"]
    mine, theirs = value(cells, row, "ppgo"), value(cells, row, "pp170")
    if mine is None or theirs is None:
        return Verdict(goal, "N/A", "not measured")
    return Verdict(goal, "PASS" if mine <= theirs + IDLE_MARGIN_MIB else "MISS",
                   "%.1f MiB against %.1f MiB (%+.1f MiB)" % (mine, theirs, mine - theirs))


def async_goal(cells: Cells) -> Verdict:
    """asyncio's round trip within 1.2× of a plain task's, in the same run."""
    goal = "asyncio latency within 1.2× of task latency"
    plain = value(cells, ROW_BY_KEY["latency_median"], "ppgo")
    awaited = value(cells, ROW_BY_KEY["async_latency"], "ppgo")
    if plain is None or awaited is None:
        return Verdict(goal, "N/A", "not measured")
    return Verdict(goal, "PASS" if awaited <= 1.2 * plain else "MISS",
                   "%.0f µs awaited against %.0f µs called (%.2f×)"
                   % (awaited, plain, awaited / plain))


# --- the chart ---

def chart(results: dict[str, Any], path: str) -> None:
    """One small bar chart per row of the table, saved as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells: Cells = results["cells"]
    rows = [row for row in ROWS if row.workload in cells]
    libs = present_libs(cells)
    ncols = 3
    nrows = (len(rows) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(15, 2.6 * nrows), squeeze=False)
    for ax, row in zip(axes.flat, rows):
        draw_row(ax, cells, row, libs)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    fig.suptitle(chart_title(results), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_row(ax: Any, cells: Cells, row: Row, libs: list[str]) -> None:
    libs = [lib for lib in libs if cell(cells, row, lib) is not None]
    names = [LIB_NAMES[lib] for lib in libs]
    values = [value(cells, row, lib) or 0.0 for lib in libs]
    colors = ["tab:orange" if lib == "ppgo" else "tab:gray" if lib in REFERENCES
              else "tab:blue" for lib in libs]
    bars = ax.barh(names, values, color=colors)
    ax.invert_yaxis()
    top = max(values) or 1.0
    positive = [v for v in values if v > 0]
    log = bool(positive) and top / min(positive) > 50
    if log:  # remote rows span three orders of magnitude
        ax.set_xscale("log")
        ax.set_xlim(min(positive) / 2, top * 30)
    else:
        ax.set_xlim(0, top * 1.45)
    for bar, lib in zip(bars, libs):
        x = bar.get_width() * 1.3 if log else bar.get_width() + top * 0.02
        if log and bar.get_width() <= 0:
            x = min(positive)
        ax.text(x, bar.get_y() + bar.get_height() / 2,
                cell_text(cells, row, lib), va="center", fontsize=8)
    better = "higher" if row.higher_is_better else "lower"
    scale = ", log scale" if log else ""
    ax.set_title("%s (%s is better%s)" % (row.label, better, scale), fontsize=9)
    ax.tick_params(labelsize=8)


def chart_title(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    return "ppgo bench, %s: %s, %s cores, %s GiB RAM, Python %s" % (
        results.get("started", "?")[:10], m.get("cpu", "?"), m.get("cores", "?"),
        m.get("ram_gib", "?"), (m.get("python") or "?").split()[0])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: report.py RESULTS.json CHART.png", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        chart(json.load(f), argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
