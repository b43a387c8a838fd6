"""match() on a synthetic national day, side by side with what a user would write instead.

The national day: 5,000 subjects x 1,440 fixes (one a minute) random-walking over a 60 km
square, 20,000 crimes with windows of 0 to 12 h (``trailmatch.synthetic``). The baseline is
GeoPandas ``sjoin(predicate="dwithin", distance=100)`` of the crimes with the fixes as points,
then a time filter (``benchmarks/peers/geopandas_peer.py``): it sees fixes only, so it does
less than match(), which interpolates the path and computes exact intervals.

    make bench                                   # everything
    .venv/bin/python -m pytest benchmarks/test_match_bench.py -s --benchmark-only
    TRAILMATCH_BENCH_SCALE=0.1 ...               # a tenth of the subjects and crimes

Prints the ratio (baseline / match, both end to end from DataFrames) and match()'s peak
memory: the process RSS sampled every 2 ms during the call, in a fresh process, against the
RSS holding the data just before it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from benchmarks.peers import common, geopandas_peer, trailmatch_peer
from trailmatch import Rules, match

SCALE = common.scale_env(1.0)
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def day():
    work = common.national_day(SCALE)
    match(work.trails.iloc[:5000], work.crimes.iloc[:50], Rules())  # compile / load the cache
    return work


@pytest.mark.parametrize("precision", [False, True], ids=["precision_off", "precision_on"])
def test_match_national_day(benchmark, day, precision):
    rules = Rules(count_precision=precision)
    hits = benchmark.pedantic(match, args=(day.trails, day.crimes, rules), rounds=5,
                              iterations=1, warmup_rounds=1)
    assert len(hits) > 0
    RESULTS[f"match_{'on' if precision else 'off'}"] = benchmark.stats.stats.median


def test_geopandas_baseline(benchmark, day):
    got = benchmark.pedantic(geopandas_peer.run, args=(day,), rounds=1, iterations=1)
    # the baseline must find exactly the pairs whose fixes are themselves in the vicinity
    assert got["pairs"] == trailmatch_peer.run(day)["fix_pairs"]
    RESULTS["geopandas"] = benchmark.stats.stats.median


_PEAK = """
import json, sys, threading, time
import psutil
from benchmarks.peers import common
from trailmatch import Rules, match
work = common.national_day(float(sys.argv[1]))
match(work.trails.iloc[:5000], work.crimes.iloc[:50], Rules())
proc = psutil.Process()
before = proc.memory_info().rss
peak = [before]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.002)
sampler = threading.Thread(target=sample)
sampler.start()
t = time.perf_counter(); match(work.trails, work.crimes, Rules()); t = time.perf_counter() - t
done.set(); sampler.join()
print(json.dumps({"before_mb": before / 2**20, "peak_mb": peak[0] / 2**20, "seconds": t}))
"""


def test_peak_memory_and_ratio():
    done = subprocess.run([sys.executable, "-c", _PEAK, str(SCALE)], capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    peak = json.loads(done.stdout.strip().splitlines()[-1])
    lines = [f"scale {SCALE}: process RSS {peak['before_mb']:.0f} MB holding the data, "
             f"{peak['peak_mb']:.0f} MB at the peak of match() "
             f"(+{peak['peak_mb'] - peak['before_mb']:.0f} MB)"]
    if {"geopandas", "match_off", "match_on"} <= RESULTS.keys():
        gpd, off, on = RESULTS["geopandas"], RESULTS["match_off"], RESULTS["match_on"]
        lines.append(f"GeoPandas {gpd:.2f} s; match() precision off {off:.3f} s "
                     f"({gpd / off:.0f}x), precision on {on:.3f} s ({gpd / on:.0f}x)")
    print("\n" + "\n".join(lines) + f"\n(measured {time.strftime('%Y-%m-%d %H:%M')})")
    assert peak["peak_mb"] - peak["before_mb"] < 2048
