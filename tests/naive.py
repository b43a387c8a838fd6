"""Plain, slow, obviously-correct references for the fast kernels.

No numba, no index, no cleverness: loops over every crime, every subject and every piece of
path, straight from the contract in docs/vicinity.md. The fast code is compared against these by
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
    then the smallest x, then y, then source code (the documented duplicate rule)."""
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
                                  f.x, f.y, f.source))
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

COVERAGE_STATUSES = ("hit", "excluded", "cannot_exclude", "not_monitored")


def naive_monitoring(paths: dict[str, list[Fix]], activations: pd.DataFrame | None):
    """Each subject's monitored periods as closed [start, end] ns intervals, merged.

    A subject with activation rows is monitored inside them (an open end is +inf); one without
    is monitored from its first to its last fix."""
    periods: dict[str, list[tuple[float, float]]] = {}
    if activations is not None:
        for k in range(len(activations)):
            row = activations.iloc[k]
            start = pd.Timestamp(row["start"]).value
            end = math.inf if pd.isna(row["end"]) else pd.Timestamp(row["end"]).value
            periods.setdefault(str(row["subject"]), []).append((start, end))
    for name, fixes in paths.items():
        if name not in periods:
            periods[name] = [(fixes[0].t, fixes[-1].t)]
    for name, spans in periods.items():
        merged: list[tuple[float, float]] = []
        for a, b in sorted(spans):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        periods[name] = merged
    return periods


def naive_stretches(fixes: list[Fix], spans: list[tuple[float, float]], max_gap_ns: int):
    """Every unwatched stretch of a subject's trail as (fix before or None, fix after or None,
    start, end): consecutive fixes further apart than max gap, and, inside the monitoring, the
    time before the first fix and after the last one (from the first activation start / to the
    last activation end)."""
    m0, m1 = spans[0][0], spans[-1][1]
    if not fixes:
        return [(None, None, m0, m1)]
    out = []
    if m0 < fixes[0].t:
        out.append((None, fixes[0], m0, fixes[0].t))
    for a, b in zip(fixes[:-1], fixes[1:], strict=True):
        if b.t - a.t > max_gap_ns:
            out.append((a, b, a.t, b.t))
    if m1 > fixes[-1].t:
        out.append((fixes[-1], None, fixes[-1].t, m1))
    return out


def naive_prism(a: Fix | None, b: Fix | None, start, end, cx, cy, w0, w1, rules: Rules):
    """(possible, min speed needed) for one stretch against one crime window, straight from
    docs/vicinity.md: possible iff max(g0, t_a + max(d_a − R − ρ_a, 0)/v) <= min(g1,
    t_b − max(d_b − R − ρ_b, 0)/v), times in seconds from w0. The speed is the smallest v for
    which that holds."""
    v = rules.max_speed_mps
    g0 = (max(start, w0) - w0) * 1e-9
    g1 = (min(end, w1) - w0) * 1e-9
    lo, hi, need = g0, g1, 0.0
    if a is not None:
        ta = (a.t - w0) * 1e-9
        dx, dy = a.x - cx, a.y - cy
        ra = max(math.sqrt(dx * dx + dy * dy) - rules.radius_m - _reach(a, rules), 0.0)
        lo = max(g0, ta + ra / v)
        need = max(need, ra / (g1 - ta))
    if b is not None:
        tb = (b.t - w0) * 1e-9
        dx, dy = b.x - cx, b.y - cy
        rb = max(math.sqrt(dx * dx + dy * dy) - rules.radius_m - _reach(b, rules), 0.0)
        hi = min(g1, tb - rb / v)
        need = max(need, rb / (tb - g0))
    if a is not None and b is not None:
        need = max(need, (ra + rb) / (tb - ta))
    return lo <= hi, need


def _instant(ns: float) -> pd.Timestamp | None:
    return None if math.isinf(ns) else pd.Timestamp(int(ns), unit="ns", tz="UTC")


