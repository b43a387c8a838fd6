"""Every dependency a route can declare, as an ``Annotated`` alias: the one way routes get them.

- ``CurrentUser`` / ``ProcessingUser``: the authenticated caller (``auth.py``); the second is
  403 for anyone but the central processing team.
- ``ForceName`` / ``OptionalForceName``: a ``police_force`` query parameter in any case,
  spelt as the force list spells it ("hampshire" -> "Hampshire") before the route sees it.
- ``Db``: the hit store's engine; ``Cfg``: the running service's ``Settings``; ``Trails``: the
  trail store reader (``service/trails.py``).

``app.py`` puts the three objects on ``app.state`` once; the functions below only read them.
They are async on purpose: a sync dependency would cost a hop through the thread pool on every
request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import AfterValidator
from sqlalchemy import Engine

from service.auth import Principal, current_user, processing_only
from service.settings import Settings
from service.trails import TrailAccess
from trailmatch.ingest.forces import force_spelling


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _engine(request: Request) -> Engine:
    return request.app.state.engine


async def _trails(request: Request) -> TrailAccess:
    return request.app.state.trails


CurrentUser = Annotated[Principal, Depends(current_user)]
ProcessingUser = Annotated[Principal, Depends(processing_only)]
Db = Annotated[Engine, Depends(_engine)]
Cfg = Annotated[Settings, Depends(_settings)]
Trails = Annotated[TrailAccess, Depends(_trails)]

# What app.py mounts every protected router with.
AUTHENTICATED = [Depends(current_user)]


def _spelt(name: str | None) -> str | None:
    return None if name is None else force_spelling(name)


_FORCE_HELP = "a police force, in any case (hampshire, Hampshire)"
ForceName = Annotated[str, Query(min_length=1, max_length=64, description=_FORCE_HELP),
                      AfterValidator(_spelt)]
OptionalForceName = Annotated[str | None, Query(min_length=1, max_length=64,
                                                description=_FORCE_HELP),
                              AfterValidator(_spelt)]
