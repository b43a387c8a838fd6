"""Ad-hoc proximity: which subjects were in the vicinity of a place in a window."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from sqlalchemy import Engine

from service import access, audit
from service.auth import Principal
from service.deps import Cfg, CurrentUser, Db, Trails
from service.models import Place, Problem, ProximityHit, ProximityOut
from service.settings import Settings, ns, unprocessable, window
from service.trails import TrailAccess, grid_to_working, in_engine_thread, lonlat, to_working
from trailmatch.crs import OSGB36_GRID
from trailmatch.ingest.plausible import PLACE_RANGES

router = APIRouter(tags=["proximity"])


def _coord(kind: str, what: str):
    lo, hi = PLACE_RANGES[kind]  # the one definition of a plausible place
    return Query(ge=lo, le=hi, allow_inf_nan=False, description=what)


@router.get("/proximity", response_model=ProximityOut, responses={403: {"model": Problem}})
async def proximity(principal: CurrentUser, db: Db, cfg: Cfg, trails: Trails,
              time_from: Annotated[dt.datetime, Query(alias="from", description="UTC instant")],
              time_to: Annotated[dt.datetime, Query(alias="to", description="UTC instant")],
              lat: Annotated[float | None, _coord("latitude", "WGS84 latitude")] = None,
              lon: Annotated[float | None, _coord("longitude", "WGS84 longitude")] = None,
              easting: Annotated[float | None, _coord("easting", "British National Grid")] = None,
              northing: Annotated[float | None, _coord("northing", "British National Grid")]
              = None,
              radius: Annotated[float, Query(gt=0, le=2000, allow_inf_nan=False,
                                             description="vicinity radius, metres")] = 100.0,
              ) -> ProximityOut:
    """Subjects in the vicinity of the place (``lat``+``lon`` or ``easting``+``northing``)
    during ``[from, to]`` (at most 48 hours), with the hit fields. Answered from the per-day
    segment index. The processing team may ask anywhere; an officer only near their own force's
    crimes and around their windows."""
    # The work (projections, the access check, the audit row, the index query) runs on the
    # engine thread: requests queue for it in arrival order, and the event loop stays free.
    return await in_engine_thread(_answer, principal, db, cfg, trails, time_from, time_to,
                                  lat, lon, easting, northing, radius)


def _answer(principal: Principal, db: Engine, cfg: Settings, trails: TrailAccess,
            time_from: dt.datetime, time_to: dt.datetime, lat: float | None, lon: float | None,
            easting: float | None, northing: float | None, radius: float) -> ProximityOut:
    by_latlon = lat is not None or lon is not None
    by_grid = easting is not None or northing is not None
    if by_latlon and by_grid:
        raise unprocessable(["query", "easting"], "give lat+lon or easting+northing, not both")
    if by_latlon and (lat is None or lon is None):
        raise unprocessable(["query", "lon" if lon is None else "lat"], "give both lat and lon")
    if by_grid and (easting is None or northing is None):
        raise unprocessable(["query", "northing" if northing is None else "easting"],
                            "give both easting and northing")
    if not (by_latlon or by_grid):
        raise unprocessable(["query", "lat"], "give a place: lat+lon or easting+northing")
    t0, t1 = window(time_from, time_to, cfg.max_window)
    crs = cfg.rules.crs
    if by_latlon:
        xs, ys = to_working(np.array([lon]), np.array([lat]), crs)
        ge, gn = to_working(np.array([lon]), np.array([lat]), OSGB36_GRID)
        place = Place(lat=lat, lon=lon, easting=float(ge[0]), northing=float(gn[0]))
    else:
        plon, plat = lonlat(np.array([easting]), np.array([northing]), OSGB36_GRID)
        xs, ys = grid_to_working(np.array([easting]), np.array([northing]), crs)
        place = Place(lat=float(plat[0]), lon=float(plon[0]), easting=easting, northing=northing)
    x, y = float(xs[0]), float(ys[0])
    target = (f"place:{place.lat:.6f},{place.lon:.6f} r={radius:g} "
              f"{t0.isoformat()}/{t1.isoformat()}")
    with db.connect() as conn:
        allowed = access.may_query_place(conn, principal, x, y, t0, t1, crs, cfg.access)
    if not allowed:
        audit.record(db, principal, "proximity.query.denied", target)
        raise access.deny("officers may ask only near their own force's crimes, around their "
                          "windows")
    audit.record(db, principal, "proximity.query", target)
    subjects = [ProximityHit(**row) for row in trails.proximity(x, y, ns(t0), ns(t1), radius)]
    return ProximityOut(place=place, time_from=t0, time_to=t1, radius_m=radius,
                        max_gap_s=cfg.rules.max_gap_s, count_precision=cfg.rules.count_precision,
                        subjects=subjects)