def naive_coverage(trails: pd.DataFrame, crimes: pd.DataFrame, rules: Rules,
                   activations: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (crime, subject) by brute force: the coverage contract of docs/vicinity.md.

    Extra column ``hit_duration_s``: the naive hit's time in the vicinity (a touch of measure
    zero at the boundary may fall either side by round-off)."""
    paths = subject_paths(trails) if len(trails) else {}
    periods = naive_monitoring(paths, activations)
    rows = []
    t_from = pd.to_datetime(crimes["time_from"], utc=True)
    t_to = pd.to_datetime(crimes["time_to"], utc=True)
    for k in range(len(crimes)):
        crime = crimes.iloc[k]
        cx, cy = float(crime["x"]), float(crime["y"])
        w0 = int(t_from.iloc[k].value) - rules.buffer_before_ns
        w1 = int(t_to.iloc[k].value) + rules.buffer_after_ns
        for subject in sorted(periods):
            fixes = paths.get(subject, [])
            spans = periods[subject]
            hit = naive_pair(fixes, cx, cy, w0, w1, rules) if fixes else None
            if w1 > w0:
                covered = sum(max(0.0, min(b, w1) - max(a, w0)) for a, b in spans) / (w1 - w0)
            else:
                covered = 1.0 if any(a <= w0 <= b for a, b in spans) else 0.0
            monitored = any(a <= w0 and w1 <= b for a, b in spans)
            gaps = 0
            worst = None
            for a, b, start, end in naive_stretches(fixes, spans, rules.max_gap_ns):
                if a is not None and b is not None:
                    meets = start < w1 and end > w0
                else:  # an edge of the monitoring counts from its first instant
                    meets = (start <= w1 if a is None else start < w1) and \
                            (end >= w0 if b is None else end > w0)
                if not meets:
                    continue
                gaps += 1
                possible, need = naive_prism(a, b, start, end, cx, cy, w0, w1, rules)
                if possible and (worst is None or need < worst[0]):
                    worst = (need, start, end, a, b)
            if hit is not None:
                status = "hit"
            elif not monitored:
                status = "not_monitored"
            elif worst is not None:
                status = "cannot_exclude"
            else:
                status = "excluded"
            show = status == "cannot_exclude"
            rows.append({
                "crime_reference": crime["crime_reference"],
                "police_force": crime["police_force"],
                "subject": subject,
                "status": status,
                "fixes_in_window": sum(1 for f in fixes if w0 <= f.t <= w1),
                "covered_fraction": covered,
                "gaps": gaps,
                "worst_gap_from": _instant(worst[1]) if show else None,
                "worst_gap_to": _instant(worst[2]) if show else None,
                "min_speed_needed_mps": worst[0] if show else math.nan,
                "distance_before_m": _distance(worst[3], cx, cy) if show else math.nan,
                "distance_after_m": _distance(worst[4], cx, cy) if show else math.nan,
                "hit_duration_s": hit["duration_s"] if hit is not None else math.nan,
            })
    return pd.DataFrame(rows)


def _distance(fix: Fix | None, cx: float, cy: float) -> float:
    return math.nan if fix is None else math.hypot(fix.x - cx, fix.y - cy)


def naive_crime_coverage(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-crime answer from the per-pair rows (``naive_coverage``'s, or the engine's
    ``eliminate``): (summary, evidence) as ``trailmatch.coverage`` defines them, by plain
    counting. Evidence: every ``cannot_exclude`` pair, and every ``not_monitored`` pair with a
    monitored share above 0."""
    summary = []
    keep = []
    for (force, ref), rows in pairs.groupby(["police_force", "crime_reference"], sort=True,
                                            observed=True):
        status = rows["status"].astype(str)
        partly = (status == "not_monitored") & (rows["covered_fraction"] > 0)
        summary.append({"police_force": str(force), "crime_reference": str(ref),
                        "subjects": len(rows),
                        **{s: int((status == s).sum()) for s in COVERAGE_STATUSES},
                        "partly_monitored": int(partly.sum())})
        keep.append(rows[(status == "cannot_exclude") | partly])
    evidence = pd.concat(keep, ignore_index=True) if keep else pairs.iloc[:0]
    return pd.DataFrame(summary), evidence


