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
from service.deps import Cfg, CurrentUser, Db
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

    from service.trails import _ENGINE_LOCK
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
    with _ENGINE_LOCK:  # the index cache and numba's thread pool are not for concurrent callers
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
def coverage(principal: CurrentUser, db: Db, cfg: Cfg, police_force: Name,
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
