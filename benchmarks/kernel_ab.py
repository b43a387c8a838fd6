"""Old against new for the kernels a change touched: the same figures from two trees of trailmatch.

A change that folds twin kernels into one must leave every benchmark unchanged within noise.
This script times each kernel family on the synthetic national day (5,000 subjects x 1,440
fixes, 20,000 crimes; ``TRAILMATCH_BENCH_SCALE`` scales both) and prints one line per figure
(median and best of ``TRAILMATCH_BENCH_ROUNDS``, default 7). It imports ``trailmatch`` from
wherever ``PYTHONPATH`` puts it first, so the old tree is timed by pointing there:

    git archive BASE trailmatch | tar -x -C /tmp/ab-old          # once: the old tree
    .venv/bin/python -m benchmarks.kernel_ab --pair /tmp/ab-old --runs 3

``--pair DIR`` runs the old tree (DIR) and this one (or ``--new DIR``) alternately, ``--runs``
times each, in fresh processes (two trees of one package cannot share a process), after one
untimed run of each to fill the numba caches, and prints old / new per figure (medians of the
runs' medians).
Without ``--pair`` it prints this process's figures only.

Figures: ``prepare_trail`` (categorical, read_csv strings in export order, in time order,
shuffled), ``match()`` (the sweep), the segment index built and queried (``hit_pairs``,
``hit_fields``), the evidence walk (``hit_walks``), ``coverage()`` on gappy trails (the gap
index, its look-up, the per-crime evidence).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SCALE = float(os.environ.get("TRAILMATCH_BENCH_SCALE", "1"))
ROUNDS = int(os.environ.get("TRAILMATCH_BENCH_ROUNDS", "7"))


def _timed(fn, *args) -> list[float]:
    fn(*args)  # untimed first call (caches, first touch of the pages)
    out = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        fn(*args)
        out.append(time.perf_counter() - t0)
    return out


def figures() -> dict[str, list[float]]:
    import pandas as pd

    from benchmarks.peers import common
    from trailmatch import Rules, match, synthetic
    from trailmatch.coverage import coverage
    from trailmatch.index.query import hit_fields, hit_pairs
    from trailmatch.index.segments import build_index
    from trailmatch.index.visits import hit_walks
    from trailmatch.trails import prepare_crimes, prepare_trail

    work = common.national_day(SCALE)
    trails, crimes = work.trails, work.crimes
    rules = Rules(count_precision=False)
    codes = trails["subject"].cat.codes.to_numpy()
    as_csv = trails.assign(subject=pd.Series(1000 + 7 * codes.astype(np.int64)).astype(str))
    by_time = as_csv.iloc[np.argsort(trails["time"].to_numpy(), kind="stable")].reset_index(
        drop=True)
    shuffled = as_csv.iloc[np.random.default_rng(0).permutation(len(as_csv))].reset_index(
        drop=True)
    out: dict[str, list[float]] = {}
    for name, frame in (("categorical", trails), ("read_csv strings", as_csv),
                        ("read_csv, by time", by_time), ("read_csv, shuffled", shuffled)):
        out[f"prepare_trail {name}"] = _timed(prepare_trail, frame)
    out["match() categorical"] = _timed(match, trails, crimes, rules)
    out["match() read_csv, shuffled"] = _timed(match, shuffled, crimes, rules)

    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    out["build_index"] = _timed(build_index, trail, rules.max_gap_s, False)
    index = build_index(trail, rules.max_gap_s, False)
    args = (index, prepared.x, prepared.y, prepared.w0, prepared.w1, rules.radius_m)
    out["hit_pairs"] = _timed(hit_pairs, *args)
    pc, ps = hit_pairs(*args)
    out["hit_fields"] = _timed(hit_fields, index, trail, pc, ps, prepared.x, prepared.y,
                               prepared.w0, prepared.w1, rules.radius_m)
    lo, hi = trail.starts[ps], trail.starts[ps + 1]
    out["hit_walks"] = _timed(hit_walks, lo, hi, trail.t, trail.x, trail.y,
                              np.zeros(trail.t.size), prepared.x[pc], prepared.y[pc],
                              prepared.w0[pc], prepared.w1[pc], rules.radius_m,
                              rules.max_gap_ns)
    gappy = common.with_gaps(synthetic.trails(n_subjects=max(int(round(5000 * SCALE)), 2),
                                              fixes_per_day=1440, days=1),
                             np.random.default_rng(5))
    out["coverage() gappy"] = _timed(coverage, gappy, crimes, rules)
    return out


def _run(tree: str | None) -> dict[str, list[float]]:
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, here) if p)
    got = subprocess.run([sys.executable, "-m", "benchmarks.kernel_ab", "--json"], env=env,
                         cwd=here, check=True, capture_output=True, text=True)
    return json.loads(got.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pair", metavar="OLD_TREE")
    ap.add_argument("--new", metavar="NEW_TREE", help="the new tree (default: this checkout)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.json:
        print(json.dumps(figures()))
        return
    if not a.pair:
        for name, got in figures().items():
            print(f"{name:34s}{np.median(got) * 1e3:9.1f} ms{min(got) * 1e3:9.1f} ms")
        return
    _run(a.pair)  # untimed: fill each tree's numba cache
    _run(a.new)
    runs: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    for _ in range(a.runs):  # alternately, so both see the same drift of a shared machine
        for side, tree in (("old", a.pair), ("new", a.new)):
            for name, got in _run(tree).items():
                runs[side].setdefault(name, []).append(float(np.median(got)))
    print(f"scale {SCALE}, {a.runs} runs each alternately, {ROUNDS} rounds a run (median of "
          f"medians), load average {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d %H:%M')} UTC")
    print(f"{'figure':34s}{'old':>10s}{'new':>10s}{'new/old':>9s}")
    for name, old in runs["old"].items():
        o = float(np.median(old))
        n = float(np.median(runs["new"][name]))
        print(f"{name:34s}{o * 1e3:7.1f} ms{n * 1e3:7.1f} ms{n / o:8.2f}x")


if __name__ == "__main__":
    main()
