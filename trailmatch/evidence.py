"""One hit's evidence: the single computation behind every view of a hit.

The batch report, the per-hit report, the API's hit detail and the map data all read a
``HitEvidence``; none of them cuts the path, counts gaps or finds the closest approach itself.
From the subject's fixes, for a hit (crime, subject, rules):

- **the path through the window**: every fix inside the widened window ``W``, plus the last fix
  before and the first after it when they lie within max gap of ``W`` (farther fixes cannot
  be joined to anything inside, and reading only that margin gives every caller, whatever else
  it has read, the same path). Per fix: time, position (working CRS and WGS84), precision,
  source, speed from the previous fix, distance to the crime, inside ``W``, in the vicinity,
  joined to the previous fix;
- **the visits** into the vicinity: maximal stretches of time in it, their entry and exit
  instants exactly from the closed forms of the vicinity contract (the first visit's entry is
  the hit's ``first_in``, the last exit its ``last_in``, the dwells sum to ``duration_s``),
  how each began and ended, the speed and grid bearing on the segment it entered and left on,
  and its closest point;
- **the gaps** that meet the window: consecutive fixes more than max gap apart (not monitored
  between them), and the window's edges when no fix lies within max gap of them;
- **the closest approach** over the path inside ``W``;
- **the visit account**: the same as plain sentences an officer can read aloud, and when the hit
  holds only because precision is counted, the sentence that says so.

The walk is one numba kernel over all the hits at once (``trailmatch.index.visits``); the
columns of all paths are computed in one vectorised pass and one projection to WGS84.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from trailmatch.crs import working_to_lonlat
from trailmatch.index.visits import CROSSED, ISOLATED, RUN_END, WINDOW, hit_walks
from trailmatch.rules import Rules
from trailmatch.trails import SOURCE_NAMES, Trail, ns_to_datetime

PATH_COLUMNS = ["seq", "time", "x", "y", "lat", "lon", "precision_m", "source", "speed_kmh",
                "distance_m", "in_window", "in_vicinity", "joined_to_previous"]
KIND_NAMES = {CROSSED: "crossed", WINDOW: "window", RUN_END: "gap", ISOLATED: "isolated"}
COMPASS = ("north", "north-east", "east", "south-east", "south", "south-west", "west",
           "north-west")
SLOW_KMH = 0.5  # slower than this a direction means nothing (position noise): not read out
_SOURCE_LUT = np.array([SOURCE_NAMES.get(c, "unknown") for c in range(256)], dtype=object)


@dataclass(frozen=True)
class Motion:
    """Movement on one segment of the path: speed, and grid bearing (None when stationary)."""

    speed_kmh: float
    bearing_deg: float | None

    @property
    def compass(self) -> str | None:
        if self.bearing_deg is None:
            return None
        return COMPASS[int((self.bearing_deg + 22.5) // 45) % 8]

    def text(self) -> str:
        if self.bearing_deg is None:
            return "stationary"
        if self.speed_kmh < SLOW_KMH:
            return "barely moving"
        return f"heading {self.compass} at {speed_text(self.speed_kmh)}"

    def to_dict(self) -> dict:
        return {"speed_kmh": self.speed_kmh, "bearing_deg": self.bearing_deg,
                "compass": self.compass}


@dataclass(slots=True)
class Visit:
    """One stretch of time in the vicinity.

    ``entry_kind`` / ``exit_kind``: ``crossed`` (through the edge of the vicinity),
    ``window`` (the window opened / closed with the subject there), ``gap`` (at the first /
    last fix of a run of joined fixes: a gap lies beyond), ``isolated`` (an isolated fix).
    ``approach`` / ``departure``: movement on the segment it entered / left on (None for an
    isolated fix). ``closest_precision_m``: the precision counted at the closest instant
    (interpolated between fixes; 0 when not counted)."""

    number: int
    entry: int  # ns
    exit: int  # ns
    dwell_s: float
    entry_kind: str
    exit_kind: str
    entry_seq: int  # first fix of the piece entered on (path sequence number)
    exit_seq: int  # first fix of the piece left on
    approach: Motion | None
    departure: Motion | None
    closest_m: float
    closest_time: int  # ns
    closest_precision_m: float
    closest_at_fix: bool
    within_radius: bool
    sentence: str = ""

    def to_dict(self) -> dict:
        return {
            "number": self.number, "entry": iso(self.entry), "exit": iso(self.exit),
            "dwell_s": self.dwell_s, "entry_kind": self.entry_kind, "exit_kind": self.exit_kind,
            "entry_seq": self.entry_seq, "exit_seq": self.exit_seq,
            "approach": self.approach.to_dict() if self.approach else None,
            "departure": self.departure.to_dict() if self.departure else None,
            "closest_m": self.closest_m, "closest_time": iso(self.closest_time),
            "closest_precision_m": self.closest_precision_m,
            "closest_at_fix": self.closest_at_fix, "within_radius": self.within_radius,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class Gap:
    """Consecutive fixes more than max gap apart whose interval meets the window: not monitored
    between them. ``before_seq`` / ``before`` is None at the window's start when no fix lies
    within max gap before it (likewise ``after_*`` at its end). ``window_from`` /
    ``window_to``: the part of the gap inside the window."""

    before_seq: int | None
    after_seq: int | None
    before: int | None  # ns: time of the fix before the gap
    after: int | None  # ns: time of the fix after it
    window_from: int
    window_to: int

    @property
    def seconds_in_window(self) -> float:
        return (self.window_to - self.window_from) / 1e9

    def to_dict(self) -> dict:
        return {"before_seq": self.before_seq, "after_seq": self.after_seq,
                "before": iso(self.before), "after": iso(self.after),
                "window_from": iso(self.window_from), "window_to": iso(self.window_to),
                "seconds_in_window": self.seconds_in_window}


@dataclass(frozen=True)
class Closest:
    """The closest approach over the path inside the window."""

    distance_m: float
    time: int  # ns
    x: float
    y: float
    lat: float
    lon: float

    def to_dict(self) -> dict:
        return {"distance_m": self.distance_m, "time": iso(self.time), "lat": self.lat,
                "lon": self.lon}


@dataclass
class HitEvidence:
    """Everything shown about one hit. ``arrays``: the path as numpy arrays named as
    ``PATH_COLUMNS`` (``time`` int64 ns, ``seq`` from 1); ``hit``: the hit's fields as
    given (from the hit store or ``match()``)."""

    subject: str
    hit: dict
    crime_x: float
    crime_y: float
    w0: int
    w1: int
    rules: Rules
    arrays: dict
    closest: Closest | None
    visits: list[Visit]
    gaps: list[Gap]
    account: str = ""
    precision_note: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.arrays["seq"].size)

    # what the maps read
    @property
    def closest_xy(self) -> tuple[float, float]:
        return (self.closest.x, self.closest.y) if self.closest else (math.nan, math.nan)

    @property
    def closest_lonlat(self) -> tuple[float, float]:
        return (self.closest.lon, self.closest.lat) if self.closest else (math.nan, math.nan)

    @property
    def fixes_in_window(self) -> int:
        return int(self.arrays["in_window"].sum())

    @cached_property
    def path(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.arrays, columns=PATH_COLUMNS)
        frame["time"] = ns_to_datetime(self.arrays["time"])
        return frame

    @cached_property
    def fixes_in(self) -> pd.DataFrame:
        """The path's fixes in the vicinity (those ``fixes_in`` counts)."""
        return self.path[self.arrays["in_vicinity"]].reset_index(drop=True)

    @cached_property
    def fixes_in_arrays(self) -> dict:
        mask = self.arrays["in_vicinity"]
        return {k: v[mask] for k, v in self.arrays.items()}

    def path_records(self) -> list[dict]:
        """The path's fixes as JSON-ready dicts (the API's ``fixes``). Besides the fix's own
        fields: ``east_m`` / ``north_m``, its offset from the crime in the working CRS (the
        plane the vicinity contract measures in, so a map or timeline interpolating between
        fixes gets the distances the engine got), and ``reach_m``, the precision counted
        (its precision, or 0 when unknown or when the rules do not count precision)."""
        a = self.arrays
        times = [iso(int(v)) for v in a["time"]]
        east = (a["x"] - self.crime_x).tolist()
        north = (a["y"] - self.crime_y).tolist()
        reach = reach_of(a["precision_m"], self.rules).tolist()
        out = []
        for i in range(self.n):
            out.append({
                "seq": int(a["seq"][i]), "time": times[i], "lat": float(a["lat"][i]),
                "lon": float(a["lon"][i]), "precision_m": _opt(a["precision_m"][i]),
                "source": str(a["source"][i]), "speed_kmh": _opt(a["speed_kmh"][i]),
                "distance_m": float(a["distance_m"][i]), "in_window": bool(a["in_window"][i]),
                "in_vicinity": bool(a["in_vicinity"][i]),
                "joined_to_previous": bool(a["joined_to_previous"][i]),
                "east_m": east[i], "north_m": north[i], "reach_m": reach[i],
            })
        return out

    def path_lines(self) -> list[list[list[float]]]:
        """The path split at gaps: [lon, lat] lists, one per run of two or more joined fixes."""
        a = self.arrays
        coords = np.column_stack([a["lon"], a["lat"]]).tolist()
        breaks = np.flatnonzero(~a["joined_to_previous"])
        bounds = [*breaks.tolist(), len(coords)]
        return [coords[p:q] for p, q in zip(bounds[:-1], bounds[1:], strict=True) if q - p >= 2]

    def to_dict(self) -> dict:
        """The evidence as JSON-ready values (times ISO 8601 UTC with ``Z``)."""
        return {
            "window_from": iso(self.w0), "window_to": iso(self.w1),
            "closest": self.closest.to_dict() if self.closest else None,
            "visits": [v.to_dict() for v in self.visits],
            "gaps": [g.to_dict() for g in self.gaps],
            "account": self.account, "precision_note": self.precision_note,
            "fixes": self.path_records(),
            "path": {"type": "MultiLineString", "coordinates": self.path_lines()},
        }


