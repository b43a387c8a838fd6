"""``eliminate(trails, crimes, rules)``: for every crime and subject, was the subject there, can
it be ruled out, or is it unknown? — coverage and elimination (docs/vicinity.md).

Statuses, in order of precedence:

- ``hit``: in the vicinity at some instant of the window (exactly what ``match`` finds);
- ``not_monitored``: the window is not wholly inside the subject's monitoring (device
  activation periods; without activation data, from its first to its last fix).
  ``covered_fraction`` says how much of it is;
- ``cannot_exclude``: no hit, but at least one unwatched stretch of the trail meeting the window
  through which the subject could have been in the vicinity at ``v_max``; the worst one (the
  one needing the least speed) is reported with the speed it needs;
- ``excluded``: no hit and no such stretch: the subject provably was not in the vicinity,
  given the fixes and that it cannot move faster than ``v_max``.

Why the prism test is the right one (first principles)
------------------------------------------------------
Between fixes joined by the contract (``t_b − t_a <= max_gap``) the path *is* the straight
line, and ``match`` decides exactly. What is left unwatched is: every gap (consecutive fixes
a, b with ``t_b − t_a > max_gap``), and, inside the monitoring, the time before the first fix
and after the last. For such a stretch we only know: at ``t_a`` the subject was within ``ρ_a``
(the fix's precision radius, when precision counts; else 0) of ``p_a``, at ``t_b`` within
``ρ_b`` of ``p_b``, and it never moves faster than ``v``.

Being in the vicinity at an instant τ means being at a point q with ``|q − c| <= R``.
Reaching q by τ from a is possible only if ``|q − p_a| <= ρ_a + v(τ − t_a)``; the closest
point of the vicinity to ``p_a`` is ``d_a − R`` away (0 if ``p_a`` is inside), so *some* point
of the vicinity can be reached by τ exactly when

    τ >= t_a + (d_a − R − ρ_a)⁺ / v.                                                   (1)

Symmetrically, b can still be reached from some point of the vicinity after τ exactly when

    τ <= t_b − (d_b − R − ρ_b)⁺ / v.                                                   (2)

The question is about the window, and within the stretch, so also ``g0 <= τ <= g1``, the
stretch clipped to W (the fixes themselves may lie outside W: they still bound where the
subject can be inside it). An instant satisfying all four exists iff

    max(g0, t_a + (d_a − R − ρ_a)⁺/v) <= min(g1, t_b − (d_b − R − ρ_b)⁺/v),

the clipped prism condition of docs/vicinity.md. Each of (1) and (2) is *exactly* "could have got
there from a" and "could have got from there to b"; their conjunction is exactly "at some
instant of the window the subject could be in the vicinity as far as a alone and b alone
tell". Consequences that matter in evidence:

- **Excluded is proof.** If the condition fails for every stretch, then at every instant of
  W the subject was either on its drawn path (and not in the vicinity, or there would be a
  hit) or in a stretch where (1) or (2) fails, i.e. physically unable to be there at ``v``.
- **It is conservative, never the other way.** (1) and (2) may be met by two *different*
  points of the vicinity while no single point is within reach of both fixes at once (e.g.
  fixes 2 km apart on either side of the crime's street, with just enough time to go straight
  from one to the other: the prism is then the straight line, which may pass 150 m from the
  crime while (1) and (2) both hold). Such a subject is reported ``cannot_exclude`` although
  a sharper (lens-shaped) test would exclude it. No subject is ever excluded that could have
  been there. That is the trade-off docs/vicinity.md fixes, and what ``expected_coverage.csv`` uses.
- **Precision only loosens.** Counting precision subtracts ``ρ`` from each distance, so (1)
  and (2) get easier: fewer exclusions, never more.
- A side with no fix (before the first fix or after the last, inside an activation period)
  gives no bound: only the other inequality applies. A subject with no fix at all in an
  activation period covering W cannot be excluded (speed needed 0).

Minimum speed needed. The condition is monotone in v (larger v only loosens (1) and (2)); it
is four inequalities, three of which involve v, each solved for v:
``v >= A/(g1 − t_a)``, ``v >= B/(t_b − g0)``, ``v >= (A + B)/(t_b − t_a)`` with
``A = (d_a − R − ρ_a)⁺``, ``B = (d_b − R − ρ_b)⁺`` (``g0 <= g1`` always holds). So the least v
for which the subject could have been there through that stretch is the largest of the three
(0 when both fixes are within R + ρ of the crime). The *worst gap* is the stretch with the
least such speed (ties: the earliest); ``min_speed_needed_mps`` is that speed. For a
``cannot_exclude`` row it is <= ``v_max``; ``worst_gap_from``/``worst_gap_to`` are the times of
the fixes before and after (or the activation start / end for an edge; empty when open).

Which stretches count (``gaps``): those whose open interval meets W (``t_a < w1`` and
``t_b > w0``); an edge of the monitoring counts from its first / to its last instant. At a fix
itself the position is known, so touching W only at a fix adds nothing.

Scale: the geometry runs on the gap index (``trailmatch/index/gaps.py``: gaps binned by their
prism's bounding box), not on crimes × subjects; the one row per (crime, subject) that the
answer consists of is then filled by binary searches. Beyond one machine the same steps run
per UTC-day partition on Dask (``trailmatch/scale/coverage.py``, ``--scheduler``), given the
subjects and monitoring of the whole trail and the fixes that bound each partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trailmatch.index.gaps import (
    OPEN_END,
    STATUSES,
    build_gap_index,
    coverage_rows,
    reach_rows,
)
from trailmatch.index.segments import SegmentIndex, TrailPath, trail_path
from trailmatch.match import candidate_pairs
from trailmatch.rules import Rules
from trailmatch.trails import Crimes, Trail, ns_to_datetime, prepare_crimes, prepare_trail

COVERAGE_COLUMNS = [
    "crime_reference", "police_force", "subject", "status", "fixes_in_window",
    "covered_fraction", "gaps", "worst_gap_from", "worst_gap_to", "min_speed_needed_mps",
]
ACTIVATION_COLUMNS = ("subject", "start", "end")
CRIME_BLOCK = 256  # crimes per tile of the coverage kernel (see ``coverage_rows``)


def empty_coverage() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in COVERAGE_COLUMNS})
    frame["status"] = pd.Categorical([], categories=list(STATUSES))
    frame["fixes_in_window"] = pd.Series(dtype=np.int32)
    frame["gaps"] = pd.Series(dtype=np.int32)
    for c in ("worst_gap_from", "worst_gap_to"):
        frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in ("covered_fraction", "min_speed_needed_mps"):
        frame[c] = pd.Series(dtype=np.float64)
    return frame


def _instants(values, what: str, allow_missing: bool) -> np.ndarray:
    s = pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        try:
            s = pd.to_datetime(s, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{what}: unreadable time ({exc})") from None
    if getattr(s.dt, "tz", None) is None:
        s = s.dt.tz_localize("UTC")
    s = s.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    missing = s.isna().to_numpy()
    if missing.any() and not allow_missing:
        raise ValueError(f"{what}: row {int(np.flatnonzero(missing)[0])}: missing time")
    ns = s.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64).copy()
    ns[missing] = OPEN_END
    return ns


def check_activations(activations: pd.DataFrame | None) -> None:
    """The activation periods' columns and subjects are there (times are read later)."""
    if activations is None:
        return
    missing = [c for c in ACTIVATION_COLUMNS if c not in activations.columns]
    if missing:
        raise ValueError(f"activations: missing column(s) {missing}; "
                         f"need {list(ACTIVATION_COLUMNS)}")
    if activations["subject"].isna().any():
        i = int(np.flatnonzero(activations["subject"].isna().to_numpy())[0])
        raise ValueError(f"activations: row {i}: missing subject")


