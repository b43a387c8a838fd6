"""Why one subject is (or is not) excluded from one crime: every unwatched stretch of its trail
that meets the crime's window, in numbers and in plain sentences.

The per-crime answer (``trailmatch.coverage``) counts excluded subjects without listing them;
an officer who needs to know why subject X is excluded from crime C asks here
(``trailmatch explain``, ``GET /coverage/explain``). The answer is computed from that subject's
fixes alone, so it takes milliseconds:

- ``row``: the pair's row of the per-pair table (``trailmatch.eliminate``, ``COVERAGE_COLUMNS``),
  from the very same kernels, so it agrees with ``eliminate --all-pairs`` given the same fixes;
- ``gaps``: each stretch meeting the window (a gap between two fixes further apart than the
  max gap, or an unwatched edge of an activation period): the fixes that bound it (time,
  distance to the crime), the part of the window it covers, the time available, the least
  speed that would have brought the subject within the radius during the window and back to
  its next fix, whether that is possible at the speed limit, and one sentence saying so;
- ``sentence``: the answer in one plain sentence.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numba as nb
import numpy as np
import pandas as pd

from trailmatch.eliminate import COVERAGE_COLUMNS, eliminate_prepared, subject_universe
from trailmatch.index.gaps import OPEN_END, stretch_prism
from trailmatch.index.segments import trail_path
from trailmatch.rules import Rules
from trailmatch.trails import prepare_crimes, prepare_trail

KMH = 3.6
LOOKBACK_H = 24.0  # hours of fixes read either side of the window, as ``eliminate --store``


@contextmanager
def _one_thread():
    """One subject's few fixes: the kernels' parallel regions would only cost thread hand-offs
    (on a busy machine, tens of milliseconds)."""
    before = nb.get_num_threads()
    nb.set_num_threads(1)
    try:
        yield
    finally:
        nb.set_num_threads(before)


@dataclass
class Explanation:
    subject: str
    crime_reference: str
    police_force: str
    row: dict  # the per-pair row (COVERAGE_COLUMNS)
    gaps: list[dict] = field(default_factory=list)
    sentence: str = ""


def _when(ns: int | None) -> str:
    if ns is None:
        return "open"
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _speed(v: float) -> str:
    return f"{v:.2f} m/s ({v * KMH:.1f} km/h)"


def _stretches(t: np.ndarray, periods: list[tuple[int, int]], max_gap_ns: int, w0: int,
               w1: int) -> list[tuple[int | None, int | None, int, int]]:
    """Unwatched stretches meeting [w0, w1] as (fix before, fix after, start, end), counted
    exactly as ``gaps.coverage_rows`` counts them (edges only with activation periods)."""
    out: list[tuple[int | None, int | None, int, int]] = []
    m0 = periods[0][0] if periods else None
    m1 = periods[-1][1] if periods else None
    if t.size == 0:
        if periods and m0 <= w1 and m1 >= w0:
            out.append((None, None, m0, m1))
        return out
    if m0 is not None and m0 < t[0] and m0 <= w1 and t[0] > w0:
        out.append((None, 0, m0, int(t[0])))
    for a in np.flatnonzero(np.diff(t) > max_gap_ns).tolist():
        if t[a] < w1 and t[a + 1] > w0:
            out.append((a, a + 1, int(t[a]), int(t[a + 1])))
    last = t.size - 1
    if m1 is not None and m1 > t[last] and t[last] < w1 and m1 >= w0:
        out.append((last, None, int(t[last]), m1))
    return out


def explain_pair(fixes: pd.DataFrame, crime: dict, rules: Rules, *, subject: str,
                 activations: pd.DataFrame | None = None) -> Explanation:
    """The explanation for ``subject`` against one crime.

    ``fixes``: that subject's fixes (``time``, ``x``, ``y``, optional ``precision_m``) — all
    of those the answer should know, e.g. a day either side of the window; ``crime``:
    ``crime_reference``, ``police_force``, ``crime_type``, ``x``, ``y``, ``time_from``,
    ``time_to``; ``activations``: that subject's activation periods (``subject``, ``start``,
    ``end``), if any."""
    subject = str(subject)
    crimes = pd.DataFrame([{k: crime[k] for k in ("crime_reference", "police_force",
                                                  "crime_type", "x", "y", "time_from",
                                                  "time_to")}])
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    w0, w1 = int(prepared.w0[0]), int(prepared.w1[0])
    cx, cy = float(prepared.x[0]), float(prepared.y[0])
    frame = fixes.assign(subject=subject)
    if activations is not None:
        activations = activations[activations["subject"].astype(str) == subject]
        activations = activations if len(activations) else None
    with _one_thread():
        trail = prepare_trail(frame)
    names = subject_universe(trail.subjects, activations)
    ref, force = str(crime["crime_reference"]), str(crime["police_force"])
    if names.size == 0:  # no fix read and no activation period: nothing known
        row = {"crime_reference": ref, "police_force": force, "subject": subject,
               "status": "not_monitored", "fixes_in_window": 0, "covered_fraction": 0.0,
               "gaps": 0, "worst_gap_from": None, "worst_gap_to": None,
               "min_speed_needed_mps": None}
        return Explanation(subject, ref, force, row, [],
                           f"Subject {subject} has no fix near the window of crime {ref} "
                           "and no activation period: it was not monitored then, so nothing "
                           "can be said.")
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    with _one_thread():
        table = eliminate_prepared(trail, path, prepared, rules, activations=activations)
    row = table.astype({"crime_reference": str, "police_force": str, "subject": str,
                        "status": str}).iloc[0][COVERAGE_COLUMNS].to_dict()
    for k in ("worst_gap_from", "worst_gap_to"):
        row[k] = None if pd.isna(row[k]) else row[k]
    if pd.isna(row["min_speed_needed_mps"]):
        row["min_speed_needed_mps"] = None
    row["fixes_in_window"] = int(row["fixes_in_window"])
    row["gaps"] = int(row["gaps"])
    row["covered_fraction"] = float(row["covered_fraction"])

    # the monitoring, as the table took it (activation periods, else first to last fix)
    if activations is not None:
        from trailmatch.eliminate import monitoring_periods

        some = trail.n_fixes > 0
        lo, hi, start, end = monitoring_periods(
            names, np.asarray([some]), np.asarray([trail.t[0] if some else 0]),
            np.asarray([trail.t[-1] if some else 0]), activations)
        periods = list(zip(start.tolist(), end.tolist(), strict=True))
    else:
        periods = [(int(trail.t[0]), int(trail.t[-1]))] if trail.n_fixes else []
    t, x, y, reach = trail.t, trail.x, trail.y, np.asarray(path.reach)
    v = float(rules.max_speed_mps)
    gaps = []
    for a, b, start, end in _stretches(t, periods, rules.max_gap_ns, w0, w1):
        has_a, has_b = a is not None, b is not None
        ok, need = stretch_prism(
            has_a, int(t[a]) if has_a else 0, float(x[a]) if has_a else 0.0,
            float(y[a]) if has_a else 0.0, float(reach[a]) if has_a else 0.0,
            has_b, int(t[b]) if has_b else 0, float(x[b]) if has_b else 0.0,
            float(y[b]) if has_b else 0.0, float(reach[b]) if has_b else 0.0,
            start, end, cx, cy, w0, w1, float(rules.radius_m), v)
        d_a = float(np.hypot(x[a] - cx, y[a] - cy)) if has_a else None
        d_b = float(np.hypot(x[b] - cx, y[b] - cy)) if has_b else None
        end_known = None if end == OPEN_END else end
        g0, g1 = max(start, w0), min(end, w1)
        gap = {
            "gap_from": pd.Timestamp(start, unit="ns", tz="UTC"),
            "gap_to": None if end_known is None else pd.Timestamp(end, unit="ns", tz="UTC"),
            "fix_before_time": pd.Timestamp(int(t[a]), unit="ns", tz="UTC") if has_a else None,
            "fix_before_distance_m": d_a,
            "fix_after_time": pd.Timestamp(int(t[b]), unit="ns", tz="UTC") if has_b else None,
            "fix_after_distance_m": d_b,
            "in_window_s": max(g1 - g0, 0) / 1e9,
            "time_available_s": None if end_known is None or not has_a or not has_b
            else (end - start) / 1e9,
            "speed_needed_mps": float(need),
            "possible": bool(ok),
        }
        gap["sentence"] = _gap_sentence(gap, rules)
        gaps.append(gap)
    return Explanation(subject, ref, force, row, gaps, _sentence(row, gaps, rules))


def _gap_sentence(g: dict, rules: Rules) -> str:
    before = (f"its fix before, at {_when(g['fix_before_time'].value)}, was "
              f"{g['fix_before_distance_m']:,.0f} m from the crime"
              if g["fix_before_time"] is not None else
              f"before its first fix (monitored from {_when(g['gap_from'].value)})")
    after = (f"its fix after, at {_when(g['fix_after_time'].value)}, "
             f"{g['fix_after_distance_m']:,.0f} m"
             if g["fix_after_time"] is not None else
             "after its last fix " + ("(still monitored)" if g["gap_to"] is None else
                                      f"(monitored until {_when(g['gap_to'].value)})"))
    verdict = ("possible" if g["possible"] else "not possible")
    return (f"No position for {_span(g['in_window_s'])} of the window: {before}; {after}. "
            f"Being within {rules.radius_m:g} m of the crime in that time and still reaching "
            f"the next fix needed at least {_speed(g['speed_needed_mps'])}: {verdict} at "
            f"{rules.max_speed_mps * KMH:g} km/h.")


def _sentence(row: dict, gaps: list[dict], rules: Rules) -> str:
    who, ref = row["subject"], row["crime_reference"]
    limit = f"{rules.max_speed_mps * KMH:g} km/h"
    status = row["status"]
    if status == "hit":
        return (f"Subject {who} was within {rules.radius_m:g} m of crime {ref} during its "
                "window: a hit (see the hit's evidence).")
    if status == "not_monitored":
        return (f"Subject {who} was monitored for {100 * row['covered_fraction']:.0f}% of the "
                f"window of crime {ref}, not all of it: nothing can be said.")
    if status == "cannot_exclude":
        return (f"Subject {who} cannot be excluded from crime {ref}: with no position from "
                f"{_when(_ns(row['worst_gap_from']))} to {_when(_ns(row['worst_gap_to']))} it "
                f"could have been within {rules.radius_m:g} m of the crime moving at "
                f"{_speed(row['min_speed_needed_mps'])}, within the limit of {limit}.")
    if not gaps:
        return (f"Subject {who} is excluded from crime {ref}: its {row['fixes_in_window']} "
                "fixes in the window draw its path all through it, and that path never came "
                f"within {rules.radius_m:g} m of the crime.")
    least = min(g["speed_needed_mps"] for g in gaps)
    return (f"Subject {who} is excluded from crime {ref}: outside its drawn path, which never "
            f"came within {rules.radius_m:g} m, its tag was silent {len(gaps)} time(s) during "
            f"the window, and reaching the crime through any of those gaps needed at least "
            f"{_speed(least)}, more than the limit of {limit}.")


def _ns(value) -> int | None:
    return None if value is None else int(pd.Timestamp(value).value)


def read_window_for(crime: dict, rules: Rules, lookback_h: float = LOOKBACK_H) -> tuple[int, int]:
    """The stretch of trail an explanation reads: the window widened by the buffers,
    ``lookback_h`` hours and the max gap, as ``trailmatch eliminate --store`` reads it."""
    margin = int(round(lookback_h * 3600e9)) + rules.max_gap_ns
    w0 = int(pd.Timestamp(crime["time_from"]).value) - rules.buffer_before_ns
    w1 = int(pd.Timestamp(crime["time_to"]).value) + rules.buffer_after_ns
    return w0 - margin, w1 + margin


def explain_from_store(store_dir, crime: dict, subject: str, rules: Rules, *,
                       lookback_h: float = LOOKBACK_H) -> Explanation:
    """``explain_pair`` with the subject's fixes and activation periods read from the trail
    store (``read_window_for``: only the day partitions around the window, only that
    subject)."""
    from trailmatch.store import Store

    store = Store(store_dir)
    lo, hi = read_window_for(crime, rules, lookback_h)
    fixes = store.read_window(lo, hi, subjects=[str(subject)])
    return explain_pair(fixes[["time", "x", "y", "precision_m"]], crime, rules,
                        subject=str(subject), activations=store.activations(lo, hi))


def explanation_dict(e: Explanation) -> dict:
    """JSON-ready: times ISO 8601 UTC, None for none."""
    def iso(v):
        return None if v is None else pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    row = {k: (iso(v) if k in ("worst_gap_from", "worst_gap_to") else v)
           for k, v in e.row.items()}
    gaps = [{k: (iso(v) if isinstance(v, pd.Timestamp) or k in ("gap_to",
                                                                  "fix_before_time",
                                                                  "fix_after_time")
                 else v) for k, v in g.items()} for g in e.gaps]
    return {"sentence": e.sentence, **row, "gaps_meeting_window": gaps}
