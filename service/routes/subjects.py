"""A subject's positions in a window, as GeoJSON (need-to-know: see ``access.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Path, Query

from service import access, audit
from service.deps import Cfg, CurrentUser, Db, Trails
from service.models import Feature, FeatureCollection, MultiLineString, PointGeometry, Problem
from service.settings import ns, unprocessable, window
from service.trails import joined_runs, lonlat

router = APIRouter(tags=["subjects"])


@router.get("/subjects/{subject}/positions", response_model=FeatureCollection,
            responses={403: {"model": Problem}})
def positions(principal: CurrentUser, db: Db, cfg: Cfg, trails: Trails,
              subject: Annotated[str, Path(min_length=1, max_length=64)],
              time_from: Annotated[dt.datetime, Query(alias="from", description="UTC instant")],
              time_to: Annotated[dt.datetime, Query(alias="to", description="UTC instant")],
              ) -> FeatureCollection:
    """The subject's fixes in ``[from, to]`` (at most 48 hours, inside the subject's
    monitoring) as points, and its path (runs of joined fixes) as a MultiLineString."""
    t0, t1 = window(time_from, time_to, cfg.max_window)
    target = f"subject:{subject} {t0.isoformat()}/{t1.isoformat()}"
    with db.connect() as conn:
        allowed = access.may_see_positions(conn, principal, subject, t0, t1, cfg.access)
    if not allowed:
        audit.record(db, principal, "positions.read.denied", target)
        raise access.deny("no need-to-know: positions are shown only for subjects with a hit on "
                          "your force's crimes, around that crime's window")
    audit.record(db, principal, "positions.read", target)
    lo, hi = ns(t0), ns(t1)
    if not trails.monitored_through(subject, lo, hi):
        raise unprocessable(["query", "from"], "the window does not lie inside the subject's "
                                               "monitoring (from its first to its last fix)")
    fixes = trails.subject_fixes(subject, lo, hi)
    lon, lat = lonlat(fixes.x, fixes.y, cfg.rules.crs)
    times = fixes.t.astype("datetime64[ns]").astype("datetime64[us]").tolist()
    sources = fixes.source_names()
    features = [Feature(
        geometry=MultiLineString(coordinates=[
            [[float(lon[i]), float(lat[i])] for i in range(s.start, s.stop)]
            for s in joined_runs(fixes.t, cfg.rules.max_gap_ns) if s.stop - s.start >= 2]),
        properties={"kind": "path", "subject": subject, "from": t0.isoformat(),
                    "to": t1.isoformat(), "max_gap_s": cfg.rules.max_gap_s})]
    for i in range(fixes.n):
        prec = fixes.precision[i]
        features.append(Feature(
            geometry=PointGeometry(coordinates=[float(lon[i]), float(lat[i])]),
            properties={"kind": "fix", "time": times[i].replace(tzinfo=dt.UTC).isoformat(),
                        "precision_m": None if np.isnan(prec) else float(prec),
                        "source": sources[i]}))
    return FeatureCollection(features=features)