def subject_universe(subjects, activations: pd.DataFrame | None) -> np.ndarray:
    """Every subject an answer has rows for, in name order: those of the trail (``subjects``,
    its names) and those with activation periods."""
    known = set(np.asarray(subjects).astype(str).tolist())
    if activations is not None:
        known |= set(activations["subject"].astype(str).tolist())
    return np.asarray(sorted(known), dtype=object)


def monitoring_periods(names: np.ndarray, has_fix: np.ndarray, first_fix: np.ndarray,
                       last_fix: np.ndarray, activations: pd.DataFrame | None):
    """Merged closed monitoring periods per universe subject (``names``), as CSR arrays
    ``(mon_lo, mon_hi, mon_start, mon_end)``: the activation periods, or for a subject without
    any, ``[first_fix, last_fix]`` (its first and last fix over the whole trail) where
    ``has_fix``. Per-subject arrays are indexed by universe code."""
    n_u = names.size
    periods: list[list[tuple[int, int]]] = [[] for _ in range(n_u)]
    if activations is not None and len(activations):
        code = {name: u for u, name in enumerate(names.tolist())}
        start = _instants(activations["start"], "activations.start", False)
        end = _instants(activations["end"], "activations.end", True)
        back = end < start
        if back.any():
            i = int(np.flatnonzero(back)[0])
            raise ValueError(f"activations: row {i}: end is before start")
        for subj, a, b in zip(activations["subject"].astype(str).tolist(), start.tolist(),
                              end.tolist(), strict=True):
            periods[code[subj]].append((a, b))
    for u in np.flatnonzero(has_fix).tolist():
        if not periods[u]:
            periods[u].append((int(first_fix[u]), int(last_fix[u])))
    mon_lo = np.zeros(n_u, dtype=np.int64)
    mon_hi = np.zeros(n_u, dtype=np.int64)
    mon_start: list[int] = []
    mon_end: list[int] = []
    for u in range(n_u):
        mon_lo[u] = len(mon_start)
        for a, b in sorted(periods[u]):
            if len(mon_start) > mon_lo[u] and a <= mon_end[-1]:
                mon_end[-1] = max(mon_end[-1], b)
            else:
                mon_start.append(a)
                mon_end.append(b)
        mon_hi[u] = len(mon_start)
    return (mon_lo, mon_hi, np.asarray(mon_start, dtype=np.int64),
            np.asarray(mon_end, dtype=np.int64))