def naive_quality_flags(fixes: pd.DataFrame, max_speed_kmh: float = 200.0
                        ) -> dict[tuple[str, int], set[str]]:
    """Flag reasons of each fix, keyed by (subject, time ns), one fix per key (ingest quality:
    precision exactly 0; faster than ``max_speed_kmh`` both from the previous fix and to the
    next fix of the same subject)."""
    v = max_speed_kmh / 3.6
    out: dict[tuple[str, int], set[str]] = {}
    for subject, group in fixes.groupby(fixes["subject"].astype(str), sort=True):
        pts = sorted((int(pd.Timestamp(t).value), float(x), float(y), float(p))
                     for t, x, y, p in zip(group["time"], group["x"], group["y"],
                                           group["precision_m"], strict=True))
        for i, (t, x, y, p) in enumerate(pts):
            reasons = set()
            if p == 0.0:
                reasons.add("precision_zero")
            if 0 < i < len(pts) - 1:
                t0, x0, y0, _ = pts[i - 1]
                t1, x1, y1, _ = pts[i + 1]
                # distance > speed * time (the fast code's arithmetic, so ties agree)
                fast_in = math.hypot(x - x0, y - y0) > v * ((t - t0) * 1e-9)
                fast_out = math.hypot(x1 - x, y1 - y) > v * ((t1 - t) * 1e-9)
                if fast_in and fast_out:
                    reasons.add("impossible_jump")
            out[(subject, t)] = reasons
    return out


# --- scheme figures (trailmatch/figures.py, trailmatch/index/compliance.py) ---------------------

def _measure(spans: list[tuple[int, int]]) -> int:
    """Length of a union of intervals."""
    total, end = 0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def _meet(a: int, b: int, spans: list[tuple[int, int]]) -> int:
    return _measure([(max(a, s), min(b, e)) for s, e in spans if min(b, e) > max(a, s)])


def naive_compliance(times: list[int], spans: list[tuple[int, int]], max_gap_ns: int):
    """(covered, gap lengths) of one subject: its sorted fix times against its monitored
    spans, each consecutive pair looked at alone."""
    covered, gaps = 0, []
    for a, b in zip(times, times[1:], strict=False):
        if b <= a:
            continue
        inside = _meet(a, b, spans)
        if b - a <= max_gap_ns:
            covered += inside
        elif inside > 0:
            gaps.append(inside)
    return covered, gaps


def naive_subjects_in_windows(times: dict[str, list[int]],
                              windows: list[tuple[int, int]]) -> set[str]:
    """The subjects with a fix inside some window ``[w0, w1]`` (bounds included), each fix
    tested against each window."""
    return {s for s, ts in times.items() if any(w0 <= t <= w1 for t in ts for w0, w1 in windows)}


def _median(values: list[float]) -> float:
    import numpy as np

    return float(np.quantile(values, 0.5)) if values else math.nan


