"""``coverage(trails, crimes, rules)``: the per-crime answer to "who can be ruled out?".

For each crime, every subject known (from the fixes and from the activation periods) is in
exactly one of the four groups of ``trailmatch.eliminate`` — ``hit``, ``excluded``,
``cannot_exclude``, ``not_monitored`` — decided by the same contract. The answer is

- ``Coverage.summary``: one row per crime with the four counts (and how many of the
  ``not_monitored`` subjects were monitored for part of the window);
- ``Coverage.evidence``: one row per ``cannot_exclude`` subject (its worst gap: the fixes
  before and after it, their times and distances to the crime, and the least speed that gap
  needs) and per subject monitored for only part of the window (the monitored share).

Excluded subjects are counted, not listed: why one subject is excluded is answered on demand
by ``trailmatch.explain``. Memory and time follow crimes + hits + evidence rows, never
crimes × subjects (``trailmatch/index/crime_coverage.py``). The full per-pair table is
``trailmatch.eliminate.eliminate`` (``trailmatch eliminate --all-pairs``); every count here
equals that table's, and every evidence row equals its row for the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
import pandas as pd

from trailmatch.eliminate import (
    check_activations,
    crime_order,
    subject_ranges,
    subject_universe,
    trail_monitoring,
)
from trailmatch.index.crime_coverage import (
    EDGE_AFTER,
    EDGE_BEFORE,
    EDGE_NONE,
    crime_evidence,
    hits_monitored,
    monitored_counts,
)
from trailmatch.index.gaps import STATUSES
from trailmatch.index.segments import SegmentIndex, TrailPath, trail_path
from trailmatch.match import candidate_pairs
from trailmatch.rules import Rules
from trailmatch.trails import Crimes, Trail, ns_to_datetime, prepare_crimes, prepare_trail

SUMMARY_COLUMNS = [
    "police_force", "crime_reference", "subjects", "hit", "excluded", "cannot_exclude",
    "not_monitored", "partly_monitored",
]
EVIDENCE_COLUMNS = [
    "police_force", "crime_reference", "subject", "status", "fixes_in_window",
    "covered_fraction", "gaps", "worst_gap_from", "worst_gap_to", "distance_before_m",
    "distance_after_m", "min_speed_needed_mps",
]
EVIDENCE_STATUSES = ("cannot_exclude", "not_monitored")
CHUNK_ROWS = 1 << 20  # crimes × subjects of scratch per kernel call (~60 MB, reused by the OS)


@dataclass
class Coverage:
    """The per-crime coverage answer: ``summary`` (``SUMMARY_COLUMNS``, one row per crime,
    sorted by force and reference) and ``evidence`` (``EVIDENCE_COLUMNS``, sorted by force,
    reference and subject; text columns categorical)."""

    summary: pd.DataFrame
    evidence: pd.DataFrame

    def totals(self) -> dict[str, int]:
        """The four counts over every crime."""
        return {s: int(self.summary[s].sum()) for s in STATUSES}


def empty_summary() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SUMMARY_COLUMNS[:2]})
    for c in SUMMARY_COLUMNS[2:]:
        frame[c] = pd.Series(dtype=np.int64)
    return frame


def empty_evidence() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in EVIDENCE_COLUMNS[:3]})
    frame["status"] = pd.Categorical([], categories=list(EVIDENCE_STATUSES))
    frame["fixes_in_window"] = pd.Series(dtype=np.int32)
    frame["covered_fraction"] = pd.Series(dtype=np.float64)
    frame["gaps"] = pd.Series(dtype=np.int32)
    for c in ("worst_gap_from", "worst_gap_to"):
        frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in ("distance_before_m", "distance_after_m", "min_speed_needed_mps"):
        frame[c] = pd.Series(dtype=np.float64)
    return frame[EVIDENCE_COLUMNS]


def _edges(trail_t: np.ndarray, fix_lo: np.ndarray, fix_hi: np.ndarray, monitoring):
    """The unwatched edges of each subject's monitoring, as ``crime_evidence`` reads them:
    kind, subject, sort key, and the order of each kind by its key."""
    mon_lo, mon_hi, mon_start, mon_end = monitoring
    has_mon = mon_hi > mon_lo
    u_all = np.arange(fix_lo.size, dtype=np.int64)
    m0 = np.where(has_mon, mon_start[np.minimum(mon_lo, max(mon_start.size - 1, 0))]
                  if mon_start.size else 0, 0)
    m1 = np.where(has_mon, mon_end[np.minimum(mon_hi - 1, max(mon_end.size - 1, 0))]
                  if mon_end.size else 0, 0)
    no_fix = fix_hi == fix_lo
    none_u = u_all[no_fix & has_mon]
    some = ~no_fix
    first = np.zeros(fix_lo.size, dtype=np.int64)
    last = np.zeros(fix_lo.size, dtype=np.int64)
    first[some] = trail_t[fix_lo[some]]
    last[some] = trail_t[fix_hi[some] - 1]
    before_u = u_all[some & has_mon & (m0 < first)]
    after_u = u_all[some & has_mon & (m1 > last)]
    kind = np.concatenate([np.full(none_u.size, EDGE_NONE), np.full(before_u.size, EDGE_BEFORE),
                           np.full(after_u.size, EDGE_AFTER)]).astype(np.int8)
    u = np.concatenate([none_u, before_u, after_u]).astype(np.int64)
    key = np.concatenate([m0[none_u], first[before_u], last[after_u]]).astype(np.int64)
    idx = np.arange(u.size, dtype=np.int64)

    def ordered(k: int) -> np.ndarray:
        sel = idx[kind == k]
        return np.ascontiguousarray(sel[np.argsort(key[sel], kind="stable")])

    return kind, u, key, ordered(EDGE_NONE), ordered(EDGE_BEFORE), ordered(EDGE_AFTER)


def _boundaries(monitoring):
    """Every monitoring period's start and end as (time, subject), by time: a subject is
    monitored for part of a window only if one of its boundaries lies strictly inside it."""
    mon_lo, mon_hi, mon_start, mon_end = monitoring
    owner = np.repeat(np.arange(mon_lo.size, dtype=np.int64), mon_hi - mon_lo)
    bt = np.concatenate([mon_start, mon_end])
    bu = np.concatenate([owner, owner])
    by = np.argsort(bt, kind="stable")
    return np.ascontiguousarray(bt[by]), np.ascontiguousarray(bu[by])


def coverage_prepared(trail: Trail, index: SegmentIndex | TrailPath, crimes: Crimes,
                      rules: Rules, *, activations: pd.DataFrame | None = None) -> Coverage:
    """The per-crime answer on already prepared arrays: ``index`` a segment index built with
    the same rules, or the bare path (``trail_path``) when the trail is used once."""
    if index.max_gap_ns != rules.max_gap_ns:
        raise ValueError("the index was built with another max gap than the rules ask for")
    check_activations(activations)
    names = subject_universe(trail.subjects, activations)
    if crimes.n == 0:
        return Coverage(empty_summary(), empty_evidence())
    n_u = names.size
    n_c = crimes.n
    monitoring = trail_monitoring(trail, names, activations)
    mon_lo, mon_hi, mon_start, mon_end = monitoring
    trail_to_u = np.searchsorted(names, trail.subjects.astype(str)).astype(np.int64)
    if trail.n_fixes:
        pair_crime, pair_subject = candidate_pairs(trail, index, crimes, rules.radius_m)
    else:
        pair_crime = pair_subject = np.zeros(0, dtype=np.int64)
    pair_crime = np.asarray(pair_crime, dtype=np.int64)
    hit_u = trail_to_u[pair_subject]
    by = np.lexsort((hit_u, pair_crime))
    hit_u = np.ascontiguousarray(hit_u[by])
    hit_crime = np.ascontiguousarray(pair_crime[by])
    hit_offsets = np.searchsorted(hit_crime, np.arange(n_c + 1)).astype(np.int64)
    w0 = np.ascontiguousarray(crimes.w0, dtype=np.int64)
    w1 = np.ascontiguousarray(crimes.w1, dtype=np.int64)

    # counts: hits; monitored through the window (periods are disjoint per subject)
    hits = np.diff(hit_offsets)
    monitored = monitored_counts(mon_start, mon_end, w0, w1)
    hits_in = hits_monitored(hit_crime, hit_u, mon_lo, mon_hi, mon_start, mon_end, w0, w1, n_c)

    # evidence: the gap index's candidates, the monitoring's edges, partial monitoring
    gap_index, fix_lo, fix_hi, gap_lo, gap_hi = subject_ranges(trail, index, rules,
                                                               trail_to_u, n_u)
    edge_kind, edge_u, edge_key, e_none, e_before, e_after = _edges(trail.t, fix_lo, fix_hi,
                                                                    monitoring)
    bound_t, bound_u = _boundaries(monitoring)
    bin_fix_a = np.ascontiguousarray(gap_index.gap_a[gap_index.bin_gap], dtype=np.int64)
    cx = np.ascontiguousarray(crimes.x, dtype=np.float64)
    cy = np.ascontiguousarray(crimes.y, dtype=np.float64)
    reach = np.ascontiguousarray(index.reach, dtype=np.float64)
    n_threads = nb.config.NUMBA_NUM_THREADS
    stamp = np.zeros((n_threads, n_u), dtype=np.int64)
    slot = np.zeros((n_threads, n_u), dtype=np.int64)
    order = crime_order(crimes.frame)
    step = max(1, CHUNK_ROWS // max(n_u, 1))
    parts = []
    for r0 in range(0, n_c, step):
        parts.append(crime_evidence(
            np.ascontiguousarray(order[r0:r0 + step]), r0, cx, cy, w0, w1,
            float(rules.radius_m), float(rules.max_speed_mps), gap_index.cell_m,
            gap_index.bin_key, gap_index.box, gap_index.bin_t, gap_index.bin_p,
            gap_index.bin_subject, bin_fix_a, gap_index.bin_start, gap_index.level_bucket_ns,
            trail_to_u, n_u, hit_offsets, hit_u, fix_lo, fix_hi, trail.t, trail.x, trail.y,
            reach, gap_lo, gap_hi, gap_index.gap_ta, gap_index.gap_tb, mon_lo, mon_hi,
            mon_start, mon_end, edge_kind, edge_u, edge_key, e_none, e_before, e_after,
            bound_t, bound_u, stamp, slot))
    cols = [np.concatenate([p[k] for p in parts]) for k in range(11)]
    (counts, ev_u, ev_status, ev_fixes, ev_gaps, ev_cov, ev_need, ev_from, ev_to, ev_a,
     ev_b) = cols
    ce = np.zeros(n_c, dtype=np.int64)
    part = np.zeros(n_c, dtype=np.int64)
    ev_crime = np.repeat(order, counts)
    is_ce = ev_status == STATUSES.index("cannot_exclude")
    np.add.at(ce, ev_crime[is_ce], 1)
    np.add.at(part, ev_crime[~is_ce], 1)

    frame = crimes.frame
    forces = frame["police_force"].astype(str).to_numpy(dtype=object)
    refs = frame["crime_reference"].astype(str).to_numpy(dtype=object)
    not_mon = (n_u - monitored) - (hits - hits_in)
    summary = pd.DataFrame({
        "police_force": forces[order], "crime_reference": refs[order],
        "subjects": np.full(n_c, n_u, dtype=np.int64), "hit": hits[order],
        "excluded": (monitored - hits_in - ce)[order], "cannot_exclude": ce[order],
        "not_monitored": not_mon[order], "partly_monitored": part[order],
    })

    def distance(fix: np.ndarray) -> np.ndarray:
        out = np.full(fix.size, np.nan)
        has = fix >= 0
        f = fix[has]
        out[has] = np.hypot(trail.x[f] - cx[ev_crime[has]], trail.y[f] - cy[ev_crime[has]])
        return out

    # text as categoricals: evidence rows can run to tens of millions (a gappy national day)
    force_codes, force_names = pd.factorize(forces)
    ref_codes, ref_names = pd.factorize(refs)
    evidence = pd.DataFrame({
        "police_force": pd.Categorical.from_codes(force_codes[ev_crime], categories=force_names),
        "crime_reference": pd.Categorical.from_codes(ref_codes[ev_crime], categories=ref_names),
        "subject": pd.Categorical.from_codes(ev_u, categories=pd.Index(names.astype(str))),
        "status": pd.Categorical.from_codes(
            np.where(is_ce, 0, 1).astype(np.int8), categories=list(EVIDENCE_STATUSES)),
        "fixes_in_window": ev_fixes, "covered_fraction": ev_cov, "gaps": ev_gaps,
        "worst_gap_from": ns_to_datetime(ev_from), "worst_gap_to": ns_to_datetime(ev_to),
        "distance_before_m": distance(ev_a), "distance_after_m": distance(ev_b),
        "min_speed_needed_mps": ev_need,
    })
    return Coverage(summary, evidence)


def coverage(trails: pd.DataFrame, crimes: pd.DataFrame, rules: Rules | None = None, *,
             activations: pd.DataFrame | None = None) -> Coverage:
    """Per crime: how many subjects are ``hit`` / ``excluded`` / ``cannot_exclude`` /
    ``not_monitored``, and the evidence rows (see the module docstring).

    ``trails``, ``crimes`` and ``activations`` as for ``trailmatch.eliminate.eliminate``.
    """
    rules = rules or Rules()
    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    return coverage_prepared(trail, path, prepared, rules, activations=activations)


# --- files ---------------------------------------------------------------------------------------

def evidence_for_csv(evidence: pd.DataFrame) -> pd.DataFrame:
    """Text-ready copy: times ISO 8601 UTC (empty when none), numbers rounded."""
    out = evidence[EVIDENCE_COLUMNS].copy()
    for c in ("worst_gap_from", "worst_gap_to"):
        s = out[c]
        text = pd.Series("", index=out.index, dtype=object)
        has = s.notna().to_numpy()
        if has.any():
            text[has] = s[has].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").to_numpy()
        out[c] = text
    out["covered_fraction"] = out["covered_fraction"].round(6)
    for c in ("distance_before_m", "distance_after_m", "min_speed_needed_mps"):
        out[c] = out[c].round(3)
    return out


def write_table(frame: pd.DataFrame, path: Path | str, *, text=None) -> None:
    """One table, written atomically: Parquet when the name ends ``.parquet``, else CSV
    (``text(frame)`` makes the CSV's text-ready copy)."""
    from trailmatch.atomic import atomic_open

    path = Path(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        with atomic_open(path, "wb") as f:
            pq.write_table(table, f)
        return
    with atomic_open(path) as f:
        (text(frame) if text else frame).to_csv(f, index=False, lineterminator="\n")


def write_coverage(result: Coverage, summary_path: Path | str,
                   evidence_path: Path | str) -> None:
    """The summary and the evidence table (CSV, or Parquet by the file name)."""
    write_table(result.summary, summary_path)
    write_table(result.evidence, evidence_path, text=evidence_for_csv)
