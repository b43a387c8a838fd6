"""The whole nightly job on the data users have, stage by stage: a tag position export CSV
ingested into an empty store, then every force's batch CSV through ``trailmatch nightly``.

Targets on the 2-core reference machine (quarter-national day: 2,500 subjects x 1,440 fixes =
3.6 M fixes, 5,000 crimes in five forces' batches): nightly end to end <= 20 s wall, all
outputs <= 100 MB, every report.html <= 15 MB and drawn by headless Chromium in <= 5 s.
National day (10,000 subjects x 1,440 fixes = 14.4 M, 20,000 crimes, 19 forces): measured,
peak memory <= 4 GB.

One command each (the inputs are built once into ``TRAILMATCH_BENCH_DIR``, default
``$TMPDIR/trailmatch-bench``, by ``benchmarks/nightly_world.py``):

    .venv/bin/python -m pytest benchmarks/test_nightly_bench.py -s
    TRAILMATCH_BENCH_DAY=national .venv/bin/python -m pytest benchmarks/test_nightly_bench.py -s
    TRAILMATCH_BENCH_SCALE=0.1 .venv/bin/python -m pytest benchmarks/test_nightly_bench.py -s

``-s`` shows the figures (stderr); ``extra_info`` of each benchmark holds them too.

- ``test_ingest``: the ``trailmatch ingest positions`` command, in its own process, on the
  export CSV into an empty store: wall and peak RSS (the store is then the nightly's input).
- ``test_nightly``: the ``trailmatch nightly`` command as an operator runs it, in its own
  process on a copy of the ingested store: wall time end to end (interpreter start and imports
  included), the process's peak RSS (``os.wait4``: the kernel's high-water mark, not a
  sample), the run record's seconds per stage (read, store, trails, match, outputs) and per
  output writer (evidence, hits, map, coverage, rejects, report), and the bytes written by kind.
- ``test_largest_report_drawn_by_chromium``: headless Chromium opens the largest report and
  draws its first screen (a screenshot: the whole document parsed and laid out).
- ``test_largest_report_printed_by_chromium``: the same report printed to PDF (every page laid
  out and drawn), with its page count. Slow on a large report (minutes); skipped with
  ``TRAILMATCH_BENCH_PRINT=0``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

from benchmarks.nightly_world import build
from trailmatch.allocator import tune_allocator

tune_allocator()  # as the trailmatch command runs

DAY = os.environ.get("TRAILMATCH_BENCH_DAY", "quarter")
SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
SIZES = {"quarter": (2500, 5000, 5), "national": (10_000, 20_000, 19)}
SUBJECTS, CRIMES, FORCES = SIZES[DAY]
SUBJECTS = max(20, int(round(SUBJECTS * SCALE)))
CRIMES = max(FORCES, int(round(CRIMES * SCALE)))
BASE = Path(os.environ.get("TRAILMATCH_BENCH_DIR",
                           Path(tempfile.gettempdir()) / "trailmatch-bench"))
SCRIPTS = Path(__file__).parent.parent / "scripts"
TRAILMATCH = Path(sys.executable).parent / "trailmatch"
LABEL = f"{DAY} day x{SCALE:g} ({SUBJECTS:,} subjects, {CRIMES:,} crimes, {FORCES} forces)"
LARGEST: list[Path] = []


def _say(text: str) -> None:
    print(f"\n{LABEL}: {text} (load {os.getloadavg()[0]:.1f})", file=sys.stderr)


# Runs a command as its child and writes its wall seconds and peak RSS to a file: the command
# is forked from this small process, not from pytest, whose pages a forked child counts as its
# own until it execs (the peak would be pytest's).
_MEASURE = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": time.perf_counter() - t0, "peak_rss": usage.ru_maxrss * 1024,
               "returncode": os.waitstatus_to_exitcode(status)}, f)
"""