def naive_figures(fixes: list[tuple[str, int]], subjects: list[dict], crimes_rows: list[dict],
                  batches_rows: list[dict], hit_rows: list[dict], decision_rows: list[dict],
                  outcome_rows: list[dict], month_start: int, month_end: int,
                  max_gap_ns: int) -> dict[tuple[str, str], dict]:
    """The figures recomputed row by row from the raw records (no shared code with figures.py):
    ``{(force, cohort): {column: value}}`` for the per-force cohort rows."""
    import numpy as np

    day = 86_400 * 10**9
    latest: dict[str, dict] = {}
    for rec in sorted(subjects, key=lambda r: r["activation_start"]):
        latest[rec["subject"]] = rec
    def force_of(s):
        f = latest.get(s, {}).get("force") or ""
        return f or "unassigned"
    def cohort_of(s):
        c = (latest.get(s, {}).get("cohort") or "").lower()
        return c if c in ("fixed", "flex", "free") else "unknown"
    periods: dict[str, list[tuple[int, int]]] = {}
    for rec in subjects:
        end = rec["activation_end"] if rec["activation_end"] is not None else 2**63 - 1
        periods.setdefault(rec["subject"], []).append((rec["activation_start"], end))
    by_subject: dict[str, set[int]] = {}
    for s, t in fixes:
        if month_start - day <= t < month_end + day:
            if s in periods and not any(a <= t <= b for a, b in periods[s]):
                continue
            by_subject.setdefault(s, set()).add(t)
    rows: dict[tuple[str, str], dict] = {}
    def row(f, c):
        return rows.setdefault((f, c), {"shares": [], "gap_lengths": [], "monitored": 0,
                                        "hits": 0, "ruled_in": 0, "ruled_out": 0,
                                        "further_enquiries": 0, "not_reviewed": 0,
                                        "hours": [], "outcomes": 0})
    for s in sorted(set(periods) | set(by_subject)):
        times = sorted(by_subject.get(s, set()))
        if s in periods:
            spans = [(max(a, month_start), min(b, month_end)) for a, b in periods[s]]
        else:
            inside = [t for t in times if month_start <= t < month_end]
            spans = [(min(inside), max(inside))] if inside else []
        spans = [(a, b) for a, b in spans if b > a]
        monitored = _measure(spans)
        if monitored == 0:
            continue
        covered, gaps = naive_compliance(times, spans, max_gap_ns)
        r = row(force_of(s), cohort_of(s))
        r["shares"].append(covered / monitored)
        r["gap_lengths"] += gaps
        r["monitored"] += monitored
    first_received: dict[tuple[str, str], object] = {}  # the first version's batch date
    for c in crimes_rows:
        key = (c["police_force"], c["crime_reference"])
        if key not in first_received or c["batch_date"] < first_received[key]:
            first_received[key] = c["batch_date"]
    in_month = {k for k, v in first_received.items()
                if month_start <= pd.Timestamp(v).value < month_end}
    found_at = {h["id"]: h["found"] for h in hit_rows}
    for h in hit_rows:
        if h["status"] != "current" or (h["police_force"], h["crime_reference"]) not in in_month:
            continue
        r = row(h["police_force"], cohort_of(h["subject"]))
        r["hits"] += 1
        mine = sorted((d for d in decision_rows if d["hit_id"] == h["id"]),
                      key=lambda d: (d["at"], d["id"]))
        if mine:
            r[mine[-1]["outcome"]] += 1
            r["hours"].append((pd.Timestamp(mine[0]["at"]) - pd.Timestamp(found_at[h["id"]]))
                              .total_seconds() / 3600)
        else:
            r["not_reviewed"] += 1
        r["outcomes"] += sum(1 for o in outcome_rows if o["hit_id"] == h["id"])
    out = {}
    for key, r in rows.items():
        out[key] = {
            "subjects_monitored": len(r["shares"]),
            "monitored_subject_days": round(r["monitored"] / day, 3),
            "coverage_median": round(_median(r["shares"]), 4),
            "coverage_p10": (round(float(np.quantile(r["shares"], 0.1)), 4) if r["shares"]
                             else math.nan),
            "gaps": len(r["gap_lengths"]),
            "gap_median_min": round(_median(r["gap_lengths"]) / 60e9, 2),
            "hits": r["hits"],
            "decisions_ruled_in": r["ruled_in"],
            "decisions_ruled_out": r["ruled_out"],
            "decisions_further_enquiries": r["further_enquiries"],
            "hits_not_reviewed": r["not_reviewed"],
            "decision_hours_median": round(_median(r["hours"]), 2),
            "outcomes_recorded": r["outcomes"],
        }
    return out


# --- one hit's evidence (issue 20): path, visits, gaps --------------------------------------

