"""Bearer-token authentication: who is calling (``Principal``), from the request's token.

Tokens and users belong to the library (``trailmatch.hitstore.users``: made, hashed, checked
there); this module only turns a request into its caller. ``service/deps.py`` exposes it as the
``CurrentUser`` dependency, and ``app.py`` mounts every router except the public one with it, so
no route can forget it; ``tests/test_service_auth.py`` walks the app's routes and asserts each
protected one answers 401 without a token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.db import run_db
from service.principal import Principal  # re-exported: routes import it from here
from trailmatch.hitstore import users

_bearer = HTTPBearer(auto_error=False, description="the token `trailmatch users add` printed")

_UNAUTHORISED = HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid bearer token",
                              headers={"WWW-Authenticate": "Bearer"})


async def current_user(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                 ) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 when absent, unknown or revoked.

    Async on purpose: the lookup is one indexed row, on SQLite cheaper run on the event loop
    than handed to the thread pool and back on every request (``service/db.py``)."""
    from service.refusals import client_of, record_unauthenticated

    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        await record_unauthenticated(request, "no bearer token")
        raise _UNAUTHORISED
    engine = request.app.state.engine
    row = await run_db(engine, users.user_for_token, engine, credentials.credentials)
    if row is None:
        await record_unauthenticated(request, "unknown or revoked token")
        raise _UNAUTHORISED
    # the socket peer, or what a trusted proxy said (serve --forwarded-allow-ips)
    principal = Principal(int(row["id"]), row["name"], row["role"], row["police_force"],
                          client_of(request))
    request.state.principal = principal
    return principal


async def processing_only(request: Request,
                          principal: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not principal.is_processing:
        from service import audit

        engine = request.app.state.engine
        resource = request.url.path.strip("/").split("/")[0] or "root"
        await run_db(engine, audit.record, engine, principal, f"{resource}.denied",
                     f"{request.method} {request.url.path}: for the processing team only")
        raise HTTPException(status.HTTP_403_FORBIDDEN, "for the processing team only")
    return principal