def run_with_peak(cmd: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Run ``cmd`` to its end; its wall seconds, its peak RSS in bytes (``os.wait4``: the
    kernel's high-water mark for that process) and its output."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures.json"
        proc = subprocess.run([sys.executable, "-c", _MEASURE, str(figures), *cmd],
                              capture_output=True, text=True)
        got = json.loads(figures.read_text())
    return got["wall_s"], got["peak_rss"], subprocess.CompletedProcess(
        cmd, got["returncode"], proc.stdout, proc.stderr)


def output_sizes(out: Path) -> dict[str, float]:
    """Megabytes written, by kind of file, and the largest report."""
    kinds: dict[str, int] = defaultdict(int)
    for p in out.rglob("*"):
        if p.is_file():
            kind = "map/*.geojson" if p.parent.name == "map" else p.name
            kinds[kind] += p.stat().st_size
    sizes = {k: round(v / 1e6, 2) for k, v in sorted(kinds.items())}
    sizes["total"] = round(sum(kinds.values()) / 1e6, 2)
    return sizes


@pytest.fixture(scope="module")
def world():
    return build(BASE / f"nightly-{SUBJECTS}-{CRIMES}-{FORCES}", SUBJECTS, CRIMES, FORCES)


INGESTED: dict[str, Path] = {}


def ingest(world, store: Path) -> tuple[float, int]:
    """``trailmatch ingest positions`` of the export into ``store``: wall s, peak RSS bytes."""
    wall, peak, proc = run_with_peak([str(TRAILMATCH), "ingest", "positions", "--store",
                                      str(store), str(world.positions)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    INGESTED["store"] = store
    return wall, peak


@pytest.fixture(scope="module")
def ingested(world, tmp_path_factory):
    """The store test_ingest made (made here when it was not run), copied for each run."""
    if "store" not in INGESTED:
        ingest(world, tmp_path_factory.mktemp("nightly_bench") / "store")
    return INGESTED["store"]


def test_ingest(benchmark, world, tmp_path_factory):
    """``trailmatch ingest positions`` of the export CSV into an empty store, in its own
    process."""
    store = tmp_path_factory.mktemp("nightly_bench") / "store"
    done = []
    benchmark.pedantic(lambda: done.append(ingest(world, store)), rounds=1, iterations=1)
    wall, peak = done[-1]
    fixes = SUBJECTS * 1440
    benchmark.extra_info.update({"day": DAY, "fixes": fixes, "wall_s": round(wall, 2),
                                 "peak_rss_mib": round(peak / 2**20),
                                 "fixes_per_s": round(fixes / wall),
                                 "load_average": os.getloadavg()[0]})
    _say(f"trailmatch ingest positions: {fixes:,} fixes in {wall:.2f} s wall, peak RSS "
         f"{peak / 2**20:,.0f} MiB")


def test_nightly(benchmark, world, ingested, tmp_path):
    """``trailmatch nightly`` in its own process: wall, peak RSS, stages, writers, bytes."""
    from trailmatch.hitstore import open_store
    from trailmatch.hitstore.repository import list_runs

    runs = iter(range(100))
    done = []

    def setup():
        d = tmp_path / f"run{next(runs)}"
        shutil.copytree(ingested, d / "store")
        return (d,), {}

    def nightly(d):
        cmd = [str(TRAILMATCH), "nightly", "--store", str(d / "store"), "--out", str(d / "out"),
               "--operator", "benchmark", "--crimes", *map(str, world.batches)]
        wall, peak, proc = run_with_peak(cmd)
        assert proc.returncode == 0, proc.stderr[-2000:]
        done.append((d, wall, peak))

    benchmark.pedantic(nightly, setup=setup, rounds=1, iterations=1)
    d, wall, peak = done[-1]
    engine = open_store(d / "store")
    try:
        record = list_runs(engine, limit=1)[0]
    finally:
        engine.dispose()
    counts = record["counts"] if isinstance(record["counts"], dict) else \
        json.loads(record["counts"])
    reports = sorted((d / "out").rglob("report.html"), key=lambda p: p.stat().st_size)
    sizes = output_sizes(d / "out")
    figures = {
        "day": DAY, "subjects": SUBJECTS, "crimes": CRIMES, "forces": FORCES,
        "wall_s": round(wall, 2), "peak_rss_mib": round(peak / 2**20),
        "stages_s": counts["stages_s"], "writers_s": counts.get("writers_s", {}),
        "hits": sum(f["hits"] for f in counts["forces"].values()),
        "outputs_mb": sizes, "largest_report_mb": round(reports[-1].stat().st_size / 1e6, 2),
        "load_average": os.getloadavg()[0],
    }
    benchmark.extra_info.update(figures)
    LARGEST.append(reports[-1])
    stages = ", ".join(f"{k} {v:.2f}" for k, v in counts["stages_s"].items())
    writers = ", ".join(f"{k} {v:.2f}" for k, v in counts.get("writers_s", {}).items())
    _say(f"trailmatch nightly {wall:.2f} s wall, peak RSS {peak / 2**20:,.0f} MiB, "
         f"{figures['hits']:,} hits\n  stages (s): {stages}\n  outputs stage by writer (s): "
         f"{writers}\n  outputs (MB): "
         + ", ".join(f"{k} {v:g}" for k, v in sizes.items())
         + f"\n  largest report {reports[-1].relative_to(d / 'out')} "
           f"{figures['largest_report_mb']} MB")


def _largest() -> Path:
    if shutil.which("chromium") is None or not LARGEST:
        pytest.skip("chromium is not installed, or test_nightly did not run")
    return LARGEST[-1]


def test_largest_report_drawn_by_chromium(benchmark, tmp_path):
    """Headless Chromium opens the largest report and draws its first screen."""
    report = _largest()
    png = tmp_path / "report.png"

    def draw():
        subprocess.run([sys.executable, str(SCRIPTS / "render_report.py"), str(report), str(png),
                        "--height", "1200"], check=True, capture_output=True, timeout=900)

    benchmark.pedantic(draw, rounds=1, iterations=1)
    benchmark.extra_info.update({"report_mb": round(report.stat().st_size / 1e6, 2),
                                 "load_average": os.getloadavg()[0]})
    _say(f"Chromium opened and drew {report.name} ({report.stat().st_size / 1e6:.1f} MB) in "
         f"{benchmark.stats.stats.max:.2f} s")


def test_largest_report_printed_by_chromium(benchmark, tmp_path):
    """The largest report printed to PDF by headless Chromium (every page laid out and drawn)."""
    report = _largest()
    if os.environ.get("TRAILMATCH_BENCH_PRINT", "1") == "0":
        pytest.skip("TRAILMATCH_BENCH_PRINT=0")
    sys.path.insert(0, str(SCRIPTS))
    from render_report import render

    pdf = tmp_path / "report.pdf"
    benchmark.pedantic(lambda: render(report, pdf, timeout=3600), rounds=1, iterations=1)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = next((int(ln.split()[-1]) for ln in info.splitlines() if ln.startswith("Pages:")), 0)
    benchmark.extra_info.update({"report_mb": round(report.stat().st_size / 1e6, 2),
                                 "pages": pages, "load_average": os.getloadavg()[0]})
    _say(f"Chromium printed {report.name} ({report.stat().st_size / 1e6:.1f} MB) to {pages} "
         f"A4 pages in {benchmark.stats.stats.max:.2f} s")
