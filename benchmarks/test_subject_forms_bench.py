"""match() on the national day with the subject column and the rows as users have them.

The same 7.2 M fixes (5,000 subjects x 1,440, 20,000 crimes; ``common.national_day``), the
subject column in each form a user meets, against the benchmarks' usual input (a categorical
whose codes follow the rows, as the trail store reads it):

- ``zero-padded``: strings whose text order is the row order (``S000123``);
- ``pd.Categorical(ids)``: categories in text order, not the rows' order;
- ``integers``: numeric ids (``1000 + 7 k``; text order is not numeric order);
- ``read_csv``: those ids as strings, the type ``read_csv(dtype={"subject": str})`` gives
  (pandas 3: Arrow-backed ``str``; checked on a small CSV);
- ``pyarrow string``: ``pd.ArrowDtype(pa.string())``;
- ``by time``: the read_csv strings with the rows in time order (an export sorted by time);
- ``shuffled``: the read_csv strings with the rows in random order.

Every form is timed in the same rounds, interleaved (the machine is shared and noisy), and
must give the same hits. Also, in the same run: GeoPandas once on its fastest input (the
categorical) against match() on the read_csv form, and the time to stream the day's t, x, y
once through memory (both cores; the machine's limit for any pass over the fixes).

    .venv/bin/python -m pytest benchmarks/test_subject_forms_bench.py -s --benchmark-only
    TRAILMATCH_BENCH_SCALE=0.1 ...                # a tenth of the subjects and crimes
"""

from __future__ import annotations

import io
import os
import time

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from benchmarks.peers import common, geopandas_peer
from trailmatch import Rules, match

SCALE = common.scale_env(1.0)
ROUNDS = int(os.environ.get("TRAILMATCH_BENCH_ROUNDS", "5"))


def read_csv_strings(ids: np.ndarray) -> pd.Series:
    """``ids`` as the strings ``read_csv`` gives for a subject column read as text."""
    text = pd.Series(ids).astype(str)
    small = pd.read_csv(io.StringIO("subject\n7025\n10203\n"), dtype={"subject": str})
    assert text.dtype == small["subject"].dtype, (text.dtype, small["subject"].dtype)
    return text


def forms(trails: pd.DataFrame) -> dict[str, pd.DataFrame]:
    codes = trails["subject"].cat.codes.to_numpy()
    ids = 1000 + 7 * codes.astype(np.int64)
    as_csv = trails.assign(subject=read_csv_strings(ids))
    rng = np.random.default_rng(0)
    by_time = np.argsort(trails["time"].to_numpy(), kind="stable")
    names = (1000 + 7 * np.arange(len(trails["subject"].cat.categories))).astype(str)
    return {
        "categorical (codes follow rows)": trails.assign(subject=pd.Categorical.from_codes(
            codes, categories=names)),
        "zero-padded strings": trails.assign(subject=pd.Series(ids).map("{:07d}".format)
                                             .astype(str)),
        "pd.Categorical(ids)": trails.assign(subject=pd.Categorical(ids.astype(str))),
        "integers": trails.assign(subject=ids),
        "read_csv strings": as_csv,
        "pyarrow string": trails.assign(subject=pd.Series(pd.array(
            ids.astype(str), dtype=pd.ArrowDtype(pa.string())))),
        "read_csv, rows by time": as_csv.iloc[by_time].reset_index(drop=True),
        "read_csv, rows shuffled": as_csv.iloc[rng.permutation(len(as_csv))].reset_index(
            drop=True),
    }


@nb.njit(cache=True, parallel=True)
def _stream(t, x, y):
    """Read every t, x, y once (a sum each, so nothing is skipped)."""
    st = np.int64(0)
    sx = 0.0
    sy = 0.0
    for i in nb.prange(t.size):
        st += t[i]
        sx += x[i]
        sy += y[i]
    return st, sx, sy


def stream_seconds(trails: pd.DataFrame, rounds: int = 9) -> float:
    t = np.ascontiguousarray(trails["time"].array.asi8)
    x = trails["x"].to_numpy(np.float64)
    y = trails["y"].to_numpy(np.float64)
    _stream(t, x, y)
    best = np.inf
    for _ in range(rounds):
        t0 = time.perf_counter()
        _stream(t, x, y)
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.fixture(scope="module")
def day():
    work = common.national_day(SCALE)
    frames = forms(work.trails)
    for frame in frames.values():  # compile / load the cache for every path
        match(frame.iloc[:5000], work.crimes.iloc[:50], Rules())
    return work, frames


def test_every_form_against_the_categorical(benchmark, day):
    work, frames = day
    rules = Rules()
    want = match(frames["categorical (codes follow rows)"], work.crimes, rules)
    for name, frame in frames.items():  # untimed first run of each (and the same hits)
        got = match(frame, work.crimes, rules)
        if name.startswith("zero-padded"):  # other names, so another order: same hits
            got = got.assign(subject=got["subject"].str.lstrip("0")).sort_values(
                ["police_force", "crime_reference", "subject"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, obj=name)
    times = {name: [] for name in frames}
    for _ in range(ROUNDS):  # interleaved: every form in every round
        for name, frame in frames.items():
            t0 = time.perf_counter()
            match(frame, work.crimes, rules)
            times[name].append(time.perf_counter() - t0)
    stream = stream_seconds(work.trails)
    gpd = benchmark.pedantic(geopandas_peer.run, args=(work,), rounds=1, iterations=1)
    gpd_s = sum(gpd["times"].values())
    base = float(np.median(times["categorical (codes follow rows)"]))
    lines = [f"scale {SCALE}, {work.n_fixes:,} fixes, {len(work.crimes):,} crimes, "
             f"{ROUNDS} interleaved rounds, load average {os.getloadavg()[0]:.1f}",
             f"{'subject column / rows':34s}{'median':>9s}{'best':>9s}{'vs categorical':>16s}"]
    for name, got in times.items():
        med = float(np.median(got))
        lines.append(f"{name:34s}{med * 1e3:7.0f} ms{min(got) * 1e3:7.0f} ms{med / base:15.2f}x")
    csv = float(np.median(times["read_csv strings"]))
    lines.append(f"GeoPandas (categorical input) {gpd_s:.2f} s: {gpd_s / csv:.0f}x match() on "
                 f"the read_csv strings, {gpd_s / base:.0f}x on the categorical")
    lines.append(f"streaming t, x, y once: {stream * 1e3:.1f} ms; match() is "
                 f"{base / stream:.1f}x that (categorical), {csv / stream:.1f}x (read_csv)")
    print("\n" + "\n".join(lines) + f"\n(measured {time.strftime('%Y-%m-%d %H:%M')} UTC)")
