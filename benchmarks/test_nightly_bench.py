"""The whole nightly job on the data users have, stage by stage: a tag position export CSV
ingested into an empty store, then every force's batch CSV through ``trailmatch nightly``.

Targets on the 2-core reference machine (quarter-national day: 2,500 subjects x 1,440 fixes =
3.6 M fixes, 5,000 crimes in five forces' batches): nightly end to end <= 20 s wall, all
outputs <= 100 MB, every report.html <= 15 MB and printed by headless Chromium in <= 5 s.
National day (10,000 subjects, 20,000 crimes, 19 forces): measured, peak memory <= 4 GB.

    .venv/bin/python -m pytest benchmarks/test_nightly_bench.py -s
    TRAILMATCH_BENCH_DAY=national .venv/bin/python -m pytest benchmarks/test_nightly_bench.py -s
    TRAILMATCH_BENCH_SCALE=0.1 .venv/bin/python -m pytest benchmarks/test_nightly_bench.py -s

Each stage is its own benchmark (one round each: a stage changes the store it runs on):
``ingest`` (export CSV into an empty store), then ``nightly`` whose run record gives read,
store, trails, match and outputs, and each writer of the output registry (hits, map,
coverage, rejects, report). ``extra_info`` carries the figures the targets are about: seconds
per stage and writer, the outputs' bytes, the largest report, peak RSS, Chromium's print time.
The inputs are built once into ``TRAILMATCH_BENCH_DIR`` (``benchmarks/nightly_world.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks.nightly_world import build
from benchmarks.test_ingest_throughput import PeakRSS
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


@pytest.fixture(scope="module")
def world():
    return build(BASE / f"nightly-{SUBJECTS}-{CRIMES}-{FORCES}", SUBJECTS, CRIMES, FORCES)


@pytest.fixture(scope="module")
def ingested(world, tmp_path_factory):
    """A store with the export ingested, copied for each nightly run."""
    from trailmatch.store import Store

    store = tmp_path_factory.mktemp("nightly_bench") / "store"
    Store(store).ingest_positions(world.positions)
    return store


def test_ingest(benchmark, world, tmp_path):
    """``trailmatch ingest positions`` of the export CSV into an empty store."""
    from trailmatch.store import Store

    stores = iter(tmp_path / f"store{i}" for i in range(100))
    mem = PeakRSS()

    def ingest(store):
        with mem:
            Store(store).ingest_positions(world.positions)

    benchmark.pedantic(ingest, setup=lambda: ((next(stores),), {}), rounds=1, iterations=1)
    fixes = SUBJECTS * 1440
    benchmark.extra_info.update({"day": DAY, "fixes": fixes, "peak_rss_mib": round(mem.total_mib),
                                 "fixes_per_s": round(fixes / benchmark.stats.stats.max),
                                 "load_average": os.getloadavg()[0]})
    print(f"\n{DAY} day x{SCALE:g}: ingest {fixes:,} fixes in {benchmark.stats.stats.max:.2f} s, "
          f"peak RSS {mem.total_mib:.0f} MiB (load {os.getloadavg()[0]:.1f})", file=sys.stderr)


def test_nightly(benchmark, world, ingested, tmp_path):
    """``trailmatch nightly`` over every force's batch, from a freshly ingested store; the
    run record's stages and the output registry's writers, each timed, in extra_info."""
    from trailmatch.hitstore import open_store
    from trailmatch.jobs.nightly import run_nightly
    from trailmatch.jobs.sources import StoreTrails
    from trailmatch.progress import Stages
    from trailmatch.rules import Rules

    runs = iter(range(100))
    mem = PeakRSS()
    results = []

    def setup():
        d = tmp_path / f"run{next(runs)}"
        shutil.copytree(ingested, d / "store")
        return (d,), {}

    def nightly(d):
        engine = open_store(d / "store")
        try:
            with mem:
                results.append(run_nightly(engine, world.batches, StoreTrails(d / "store"),
                                           d / "out", Rules(),
                                           stages=Stages("nightly", tty=False),
                                           operator="benchmark"))
        finally:
            engine.dispose()
        results[-1].out = d / "out"

    benchmark.pedantic(nightly, setup=setup, rounds=1, iterations=1)
    result = results[-1]
    files = [p for p in result.out.rglob("*") if p.is_file()]
    reports = sorted(result.out.rglob("report.html"))
    figures = {
        "day": DAY, "subjects": SUBJECTS, "crimes": CRIMES, "forces": FORCES,
        "wall_s": round(benchmark.stats.stats.max, 2), "peak_rss_mib": round(mem.total_mib),
        "stages_s": result.counts["stages_s"], "writers_s": result.counts.get("writers_s", {}),
        "hits": sum(f["hits"] for f in result.counts["forces"].values()),
        "outputs_mb": round(sum(p.stat().st_size for p in files) / 1e6, 2),
        "largest_report_mb": round(max(p.stat().st_size for p in reports) / 1e6, 2),
        "load_average": os.getloadavg()[0],
    }
    benchmark.extra_info.update(figures)
    LARGEST.append(max(reports, key=lambda p: p.stat().st_size))
    print(f"\n{DAY} day x{SCALE:g}: nightly {figures}", file=sys.stderr)


LARGEST: list[Path] = []


def test_largest_report_prints_in_chromium(benchmark, tmp_path):
    """The largest report of the nightly run above, printed to PDF by headless Chromium (every
    page laid out and drawn)."""
    if shutil.which("chromium") is None or not LARGEST:
        pytest.skip("chromium is not installed, or test_nightly did not run")
    script = Path(__file__).parent.parent / "scripts" / "render_report.py"
    pdf = tmp_path / "report.pdf"

    def render():
        subprocess.run([sys.executable, str(script), str(LARGEST[-1]), str(pdf)], check=True,
                       capture_output=True, timeout=900)

    benchmark.pedantic(render, rounds=1, iterations=1)
    pages = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    benchmark.extra_info.update({"report_mb": round(LARGEST[-1].stat().st_size / 1e6, 2),
                                 "load_average": os.getloadavg()[0]})
    print(f"\n{DAY} day x{SCALE:g}: Chromium printed {LARGEST[-1]} in "
          f"{benchmark.stats.stats.max:.2f} s; "
          + " ".join(ln for ln in pages.splitlines() if ln.startswith("Pages")), file=sys.stderr)