def trail_monitoring(trail: Trail, names: np.ndarray, activations: pd.DataFrame | None):
    """``monitoring_periods`` of the universe ``names`` with first and last fixes from
    ``trail`` (the whole trail the answer is about)."""
    trail_to_u = np.searchsorted(names, trail.subjects.astype(str)).astype(np.int64)
    starts = trail.starts
    has_fix = np.zeros(names.size, dtype=bool)
    first_fix = np.zeros(names.size, dtype=np.int64)
    last_fix = np.zeros(names.size, dtype=np.int64)
    some = starts[1:] > starts[:-1]
    has_fix[trail_to_u[some]] = True
    first_fix[trail_to_u[some]] = trail.t[starts[:-1][some]]
    last_fix[trail_to_u[some]] = trail.t[starts[1:][some] - 1]
    return monitoring_periods(names, has_fix, first_fix, last_fix, activations)


def _code_dtype(n_categories: int) -> type:
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return dtype
    return np.int64


@dataclass
class CoverageColumns:
    """The coverage rows as flat arrays: crime ``order[r]`` (a row of the crimes frame) and
    universe subject ``s`` are row ``r·n_subjects + s``. What a partition of a distributed run
    sends back; ``coverage_frame`` turns it into the answer."""

    order: np.ndarray  # int64 crime rows, in output order (force, reference; stable)
    status: np.ndarray  # int8 codes of STATUSES
    fixes_in_window: np.ndarray  # int32
    covered_fraction: np.ndarray  # float64
    gaps: np.ndarray  # int32
    worst_gap_from: np.ndarray  # int64 ns, NO_TIME for none
    worst_gap_to: np.ndarray  # int64 ns, NO_TIME for none
    min_speed_needed_mps: np.ndarray  # float64


def crime_order(frame: pd.DataFrame) -> np.ndarray:
    """Crime rows in output order: by force, then reference; ties keep input order."""
    return frame[["police_force", "crime_reference"]].astype(str).sort_values(
        ["police_force", "crime_reference"], kind="stable").index.to_numpy(dtype=np.int64)