def naive_evidence(fixes: list[Fix], cx: float, cy: float, w0: int, w1: int, rules: Rules):
    """The evidence of one (crime, subject) by brute force, from docs/vicinity.md and the evidence
    model's definitions (trailmatch/evidence.py):

    - ``path``: times (ns) of the fixes inside [w0, w1], plus the last one before and the first
      after it when within max gap of the window;
    - ``visits``: (entry s, exit s, dwell s, closest m, piece) per maximal stretch in the
      vicinity: every piece's intervals (``segment_in_vicinity``: roots, then midpoint tests)
      in time order, merged where one ends (within 1 µs) as the next begins; ``piece`` is the
      (t0, t1) ns of the segment entered on, or (t, t) for an isolated fix;
    - ``gaps``: (fix time before or None, after or None) for consecutive path fixes more than
      max gap apart whose interval meets the window, and at each edge of the window when no
      path fix lies at or beyond it (None: that fix is unknown);
    - ``closest``: the closest approach distance (``naive_pair``'s).
    Times in seconds are relative to w0."""
    gap = rules.max_gap_ns
    before = [f for f in fixes if w0 - gap <= f.t < w0]
    inside = [f for f in fixes if w0 <= f.t <= w1]
    after = [f for f in fixes if w1 < f.t <= w1 + gap]
    path = before[-1:] + inside + after[:1]
    gaps: list[tuple[int | None, int | None]] = []
    if path and path[0].t > w0:
        gaps.append((None, path[0].t))
    for a, b in zip(path[:-1], path[1:], strict=False):
        if b.t - a.t > gap and a.t < w1 and b.t > w0:
            gaps.append((a.t, b.t))
    if path and path[-1].t < w1:
        gaps.append((path[-1].t, None))
    for f in fixes:
        f.t_s = (f.t - w0) / 1e9  # type: ignore[attr-defined]
    wlen = (w1 - w0) / 1e9
    pieces = []  # (start s, end s, closest m, piece key) in time order
    for piece in _pieces(fixes, gap):
        if piece[0] == "segment":
            _, f0, f1 = piece
            lo, hi = max(f0.t_s, 0.0), min(f1.t_s, wlen)
            if lo > hi:
                continue
            for u, v in segment_in_vicinity(f0, f1, cx, cy, rules.radius_m, rules, lo, hi):
                near = closest_on_segment(f0, f1, cx, cy, u, v)[0]
                pieces.append((u, v, near, (f0.t, f1.t)))
        else:
            f = piece[1]
            d = math.hypot(f.x - cx, f.y - cy)
            if 0.0 <= f.t_s <= wlen and d <= rules.radius_m + _reach(f, rules):
                pieces.append((f.t_s, f.t_s, d, (f.t, f.t)))
    visits: list[list] = []
    for u, v, near, key in pieces:
        if visits and u - visits[-1][1] <= 1e-6 and visits[-1][5][1] == key[0] != key[1]:
            last = visits[-1]
            last[1] = v
            last[2] += v - u
            last[3] = min(last[3], near)
            last[5] = key
        else:
            visits.append([u, v, v - u, near, key, key])
    hit = naive_pair(fixes, cx, cy, w0, w1, rules)
    return {"path": [f.t for f in path], "visits": [tuple(v[:5]) for v in visits], "gaps": gaps,
            "closest": hit["min_distance_m"] if hit else None}


def naive_subject_time_order(codes: list[int], times: list[int], by_time: bool = True
                             ) -> list[int]:
    """The rows by subject code, then (``by_time``) by time; equal keys keep their order
    (Python's sort is stable)."""
    if by_time:
        return sorted(range(len(codes)), key=lambda i: (codes[i], times[i]))
    return sorted(range(len(codes)), key=lambda i: codes[i])


def naive_first_appearance_codes(values: list) -> tuple[list[int], list]:
    """Each value's code: how many distinct values appeared before its first appearance; and
    the distinct values in that order."""
    names: list = []
    code_of: dict = {}
    codes = []
    for v in values:
        if v not in code_of:
            code_of[v] = len(names)
            names.append(v)
        codes.append(code_of[v])
    return codes, names
