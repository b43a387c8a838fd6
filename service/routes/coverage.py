"""Coverage of one crime: for every subject, hit / excluded / cannot_exclude / not_monitored,
with the evidence (``trailmatch.eliminate``), computed from the trail store on request.

Same access rules as ``GET /hits``: an officer sees only their own force's crimes (403
otherwise, before anything is looked up), every request is audited, an unknown crime is 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from service import access, audit
from service.deps import Cfg, CurrentUser, Db, ForceName, Trails
from service.models import Problem
from trailmatch.hitstore import repository

router = APIRouter(tags=["coverage"])

Name = Annotated[str, Query(min_length=1, max_length=64)]

# Fixes are read this far around the window, so that a gap that began or ends outside it has
# its fixes (a shorter reach only ever excludes fewer subjects).
LOOKBACK = dt.timedelta(hours=24)


class CoverageOut(BaseModel):
    """One subject against one crime (columns of ``trailmatch eliminate``)."""

    crime_reference: str
    police_force: str
    subject: str
    status: Literal["hit", "excluded", "cannot_exclude", "not_monitored"]
    fixes_in_window: int
    covered_fraction: float
    gaps: int
    worst_gap_from: dt.datetime | None
    worst_gap_to: dt.datetime | None
    min_speed_needed_mps: float | None


def crime_coverage(store_dir, crimes, rules) -> list[dict]:
    """Coverage rows of stored crime versions (``repository.current_crimes_for`` frame)."""
    import pandas as pd

    from service.trails import ENGINE_LOCK
    from trailmatch.eliminate import eliminate_prepared
    from trailmatch.hitstore.repository import crimes_in_rules_crs
    from trailmatch.store import Store
    from trailmatch.trails import prepare_crimes

    crimes = crimes_in_rules_crs(crimes, rules)
    prepared = prepare_crimes(crimes, rules.buffer_before_ns, rules.buffer_after_ns)
    w0, w1 = int(prepared.w0.min()), int(prepared.w1.max())
    margin = int(LOOKBACK.total_seconds() * 1e9) + rules.max_gap_ns
    store = Store(store_dir)
    activations = store.activations(w0 - margin, w1 + margin)
    with ENGINE_LOCK:  # the index cache and numba's thread pool are not for concurrent callers
        trail, index = store.indexed_window(w0, w1, rules, margin_ns=margin)
        cov = eliminate_prepared(trail, index, prepared, rules, activations=activations)
    out = cov.astype({"crime_reference": str, "police_force": str, "subject": str,
                      "status": str})
    rows = out.to_dict("records")
    for r in rows:
        for k in ("worst_gap_from", "worst_gap_to"):
            r[k] = None if pd.isna(r[k]) else r[k].to_pydatetime()
        if pd.isna(r["min_speed_needed_mps"]):
            r["min_speed_needed_mps"] = None
    return rows


@router.get("/coverage", response_model=list[CoverageOut],
            responses={403: {"model": Problem}, 404: {"model": Problem}})
def coverage(principal: CurrentUser, db: Db, cfg: Cfg, police_force: ForceName,
             crime_reference: Name) -> list[dict]:
    """Every subject's status against the current version of one crime: ``hit``,
    ``excluded`` (could not have been in the vicinity at the rules' maximum speed through any
    gap of its trail), ``cannot_exclude`` (with the gap needing the least speed, and that
    speed) or ``not_monitored`` (with the share of the window monitored)."""
    target = f"crime:{police_force}/{crime_reference}"
    if not access.sees_force(principal, police_force):
        audit.record(db, principal, "coverage.denied", target)
        raise access.deny("officers see the crimes and hits of their own force only")
    audit.record(db, principal, "coverage", target)
    crimes = repository.current_crimes_for(db, [(police_force, crime_reference)])
    if crimes.empty:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "no crime with that reference from that force")
    return crime_coverage(cfg.store_dir, crimes, cfg.rules)


class GapOut(BaseModel):
    """One unwatched stretch of the subject's trail that meets the crime's window."""

    gap_from: dt.datetime
    gap_to: dt.datetime | None
    fix_before_time: dt.datetime | None
    fix_before_distance_m: float | None
    fix_after_time: dt.datetime | None
    fix_after_distance_m: float | None
    in_window_s: float
    time_available_s: float | None
    speed_needed_mps: float
    possible: bool
    sentence: str


class ExplainOut(CoverageOut):
    """Why one subject is or is not excluded from one crime (``trailmatch explain``)."""

    sentence: str
    gaps_meeting_window: list[GapOut]


def explain_subject(store_dir, trails, crime: dict, subject: str, rules) -> dict:
    """The explanation from the persisted day indexes (only that subject's fixes)."""
    import pandas as pd

    from service.trails import ENGINE_LOCK
    from trailmatch.explain import explain_pair, read_window_for
    from trailmatch.store import Store

    lo, hi = read_window_for(crime, rules, LOOKBACK.total_seconds() / 3600)
    got = trails.subject_fixes(subject, lo, hi)  # takes the engine lock itself, per day
    fixes = pd.DataFrame({"time": pd.to_datetime(got.t, utc=True), "x": got.x, "y": got.y,
                          "precision_m": got.precision})
    store = Store(store_dir)
    # no subjects file: no activation periods (skips building an empty frame per request)
    activations = store.activations(lo, hi) if store.subjects_path.exists() else None
    with ENGINE_LOCK:
        e = explain_pair(fixes, crime, rules, subject=subject, activations=activations)

    def py(v):
        return None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime(warn=False)

    row = {k: (py(v) if k in ("worst_gap_from", "worst_gap_to") else v)
           for k, v in e.row.items()}
    gaps = [{k: (py(v) if k in ("gap_from", "gap_to", "fix_before_time", "fix_after_time")
                 else v) for k, v in g.items()} for g in e.gaps]
    return {**row, "sentence": e.sentence, "gaps_meeting_window": gaps}


@router.get("/coverage/explain", response_model=ExplainOut,
            responses={403: {"model": Problem}, 404: {"model": Problem}})
def explain(principal: CurrentUser, db: Db, cfg: Cfg, trails: Trails, police_force: ForceName,
            crime_reference: Name, subject: Name) -> dict:
    """Why one subject is, or is not, excluded from the current version of one crime: its
    status, every gap of its trail meeting the window with the fixes that bound it, their
    distances to the crime, the time available and the speed it would have needed, in numbers
    and in plain sentences. Same access rules as ``GET /coverage``; audited, refusals too."""
    from trailmatch.hitstore.repository import crimes_in_rules_crs

    target = f"crime:{police_force}/{crime_reference} subject:{subject}"
    if not access.sees_force(principal, police_force):
        audit.record(db, principal, "coverage.explain.denied", target)
        raise access.deny("officers see the crimes and hits of their own force only")
    audit.record(db, principal, "coverage.explain", target)
    crimes = repository.current_crimes_for(db, [(police_force, crime_reference)])
    if crimes.empty:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            "no crime with that reference from that force")
    crime = crimes_in_rules_crs(crimes, cfg.rules).iloc[0].to_dict()
    return explain_subject(cfg.store_dir, trails, crime, subject, cfg.rules)