def subject_ranges(trail: Trail, index, rules: Rules, trail_to_u: np.ndarray, n_u: int):
    """The trail's gap index, and each universe subject's fixes ``[fix_lo, fix_hi)`` and gaps
    ``[gap_lo, gap_hi)`` in it (empty for a subject the trail does not hold)."""
    gap_index = build_gap_index(trail.subject, trail.t, trail.x, trail.y, index.reach,
                                trail.n_subjects, rules.max_gap_ns, rules.radius_m,
                                rules.max_speed_mps)
    fix_lo = np.zeros(n_u, dtype=np.int64)
    fix_hi = np.zeros(n_u, dtype=np.int64)
    fix_lo[trail_to_u] = trail.starts[:-1]
    fix_hi[trail_to_u] = trail.starts[1:]
    gap_lo = np.zeros(n_u, dtype=np.int64)
    gap_hi = np.zeros(n_u, dtype=np.int64)
    gap_lo[trail_to_u] = gap_index.gap_starts[:-1]
    gap_hi[trail_to_u] = gap_index.gap_starts[1:]
    return gap_index, fix_lo, fix_hi, gap_lo, gap_hi


def coverage_columns(trail: Trail, index: SegmentIndex | TrailPath, crimes: Crimes, rules: Rules,
                     names: np.ndarray, monitoring) -> CoverageColumns:
    """The coverage rows of ``crimes`` against ``trail`` for the subjects ``names`` (the
    universe, name order; a superset of the trail's subjects) monitored as ``monitoring``
    says (``monitoring_periods``). The trail may be a stretch of the whole one: rows are the
    same as long as it holds, per subject, a contiguous run of the whole trail's fixes that
    reaches one fix beyond every crime window's stretch on both sides (or to the trail's end);
    see ``trailmatch/scale/coverage.py``."""
    n_u = names.size
    n_c = crimes.n
    trail_to_u = np.searchsorted(names, trail.subjects.astype(str)).astype(np.int64)
    if trail.n_fixes:
        pair_crime, pair_subject = candidate_pairs(trail, index, crimes, rules.radius_m)
    else:
        pair_crime = pair_subject = np.zeros(0, dtype=np.int64)

    gap_index, fix_lo, fix_hi, gap_lo, gap_hi = subject_ranges(trail, index, rules,
                                                               trail_to_u, n_u)
    mon_lo, mon_hi, mon_start, mon_end = monitoring

    # hits grouped by crime, subjects ascending in universe codes (the coverage kernel merges)
    hit_u = trail_to_u[pair_subject]
    by = np.lexsort((hit_u, pair_crime))
    hit_u = hit_u[by]
    hit_offsets = np.searchsorted(pair_crime[by], np.arange(n_c + 1)).astype(np.int64)

    order = crime_order(crimes.frame)
    touched, min_speed, worst_from, worst_to = reach_rows(gap_index, order, crimes.x, crimes.y,
                                                 crimes.w0, crimes.w1, trail_to_u, n_u)
    status, fixes, covered, gaps = coverage_rows(
        order, crimes.x, crimes.y, crimes.w0, crimes.w1, float(rules.radius_m),
        float(rules.max_speed_mps), n_u, hit_offsets, hit_u, fix_lo, fix_hi, trail.t, trail.x,
        trail.y, index.reach, gap_lo, gap_hi, gap_index.gap_ta, gap_index.gap_tb, mon_lo,
        mon_hi, mon_start, mon_end, CRIME_BLOCK, touched, min_speed, worst_from, worst_to)
    return CoverageColumns(order, status, fixes, covered, gaps, worst_from, worst_to, min_speed)


