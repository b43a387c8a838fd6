"""Plain, slow, obviously-correct references for the fast kernels.

No numba, no index, no cleverness: loops over every crime, every subject and every piece of
path, straight from the contract in DESIGN.md. The fast code is compared against these by
hypothesis on random and edge-case input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from trailmatch.rules import Rules

SOURCE_NAME = {1: "GPS", 4: "RF", 5: "LBS", 6: "WiFi", 0: "unknown"}
SOURCE_ORDER = ["GPS", "RF", "LBS", "WiFi", "unknown"]


@dataclass
class Fix:
    t: int  # ns
    x: float
    y: float
    precision: float  # NaN when unknown
    source: int


def subject_paths(trails: pd.DataFrame) -> dict[str, list[Fix]]:
    """Each subject's fixes in time order; of fixes with the same time keep the most precise,
    then the smallest x, then y (the documented duplicate rule)."""
    paths: dict[str, list[Fix]] = {}
    times = pd.to_datetime(trails["time"], utc=True)
    for k in range(len(trails)):
        row = trails.iloc[k]
        prec = float(row["precision_m"]) if "precision_m" in trails.columns else math.nan
        src = int(row["source"]) if "source" in trails.columns else 0
        paths.setdefault(str(row["subject"]), []).append(
            Fix(int(times.iloc[k].value), float(row["x"]), float(row["y"]), prec, src))
    for name, fixes in paths.items():
        fixes.sort(key=lambda f: (f.t, math.inf if math.isnan(f.precision) else f.precision,
                                  f.x, f.y))
        kept: list[Fix] = []
        for f in fixes:
            if not kept or kept[-1].t != f.t:
                kept.append(f)
        paths[name] = kept
    return paths


def _reach(f: Fix, rules: Rules) -> float:
    if not rules.count_precision or math.isnan(f.precision):
        return 0.0
    return f.precision


def _pieces(fixes: list[Fix], max_gap_ns: int):
    """('segment', a, b) for joined consecutive fixes, ('point', a) for isolated fixes."""
    joined = [0 < fixes[i + 1].t - fixes[i].t <= max_gap_ns for i in range(len(fixes) - 1)]
    for i, f in enumerate(fixes):
        if i < len(joined) and joined[i]:
            yield ("segment", f, fixes[i + 1])
        elif not (i > 0 and joined[i - 1]):
            yield ("point", f)


def _quadratic_roots(a: float, b: float, c: float) -> list[float]:
    if a == 0:
        return [] if b == 0 else [-c / b]
    disc = b * b - 4 * a * c
    if disc < 0:
        return []
    r = math.sqrt(disc)
    return [(-b - r) / (2 * a), (-b + r) / (2 * a)]


def segment_in_vicinity(f0: Fix, f1: Fix, cx: float, cy: float, radius: float, rules: Rules,
                        lo: float, hi: float) -> list[tuple[float, float]]:
    """Sub-intervals of [lo, hi] (seconds, same origin as the fix times given in seconds) when
    |p(τ) − c| <= R + ρ(τ). Roots of |p − c|² − (R + ρ)² split [lo, hi]; the sign is constant
    between roots, so testing each piece's midpoint decides it."""
    t0, t1 = f0.t_s, f1.t_s  # type: ignore[attr-defined]
    r0, r1 = _reach(f0, rules), _reach(f1, rules)
    dt = t1 - t0

    def pos(tau: float) -> tuple[float, float, float]:
        s = (tau - t0) / dt
        return f0.x + s * (f1.x - f0.x), f0.y + s * (f1.y - f0.y), r0 + s * (r1 - r0)

    def inside(tau: float) -> bool:
        px, py, rho = pos(tau)
        return math.hypot(px - cx, py - cy) <= radius + rho

    # coefficients in τ of |p(τ) − c|² − (R + ρ(τ))²
    vx, vy, vr = (f1.x - f0.x) / dt, (f1.y - f0.y) / dt, (r1 - r0) / dt
    ex, ey, er = f0.x - cx - vx * t0, f0.y - cy - vy * t0, radius + r0 - vr * t0
    a = vx * vx + vy * vy - vr * vr
    b = 2 * (ex * vx + ey * vy - er * vr)
    c = ex * ex + ey * ey - er * er
    cuts = sorted({lo, hi, *[r for r in _quadratic_roots(a, b, c) if lo < r < hi]})
    out: list[tuple[float, float]] = []
    for u, v in zip(cuts[:-1], cuts[1:], strict=False):
        if inside((u + v) / 2):
            if out and abs(out[-1][1] - u) < 1e-12:
                out[-1] = (out[-1][0], v)
            else:
                out.append((u, v))
    if not out and lo == hi and inside(lo):
        out.append((lo, lo))
    if not out:  # a single touching instant (double root) still counts
        for r in cuts:
            if inside(r):
                out.append((r, r))
                break
    return out