# --- formatting ---------------------------------------------------------------------------------

def iso(ns: int | None) -> str | None:
    """int64 ns as ISO 8601 UTC with microseconds (rounded, as the hit store keeps instants)
    and ``Z`` (None stays None)."""
    if ns is None:
        return None
    s = np.datetime_as_string(np.datetime64((int(ns) + 500) // 1000, "us"), unit="us")
    return s + "Z"


def _opt(v) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def clock(ns: int, day_ns: int | None = None) -> str:
    """``18:42:10`` (to the second, truncated as a clock shows it); with the date
    (``18:42:10 on 27 Jan 2025``) when it falls on another UTC day than ``day_ns``."""
    seconds = int(ns) // 10**9
    day, s = divmod(seconds, 86_400)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    text = f"{h:02d}:{m:02d}:{s:02d}"
    if day_ns is not None and day != int(day_ns) // 10**9 // 86_400:
        date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
        text += f" on {date.day} {date:%b %Y}"
    return text


def duration_text(seconds: float) -> str:
    """``6 min 20 s``, ``1 h 05 min``, ``12 s``, ``0.4 s``."""
    s = float(seconds)
    if s < 10:
        return f"{s:.1f} s" if s > 0 else "0 s"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def speed_text(kmh: float) -> str:
    return f"{kmh:.1f} km/h" if kmh < 10 else f"{kmh:.0f} km/h"


def _metres(m: float) -> str:
    return f"{m:.1f} m"


def _visit_sentence(v: Visit, ev: HitEvidence) -> str:
    r = f"{ev.rules.radius_m:g} m vicinity"
    day = ev.w0
    if v.entry_kind == "isolated":
        where = (f"A single isolated fix (none joined to it within {ev.rules.max_gap_s:g} s) "
                 f"in the {r} at {clock(v.entry, day)}, {_metres(v.closest_m)} from the crime")
        return where + _precision_clause(v, ev)
    if v.entry_kind == "crossed":
        head = f"Entered the {r} at {clock(v.entry, day)}"
    elif v.entry_kind == "window":
        head = f"Already in the {r} when the window opened at {clock(v.entry, day)}"
    else:
        head = f"First seen in the {r} at {clock(v.entry, day)} (the first fix after a gap)"
    if v.approach is not None:
        head += f", {v.approach.text()}"
    if v.dwell_s > 0:
        stay = f"stayed {duration_text(v.dwell_s)}"
    else:
        stay = "there for an instant only"
    near = f"closest {_metres(v.closest_m)} at {clock(v.closest_time, day)}"
    near += _precision_clause(v, ev)
    if v.exit_kind == "crossed":
        tail = f"left at {clock(v.exit, day)}"
        if v.departure is not None:
            tail += f", {v.departure.text()}"
    elif v.exit_kind == "window":
        tail = f"still there when the window closed at {clock(v.exit, day)}"
    else:
        tail = f"last seen there at {clock(v.exit, day)} (the last fix before a gap)"
    return f"{head}, {stay}, {near}, {tail}"


def _precision_clause(v: Visit, ev: HitEvidence) -> str:
    if v.within_radius:
        return ""
    whose = "the fix's" if v.closest_at_fix else "the interpolated"
    return (f" (within {ev.rules.radius_m:g} m only with {whose} "
            f"{v.closest_precision_m:.0f} m precision added)")


def _gap_phrase(g: Gap, ev: HitEvidence) -> str:
    day = ev.w0
    gap = f"{ev.rules.max_gap_s:g} s"
    if g.before is None:
        return (f"no fix from the window's start until {clock(g.after, day)} (none in the "
                f"{gap} before it)")
    if g.after is None:
        return (f"no fix from {clock(g.before, day)} to the window's end (none in the {gap} "
                f"after it)")
    return (f"no fix from {clock(g.before, day)} to {clock(g.after, day)} "
            f"({duration_text((g.after - g.before) / 1e9)})")


def gaps_sentence(ev: HitEvidence) -> str:
    if not ev.gaps:
        return "no gaps in the window"
    n = len(ev.gaps)
    head = "1 gap in the window" if n == 1 else f"{n} gaps in the window"
    return f"{head}: " + "; ".join(_gap_phrase(g, ev) for g in ev.gaps)


def account_text(ev: HitEvidence) -> str:
    """The visit account as one paragraph: each visit, then the gaps."""
    gaps = gaps_sentence(ev)
    if not ev.visits:
        return (f"No stretch in the vicinity was found along the path shown; {gaps}.")
    if len(ev.visits) == 1:
        return f"{ev.visits[0].sentence}; {gaps}."
    parts = [f"{len(ev.visits)} visits."]
    parts += [f"{v.number}: {v.sentence}." for v in ev.visits]
    parts.append(gaps[0].upper() + gaps[1:] + ".")
    return " ".join(parts)


def precision_text(ev: HitEvidence) -> str | None:
    """When the hit holds only because precision is counted: how (else None)."""
    if ev.closest is None or not ev.visits or ev.closest.distance_m <= ev.rules.radius_m:
        return None
    v = min(ev.visits, key=lambda v: v.closest_m)
    whose = "the fix's" if v.closest_at_fix else "the interpolated"
    r = f"{ev.rules.radius_m:g} m"
    text = (f"closest approach {_metres(v.closest_m)}: within {r} plus {whose} "
            f"{v.closest_precision_m:.0f} m precision")
    if ev.closest.distance_m < v.closest_m - 0.05:  # a nearer point outside the vicinity
        text += (f" (nearest point of the path {_metres(ev.closest.distance_m)} at "
                 f"{clock(ev.closest.time, ev.w0)}, outside the vicinity with the precision "
                 f"there)")
    return text


# --- the computation ----------------------------------------------------------------------------

def _motions(piece: np.ndarray, t: np.ndarray, x: np.ndarray,
             y: np.ndarray) -> list[Motion | None]:
    """Movement on each segment starting at fix ``piece[k]`` (None past the last fix)."""
    if piece.size == 0:
        return []
    nxt = np.minimum(piece + 1, t.size - 1)
    dt_s = (t[nxt] - t[piece]) / 1e9
    dx, dy = x[nxt] - x[piece], y[nxt] - y[piece]
    step = np.hypot(dx, dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = (step / dt_s * 3.6).tolist()
    bearing = (np.degrees(np.arctan2(dx, dy)) % 360.0).tolist()
    out: list[Motion | None] = []
    for k, ok in enumerate((dt_s > 0).tolist()):
        if not ok:
            out.append(None)
        else:
            out.append(Motion(speed[k], bearing[k] if step[k] > 0 else None))
    return out


def reach_of(precision: np.ndarray, rules: Rules) -> np.ndarray:
    """The precision counted per fix: its precision (0 when unknown), or 0 when not counted."""
    if rules.count_precision:
        return np.nan_to_num(np.asarray(precision, np.float64), nan=0.0)
    return np.zeros(len(precision))


def window_ns(time_from, time_to, rules: Rules) -> tuple[int, int]:
    """The crime window widened by the buffers, as int64 ns."""
    w0 = pd.Timestamp(time_from).value - rules.buffer_before_ns
    w1 = pd.Timestamp(time_to).value + rules.buffer_after_ns
    return w0, w1


def evidence_for_hits(t: np.ndarray, x: np.ndarray, y: np.ndarray, precision: np.ndarray,
                      source: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      subjects: Sequence[str], hits: Sequence[dict], crime_x: np.ndarray,
                      crime_y: np.ndarray, w0: np.ndarray, w1: np.ndarray,
                      rules: Rules, *, reach: np.ndarray | None = None) -> list[HitEvidence]:
    """The evidence of many hits at once. Fixes: flat arrays, each hit's subject's fixes
    ``[lo[k], hi[k])`` sorted by time (int64 ns; metres in ``rules.crs``); per hit its
    subject, its fields (``hits[k]``), its crime location and widened window (int64 ns).
    ``reach``: ``reach_of(precision, rules)`` when the caller keeps it (a job calling this
    batch by batch on one trail of millions of fixes); nothing else here costs the whole
    trail."""
    n = len(hits)
    t = np.ascontiguousarray(t, np.int64)
    x = np.ascontiguousarray(x, np.float64)
    y = np.ascontiguousarray(y, np.float64)
    precision = np.asarray(precision, np.float64)
    if reach is None:
        reach = reach_of(precision, rules)
    crime_x = np.asarray(crime_x, np.float64)
    crime_y = np.asarray(crime_y, np.float64)
    w0 = np.asarray(w0, np.int64)
    w1 = np.asarray(w1, np.int64)
    walks = hit_walks(lo, hi, t, x, y, reach, crime_x, crime_y, w0, w1, rules.radius_m,
                      rules.max_gap_ns)
    p0, p1 = walks["p0"], walks["p1"]
    counts = p1 - p0
    offs = np.concatenate([[0], np.cumsum(counts)])
    total = int(offs[-1])
    # every path's fixes in one gather: fix index, and the hit each belongs to
    owner = np.repeat(np.arange(n), counts)
    idx = np.arange(total) - offs[owner] + p0[owner] if total else np.zeros(0, np.int64)
    pt, px, py = t[idx], x[idx], y[idx]
    prec = precision[idx]
    first = np.zeros(total, bool)
    first[offs[:-1][counts > 0]] = True
    dt_ns = np.empty(total, np.int64)
    if total:
        dt_ns[1:] = np.diff(pt)
        dt_ns[0] = 0
    dt_ns[first] = 0
    joined = ~first & (dt_ns > 0) & (dt_ns <= rules.max_gap_ns)
    step = np.empty(total)
    if total:
        step[1:] = np.hypot(np.diff(px), np.diff(py))
        step[0] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(~first & (dt_ns > 0), step / (dt_ns / 1e9) * 3.6, np.nan)
    dist = np.hypot(px - crime_x[owner], py - crime_y[owner])
    in_window = (pt >= w0[owner]) & (pt <= w1[owner])
    in_vicinity = in_window & (dist <= rules.radius_m + reach[idx])
    closest = walks["closest"]
    has_closest = np.isfinite(closest[:, 0])
    cx_, cy_ = closest[has_closest, 2], closest[has_closest, 3]
    # Projection to WGS84 (OSTN15) is most of the cost: each fix once, however many hits'
    # paths (one subject's crimes close in time) it is on.
    uniq, back = np.unique(idx, return_inverse=True)
    lon, lat = working_to_lonlat(np.concatenate([x[uniq], cx_]),
                                 np.concatenate([y[uniq], cy_]), rules.crs)
    clon, clat = lon[uniq.size:], lat[uniq.size:]
    lon, lat = lon[:uniq.size][back], lat[:uniq.size][back]
    seq = np.arange(total) - offs[owner] + 1
    sources = _SOURCE_LUT[np.asarray(source)[idx].astype(np.int64) & 255] if total else \
        np.zeros(0, object)
    vf, vi, gaps = walks["visits_f"], walks["visits_i"], walks["gaps"]
    voff, goff = walks["voff"], walks["goff"]
    approach = _motions(vi[:, 2], t, x, y)
    departure = _motions(vi[:, 3], t, x, y)
    vfl, vil = vf.tolist(), vi.tolist()
    out: list[HitEvidence] = []
    k_closest = np.cumsum(has_closest) - 1
    for k in range(n):
        a, b = int(offs[k]), int(offs[k + 1])
        base, first_fix = int(w0[k]), int(p0[k])
        arrays = {"seq": seq[a:b], "time": pt[a:b], "x": px[a:b], "y": py[a:b],
                  "lat": lat[a:b], "lon": lon[a:b], "precision_m": prec[a:b],
                  "source": sources[a:b], "speed_kmh": speed[a:b], "distance_m": dist[a:b],
                  "in_window": in_window[a:b], "in_vicinity": in_vicinity[a:b],
                  "joined_to_previous": joined[a:b]}
        cl = None
        if has_closest[k]:
            j = int(k_closest[k])
            cl = Closest(float(closest[k, 0]), base + int(round(closest[k, 1] * 1e9)),
                         float(closest[k, 2]), float(closest[k, 3]), float(clat[j]),
                         float(clon[j]))
        ev = HitEvidence(subject=str(subjects[k]), hit=hits[k], crime_x=float(crime_x[k]),
                         crime_y=float(crime_y[k]), w0=base, w1=int(w1[k]), rules=rules,
                         arrays=arrays, closest=cl, visits=[], gaps=[])
        for r in range(int(voff[k]), int(voff[k + 1])):
            e_kind, x_kind, e_piece, x_piece, at_fix = vil[r]
            entry, exit_, dwell, near, near_t, near_reach = vfl[r]
            isolated = e_kind == ISOLATED
            v = Visit(
                number=r - int(voff[k]) + 1,
                entry=base + round(entry * 1e9), exit=base + round(exit_ * 1e9),
                dwell_s=dwell, entry_kind=KIND_NAMES[e_kind],
                exit_kind=KIND_NAMES[x_kind], entry_seq=e_piece - first_fix + 1,
                exit_seq=x_piece - first_fix + 1,
                approach=None if isolated else approach[r],
                departure=None if isolated else departure[r],
                closest_m=near, closest_time=base + round(near_t * 1e9),
                closest_precision_m=near_reach, closest_at_fix=bool(at_fix),
                within_radius=near <= rules.radius_m)
            ev.visits.append(v)
        for r in range(int(goff[k]), int(goff[k + 1])):
            ia, ib = int(gaps[r, 0]), int(gaps[r, 1])
            ta = int(t[ia]) if ia >= 0 else None
            tb = int(t[ib]) if ib >= 0 else None
            ev.gaps.append(Gap(
                before_seq=ia - first_fix + 1 if ia >= 0 else None,
                after_seq=ib - first_fix + 1 if ib >= 0 else None, before=ta, after=tb,
                window_from=max(ta, base) if ta is not None else base,
                window_to=min(tb, int(w1[k])) if tb is not None else int(w1[k])))
        for v in ev.visits:
            v.sentence = _visit_sentence(v, ev)
        ev.account = account_text(ev)
        ev.precision_note = precision_text(ev)
        out.append(ev)
    return out


def trail_evidence(trail: Trail, hits: Sequence[dict], crimes: Sequence[dict], rules: Rules, *,
                   codes: dict | None = None,
                   reach: np.ndarray | None = None) -> list[HitEvidence]:
    """``evidence_for_hits`` for hits of a prepared ``Trail``: ``crimes[k]`` is hit k's crime
    (``x``, ``y``, ``time_from``, ``time_to``). A subject absent from the trail (fixes since
    purged) gets an empty path. ``codes`` (subject -> code) and ``reach`` (``reach_of``) may
    be kept by a caller that asks again on the same trail."""
    if codes is None:
        codes = {s: i for i, s in enumerate(trail.subjects.tolist())}
    n = len(hits)
    lo = np.zeros(n, np.int64)
    hi = np.zeros(n, np.int64)
    w0 = np.zeros(n, np.int64)
    w1 = np.zeros(n, np.int64)
    for k, (hit, crime) in enumerate(zip(hits, crimes, strict=True)):
        s = codes.get(hit["subject"])
        if s is not None:
            lo[k], hi[k] = int(trail.starts[s]), int(trail.starts[s + 1])
        w0[k], w1[k] = window_ns(crime["time_from"], crime["time_to"], rules)
    return evidence_for_hits(trail.t, trail.x, trail.y, trail.precision, trail.source, lo, hi,
                             [h["subject"] for h in hits], hits,
                             np.array([float(c["x"]) for c in crimes]),
                             np.array([float(c["y"]) for c in crimes]), w0, w1, rules,
                             reach=reach)


def fixes_evidence(subject: str, t: np.ndarray, x: np.ndarray, y: np.ndarray,
                   precision: np.ndarray, source: np.ndarray, hit: dict, crime_x: float,
                   crime_y: float, time_from, time_to, rules: Rules) -> HitEvidence:
    """One hit's evidence from its subject's fixes (sorted by time; at least those within max
    gap of the widened window)."""
    w0, w1 = window_ns(time_from, time_to, rules)
    return evidence_for_hits(t, x, y, precision, source, np.array([0]), np.array([len(t)]),
                             [subject], [hit], np.array([crime_x]), np.array([crime_y]),
                             np.array([w0]), np.array([w1]), rules)[0]