def coverage_frame(frame: pd.DataFrame, names: np.ndarray, cols: CoverageColumns
                   ) -> pd.DataFrame:
    """The answer's frame from its columns (``frame``: the crimes, rows as in ``cols.order``)."""
    n_u = names.size
    n_c = cols.order.size
    order = cols.order
    ref_codes, refs = pd.factorize(frame["crime_reference"].astype(str))
    force_codes, forces = pd.factorize(frame["police_force"].astype(str))
    # codes in the dtype pandas keeps for that many categories, so nothing is converted
    # again: a national day is 10^8 rows
    return pd.DataFrame({
        "crime_reference": pd.Categorical.from_codes(
            np.repeat(ref_codes[order].astype(_code_dtype(refs.size)), n_u), categories=refs),
        "police_force": pd.Categorical.from_codes(
            np.repeat(force_codes[order].astype(_code_dtype(forces.size)), n_u),
            categories=forces),
        "subject": pd.Categorical.from_codes(
            np.tile(np.arange(n_u, dtype=_code_dtype(n_u)), n_c),
            categories=pd.Index(names.astype(str))),
        "status": pd.Categorical.from_codes(cols.status, categories=list(STATUSES)),
        "fixes_in_window": cols.fixes_in_window,
        "covered_fraction": cols.covered_fraction,
        "gaps": cols.gaps,
        "worst_gap_from": ns_to_datetime(cols.worst_gap_from),
        "worst_gap_to": ns_to_datetime(cols.worst_gap_to),
        "min_speed_needed_mps": cols.min_speed_needed_mps,
    }, copy=False)  # a national day is ~10^8 rows: no consolidating copies


def eliminate_prepared(trail: Trail, index: SegmentIndex | TrailPath, crimes: Crimes,
                       rules: Rules, *, activations: pd.DataFrame | None = None) -> pd.DataFrame:
    """The coverage step on already prepared arrays: ``index`` a segment index built with the
    same rules, or the bare path (``trail_path``) when the trail is used once."""
    if index.max_gap_ns != rules.max_gap_ns:
        raise ValueError("the index was built with another max gap than the rules ask for")
    check_activations(activations)
    # every subject known: from the fixes and from the activation periods
    names = subject_universe(trail.subjects, activations)
    if crimes.n == 0 or names.size == 0:
        return empty_coverage()
    monitoring = trail_monitoring(trail, names, activations)
    cols = coverage_columns(trail, index, crimes, rules, names, monitoring)
    return coverage_frame(crimes.frame, names, cols)


