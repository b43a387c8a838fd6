"""Refused requests leave an audit row with the reason, as every read does (docs/service.md):

- 401 (no, unknown or revoked token): action ``auth.denied``, the caller unknown
  (``auth.current_user`` records it);
- 403 for anyone but the processing team (``/audit``, ``/runs``): ``<resource>.denied``
  (``auth.processing_only``); the routes' own need-to-know refusals record their actions;
- 422 for an authenticated caller (a positions window over 48 hours, a bad parameter): action
  ``request.invalid``, the field and the message in the target (the handlers below);
- 503 when what was asked needs data placed before OSTN15 (a trail store or stored crime
  versions not yet upgraded): action ``store.needs_upgrade``, the message naming
  ``trailmatch upgrade`` (the CLI's one-line refusal), never a 500.

The target names the method and path (never a token or a body).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.db import run_db
from trailmatch.hitstore import repository
from trailmatch.store import StoreNeedsUpgrade

UNKNOWN_USER = "(unauthenticated)"


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path}"


async def record_unauthenticated(request: Request, reason: str) -> None:
    engine = request.app.state.engine
    await run_db(engine, lambda: repository.append_audit(
        engine, user_name=UNKNOWN_USER, role="none", action="auth.denied",
        target=f"{_where(request)}: {reason}", client_address=client_of(request)))


def _first_problem(detail) -> str:
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{loc}: {first.get('msg', '')}"
    return str(detail)


async def _record_invalid(request: Request, detail) -> None:
    principal = getattr(request.state, "principal", None)
    if principal is None:  # not authenticated: the 401 was recorded instead
        return
    from service import audit

    engine = request.app.state.engine
    target = f"{_where(request)}: {_first_problem(detail)}"
    await run_db(engine, audit.record, engine, principal, "request.invalid", target)


async def _on_validation(request: Request, exc: RequestValidationError):
    await _record_invalid(request, exc.errors())
    return await request_validation_exception_handler(request, exc)


async def _on_http(request: Request, exc: HTTPException):
    if exc.status_code == 422:
        await _record_invalid(request, exc.detail)
    return await http_exception_handler(request, exc)


async def _on_needs_upgrade(request: Request, exc: StoreNeedsUpgrade):
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        from service import audit

        engine = request.app.state.engine
        await run_db(engine, audit.record, engine, principal, "store.needs_upgrade",
                     _where(request))
    return JSONResponse({"detail": str(exc)}, status_code=503)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(StoreNeedsUpgrade, _on_needs_upgrade)
