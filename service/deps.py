"""Every dependency a route can declare, as an ``Annotated`` alias: the one way routes get them.

- ``CurrentUser`` / ``ProcessingUser``: the authenticated caller (``auth.py``); the second is
  403 for anyone but the central processing team.
- ``Db``: the hit store's engine; ``Cfg``: the running service's ``Settings``; ``Trails``: the
  trail store reader (``service/trails.py``).

``app.py`` puts the three objects on ``app.state`` once; the functions below only read them.
They are async on purpose: a sync dependency would cost a hop through the thread pool on every
request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from service.auth import Principal, current_user, processing_only
from service.settings import Settings
from service.trails import TrailAccess


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
