"""Bearer-token authentication, as FastAPI dependencies so that no route can forget it.

Tokens are random secrets (``secrets.token_urlsafe``, 256 bits) shown once when a user is added;
the ``users`` table keeps only their SHA-256. A fast hash is right here (unlike passwords): the
secret is high-entropy, so there is nothing to brute-force, and every request checks it.

Every router except the public ones (health, the page, its static files) is mounted with
``Depends(current_user)`` (see ``app.py``); ``tests/test_service_auth.py`` walks the app's routes
and asserts each protected one answers 401 without a token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from service.db import run_db
from trailmatch.hitstore import repository

TOKEN_PREFIX = "tm_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: int
    name: str
    role: str  # officer | processing
    force: str | None  # an officer's police force; None for the processing team
    client: str | None  # client address, for the audit log

    @property
    def is_processing(self) -> bool:
        return self.role == "processing"


def add_user(engine: Engine, name: str, role: str, force: str | None) -> tuple[int, str]:
    """Create a user; returns (id, token). The token is not stored and cannot be shown again."""
    token = new_token()
    user_id = repository.add_user(engine, name, role, token_hash(token), police_force=force)
    return int(user_id), token


_bearer = HTTPBearer(auto_error=False, description="the token `trailmatch users add` printed")

_UNAUTHORISED = HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid bearer token",
                              headers={"WWW-Authenticate": "Bearer"})


async def current_user(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                 ) -> Principal:
    """The caller, from ``Authorization: Bearer <token>``; 401 when absent, unknown or revoked.

    Async on purpose: the lookup is one indexed row, on SQLite cheaper run on the event loop
    than handed to the thread pool and back on every request (``service/db.py``)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _UNAUTHORISED
    engine = request.app.state.engine
    row = await run_db(engine, repository.user_by_token_hash, engine,
                       token_hash(credentials.credentials))
    if row is None:
        raise _UNAUTHORISED
    principal = Principal(int(row["id"]), row["name"], row["role"], row["police_force"],
                          request.client.host if request.client else None)
    request.state.principal = principal
    return principal


async def processing_only(principal: Annotated[Principal, Depends(current_user)]) -> Principal:
    if not principal.is_processing:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "for the processing team only")
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]
ProcessingUser = Annotated[Principal, Depends(processing_only)]