def closest_on_segment(f0: Fix, f1: Fix, cx: float, cy: float, lo: float, hi: float):
    """(distance, time) of the closest approach to c on the segment restricted to [lo, hi]."""
    t0, t1 = f0.t_s, f1.t_s  # type: ignore[attr-defined]
    dt = t1 - t0
    vx, vy = (f1.x - f0.x) / dt, (f1.y - f0.y) / dt
    candidates = [lo, hi]
    vv = vx * vx + vy * vy
    if vv > 0:
        tau = t0 + ((cx - f0.x) * vx + (cy - f0.y) * vy) / vv
        if lo < tau < hi:
            candidates.append(tau)
    best = None
    for tau in sorted(candidates):
        d = math.hypot(f0.x + vx * (tau - t0) - cx, f0.y + vy * (tau - t0) - cy)
        if best is None or d < best[0]:
            best = (d, tau)
    return best


def naive_pair(fixes: list[Fix], cx: float, cy: float, w0: int, w1: int, rules: Rules):
    """Every hit field for one (crime, subject), or None when never in the vicinity.

    Times in the result are float seconds relative to w0 (the widened window start)."""
    for f in fixes:
        f.t_s = (f.t - w0) / 1e9  # type: ignore[attr-defined]
    wlen = (w1 - w0) / 1e9
    radius = rules.radius_m
    intervals: list[tuple[float, float]] = []
    best: tuple[float, float] | None = None
    margin = math.inf  # smallest |distance − (R + ρ)| seen at a fix or root: boundary cases
    for piece in _pieces(fixes, rules.max_gap_ns):
        if piece[0] == "segment":
            _, f0, f1 = piece
            lo, hi = max(f0.t_s, 0.0), min(f1.t_s, wlen)
            if lo > hi:
                continue
            intervals += segment_in_vicinity(f0, f1, cx, cy, radius, rules, lo, hi)
            cand = closest_on_segment(f0, f1, cx, cy, lo, hi)
        else:
            f = piece[1]
            if not 0.0 <= f.t_s <= wlen:
                continue
            d = math.hypot(f.x - cx, f.y - cy)
            if d <= radius + _reach(f, rules):
                intervals.append((f.t_s, f.t_s))
            cand = (d, f.t_s)
        if best is None or cand[0] < best[0]:
            best = cand
    fixes_in = 0
    max_prec = math.nan
    sources: set[str] = set()
    for f in fixes:
        if 0.0 <= f.t_s <= wlen:
            d = math.hypot(f.x - cx, f.y - cy)
            margin = min(margin, abs(d - radius - _reach(f, rules)))
            if d <= radius + _reach(f, rules):
                fixes_in += 1
                if not math.isnan(f.precision):
                    max_prec = f.precision if math.isnan(max_prec) else max(max_prec, f.precision)
                sources.add(SOURCE_NAME.get(f.source, "unknown"))
    if not intervals:
        return None
    return {
        "min_distance_m": best[0],
        "closest_s": best[1],
        "first_in_s": min(a for a, _ in intervals),
        "last_in_s": max(b for _, b in intervals),
        "duration_s": sum(b - a for a, b in intervals),
        "fixes_in": fixes_in,
        "max_precision_m": max_prec,
        "sources": ";".join(s for s in SOURCE_ORDER if s in sources),
        "fix_margin": margin,
    }


def naive_match(trails: pd.DataFrame, crimes: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Every (crime, subject) hit by brute force. Times as tz-aware timestamps."""
    paths = subject_paths(trails)
    rows = []
    t_from = pd.to_datetime(crimes["time_from"], utc=True)
    t_to = pd.to_datetime(crimes["time_to"], utc=True)
    for k in range(len(crimes)):
        crime = crimes.iloc[k]
        w0 = int(t_from.iloc[k].value) - rules.buffer_before_ns
        w1 = int(t_to.iloc[k].value) + rules.buffer_after_ns
        for subject, fixes in sorted(paths.items()):
            hit = naive_pair(fixes, float(crime["x"]), float(crime["y"]), w0, w1, rules)
            if hit is None:
                continue

            def at(sec: float, base: int = w0) -> pd.Timestamp:
                return pd.Timestamp(base + round(sec * 1e9), unit="ns", tz="UTC")

            rows.append({
                "crime_reference": crime["crime_reference"],
                "police_force": crime["police_force"],
                "crime_type": crime["crime_type"],
                "subject": subject,
                "min_distance_m": hit["min_distance_m"],
                "closest_time": at(hit["closest_s"]),
                "first_in": at(hit["first_in_s"]),
                "last_in": at(hit["last_in_s"]),
                "duration_s": hit["duration_s"],
                "fixes_in": hit["fixes_in"],
                "max_precision_m": hit["max_precision_m"],
                "sources": hit["sources"],
                "fix_margin": hit["fix_margin"],
            })
    return pd.DataFrame(rows)


# --- coverage and elimination (issue 6) ------------------------------------------------------
