"""Need-to-know: what an officer may see. The processing team sees everything.

- Crimes and hits: an officer sees those of their own police force only. A hit of another force
  answers exactly like a hit that does not exist (404), so its existence is not revealed.
- Positions of a subject: only when the subject has a current hit on a crime of the officer's
  force, and only within ``margin`` of that crime's window. Refused with 403 *before* looking at
  whether the subject or its fixes exist, so the answer reveals nothing either.
- Proximity ("who was near this place at this time?"): only for a place within ``place_m`` of
  a current crime of the officer's force and a time within ``margin`` of that crime's window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from fastapi import HTTPException, status
from sqlalchemy import Connection, and_, select

from service.auth import Principal
from service.trails import to_working
from trailmatch.hitstore.schema import crimes, hits


@dataclass(frozen=True)
class AccessRules:
    positions_margin: dt.timedelta = dt.timedelta(hours=12)
    proximity_margin: dt.timedelta = dt.timedelta(hours=12)
    proximity_place_m: float = 500.0


def deny(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


def check_force(principal: Principal, force: str) -> None:
    """An officer may only ask about their own force."""
    if not principal.is_processing and force != principal.force:
        raise deny("officers see the crimes and hits of their own force only")


def sees_force(principal: Principal, force: str) -> bool:
    return principal.is_processing or force == principal.force


def may_see_positions(conn: Connection, principal: Principal, subject: str, t0: dt.datetime,
                      t1: dt.datetime, rules: AccessRules) -> bool:
    if principal.is_processing:
        return True
    m = rules.positions_margin
    row = conn.execute(
        select(hits.c.id).select_from(hits.join(crimes, hits.c.crime_id == crimes.c.id))
        .where(hits.c.subject == subject, hits.c.police_force == principal.force,
               hits.c.status == "current",
               crimes.c.time_from <= t0 + m, crimes.c.time_to >= t1 - m)
        .limit(1)).first()
    return row is not None


def may_query_place(conn: Connection, principal: Principal, x: float, y: float, t0: dt.datetime,
                    t1: dt.datetime, crs: str, rules: AccessRules) -> bool:
    if principal.is_processing:
        return True
    m = rules.proximity_margin
    rows = conn.execute(
        select(crimes.c.lat, crimes.c.lon)
        .where(and_(crimes.c.police_force == principal.force, crimes.c.superseded.is_(False),
                    crimes.c.time_from <= t0 + m, crimes.c.time_to >= t1 - m))).all()
    if not rows:
        return False
    lat = np.array([r.lat for r in rows], dtype=np.float64)
    lon = np.array([r.lon for r in rows], dtype=np.float64)
    cx, cy = to_working(lon, lat, crs)
    return bool((np.hypot(cx - x, cy - y) <= rules.proximity_place_m).any())
