"""What one running service is configured with, and small helpers shared by the routers
(query instants and windows, 422s naming the field). Routes get the ``Settings`` through
``service.deps.Cfg``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException, status

from service.access import AccessRules
from trailmatch.mbtiles import MBTiles
from trailmatch.rules import Rules

MAX_WINDOW = dt.timedelta(hours=48)
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


@dataclass
class Settings:
    store_dir: Path
    rules: Rules = field(default_factory=Rules)  # for proximity, and hits whose run has none
    access: AccessRules = field(default_factory=AccessRules)
    tile_url: str | None = None
    tile_attribution: str = ""
    tiles: MBTiles | None = None  # serve --tiles: the service's own tiles at /tiles/{z}/{x}/{y}
    max_window: dt.timedelta = MAX_WINDOW
    max_radius_m: float = 2000.0


def unprocessable(loc: list[str], msg: str) -> HTTPException:
    """A 422 in FastAPI's own shape, naming the field."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                         [{"loc": loc, "msg": msg, "type": "value_error"}])


def instant(value: dt.datetime, name: str) -> dt.datetime:
    """A query instant as UTC (a time without an offset is taken as UTC), within 1970–2200."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        value = value.astimezone(dt.UTC)
    except (OverflowError, ValueError) as e:
        raise unprocessable(["query", name], f"not a usable instant: {e}") from None
    if not EARLIEST <= value <= LATEST:
        raise unprocessable(["query", name], "must lie between 1970 and 2200")
    return value


def window(t0: dt.datetime, t1: dt.datetime,
           limit: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    t0, t1 = instant(t0, "from"), instant(t1, "to")
    if t1 < t0:
        raise unprocessable(["query", "to"], "'to' is before 'from'")
    if t1 - t0 > limit:
        hours = limit.total_seconds() / 3600
        raise unprocessable(["query", "to"], f"the window is longer than {hours:g} hours")
    return t0, t1


def ns(value: dt.datetime) -> int:
    delta = value - EARLIEST
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