def eliminate(trails: pd.DataFrame, crimes: pd.DataFrame, rules: Rules | None = None, *,
              activations: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (crime, subject): ``hit`` / ``excluded`` / ``cannot_exclude`` /
    ``not_monitored``, with the evidence (see the module docstring).

    ``trails`` and ``crimes`` as for ``match``. ``activations`` (optional): device activation
    periods, columns ``subject``, ``start``, ``end`` (UTC; a missing end means still active);
    subjects without rows there are monitored from their first to their last fix.
    Rows are sorted by force, crime reference and subject; columns ``COVERAGE_COLUMNS``
    (text columns are categorical).
    """
    rules = rules or Rules()
    trail = prepare_trail(trails)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    path = trail_path(trail, rules.max_gap_s, rules.count_precision)
    return eliminate_prepared(trail, path, prepared, rules, activations=activations)


def activations_from_subjects(subjects: pd.DataFrame) -> pd.DataFrame:
    """The ``activations`` argument from a subjects table (``trailmatch.ingest.subjects``:
    ``subject``, ``activation_start``, ``activation_end``)."""
    return pd.DataFrame({"subject": subjects["subject"].astype(str).to_numpy(),
                         "start": subjects["activation_start"].to_numpy(),
                         "end": subjects["activation_end"].to_numpy()})


def coverage_for_csv(coverage: pd.DataFrame) -> pd.DataFrame:
    """Text-ready copy: times ISO 8601 UTC (empty when none), speed and fraction rounded."""
    out = coverage[COVERAGE_COLUMNS].copy()
    for c in ("worst_gap_from", "worst_gap_to"):
        s = out[c]
        text = pd.Series("", index=out.index, dtype=object)
        has = s.notna().to_numpy()
        if has.any():  # format only the few cannot_exclude rows: 10^8 rows are possible
            text[has] = s[has].dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00").to_numpy()
        out[c] = text
    out["covered_fraction"] = out["covered_fraction"].round(6)
    out["min_speed_needed_mps"] = out["min_speed_needed_mps"].round(3)
    return out


def write_coverage_csv(coverage: pd.DataFrame, path) -> None:
    """The coverage CSV (columns ``COVERAGE_COLUMNS``), written atomically: readers see the old
    file or the whole new one. Streams in chunks, so a national day does not need its text in
    memory at once."""
    from trailmatch.atomic import atomic_open

    with atomic_open(path) as f:
        step = 1_000_000
        for k in range(0, max(len(coverage), 1), step):
            coverage_for_csv(coverage.iloc[k:k + step]).to_csv(f, index=False, header=k == 0)


ALL_PAIRS_CHUNK_ROWS = 4_000_000  # (crime, subject) rows held at once by ``write_all_pairs``


def _crime_subset(crimes: Crimes, rows: np.ndarray) -> Crimes:
    return Crimes(crimes.frame.iloc[rows].reset_index(drop=True), crimes.x[rows],
                  crimes.y[rows], crimes.w0[rows], crimes.w1[rows])


def _arrow_chunk(frame: pd.DataFrame):
    """A chunk of the per-pair table as Arrow with one schema for every chunk: text columns
    as plain strings (each chunk's categories differ), times as UTC timestamps."""
    import pyarrow as pa

    columns = {c: pa.array(frame[c].astype(str).to_numpy(dtype=object), pa.string())
               for c in ("crime_reference", "police_force", "subject", "status")}
    for c in ("fixes_in_window", "gaps"):
        columns[c] = pa.array(frame[c].to_numpy(), pa.int32())
    for c in ("covered_fraction", "min_speed_needed_mps"):
        columns[c] = pa.array(frame[c].to_numpy(), pa.float64())
    for c in ("worst_gap_from", "worst_gap_to"):
        columns[c] = pa.array(frame[c], pa.timestamp("ns", tz="UTC"))
    return pa.table({c: columns[c] for c in COVERAGE_COLUMNS})


def write_all_pairs(trail: Trail, index: SegmentIndex | TrailPath, crimes: Crimes, rules: Rules,
                    path, *, activations: pd.DataFrame | None = None,
                    chunk_rows: int = ALL_PAIRS_CHUNK_ROWS) -> dict[str, int]:
    """The per-pair table (``COVERAGE_COLUMNS``, as ``eliminate_prepared`` returns it) written
    to ``path`` a block of crimes at a time, so memory holds ``chunk_rows`` rows, not crimes ×
    subjects: CSV (as ``write_coverage_csv``), or Parquet when the name ends ``.parquet``.
    Written atomically. Returns the status counts and ``subjects``."""
    from trailmatch.atomic import atomic_open

    if index.max_gap_ns != rules.max_gap_ns:
        raise ValueError("the index was built with another max gap than the rules ask for")
    check_activations(activations)
    names = subject_universe(trail.subjects, activations)
    monitoring = trail_monitoring(trail, names, activations)
    order = crime_order(crimes.frame) if crimes.n else np.zeros(0, dtype=np.int64)
    step = max(1, chunk_rows // max(names.size, 1))
    counts = dict.fromkeys(STATUSES, 0)
    parquet = str(path).lower().endswith(".parquet")
    with atomic_open(path, "wb" if parquet else "w") as f:
        writer = None
        blocks = range(0, crimes.n, step) if names.size else range(0)
        for r0 in blocks:
            sub = _crime_subset(crimes, order[r0:r0 + step])
            cols = coverage_columns(trail, index, sub, rules, names, monitoring)
            frame = coverage_frame(sub.frame, names, cols)
            for code, n in enumerate(np.bincount(cols.status, minlength=len(STATUSES))):
                counts[STATUSES[code]] += int(n)
            if parquet:
                import pyarrow.parquet as pq

                table = _arrow_chunk(frame)
                writer = writer or pq.ParquetWriter(f, table.schema)
                writer.write_table(table)
            else:
                coverage_for_csv(frame).to_csv(f, index=False, header=r0 == 0)
        if parquet:
            import pyarrow.parquet as pq

            if writer is None:
                writer = pq.ParquetWriter(f, _arrow_chunk(empty_coverage()).schema)
            writer.close()
        elif not crimes.n or not names.size:
            empty_coverage().to_csv(f, index=False)
    return {**counts, "subjects": int(names.size)}
