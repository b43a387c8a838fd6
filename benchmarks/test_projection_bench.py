"""WGS84 -> British National Grid, side by side in one run: trailmatch.crs (OSTN15 through
convertbng) against pyproj as a user gets it without the OSTN15 grid (Helmert, what trailmatch
used before), on the same 2 M points around Southampton; and the accuracy of each against
Ordnance Survey's 40 OSTN15 test points.

    .venv/bin/python -m pytest benchmarks/test_projection_bench.py -s

Each benchmark's ``extra_info`` has CPU-µs per point (process CPU time, all threads) beside the
wall time; ``test_accuracy`` prints the worst miss of each at OS's test points.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from trailmatch import crs

N = int(2_000_000 * float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1")))
POINTS = Path(__file__).parent.parent / "tests" / "data" / "ostn15" / "test_points.csv"


@pytest.fixture(scope="module")
def lonlat():
    rng = np.random.default_rng(1)
    return rng.uniform(-1.6, -1.2, N), rng.uniform(50.8, 51.0, N)


def _timed(benchmark, fn, *args):
    cpu = []

    def run():
        c = time.process_time()
        out = fn(*args)
        cpu.append(time.process_time() - c)
        return out

    benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    benchmark.extra_info["points"] = N
    benchmark.extra_info["cpu_us_per_point"] = round(min(cpu) / N * 1e6, 4)
    benchmark.extra_info["load_average"] = os.getloadavg()[0]


def test_ostn15_trailmatch(benchmark, lonlat):
    _timed(benchmark, crs.lonlat_to_working, *lonlat)


def test_helmert_pyproj(benchmark, lonlat):
    t = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    _timed(benchmark, t.transform, *lonlat)


def test_ostn15_inverse_trailmatch(benchmark, lonlat):
    e, n = crs.lonlat_to_working(*lonlat)
    _timed(benchmark, crs.working_to_lonlat, e, n)


def test_accuracy():
    p = pd.read_csv(POINTS)
    e, n = crs.lonlat_to_working(p["etrs89_lon"], p["etrs89_lat"])
    t = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    he, hn = t.transform(p["etrs89_lon"].to_numpy(), p["etrs89_lat"].to_numpy())
    ours = np.hypot(e - p["osgb36_east"], n - p["osgb36_north"])
    helmert = np.hypot(he - p["osgb36_east"], hn - p["osgb36_north"])
    print(f"\nOS OSTN15 test points: trailmatch.crs worst {ours.max() * 1e3:.3f} mm; "
          f"pyproj without the grid {helmert.min():.3f}-{helmert.max():.3f} m")
    assert ours.max() <= 0.001
