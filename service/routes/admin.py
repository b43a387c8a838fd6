"""The processing team's views: runs and the audit log (read-only: no route changes either)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from service import audit
from service.deps import Db, OptionalForceName, ProcessingUser
from service.models import AuditOut, Problem, RunOut
from service.settings import instant
from trailmatch.hitstore import repository

router = APIRouter(tags=["processing"], responses={403: {"model": Problem}})


@router.get("/runs", response_model=list[RunOut])
async def runs(principal: ProcessingUser, db: Db,
         limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict]:
    """The most recent nightly and rematch runs first."""
    return repository.list_runs(db, limit=limit)


@router.get("/audit", response_model=list[AuditOut])
async def audit_log(principal: ProcessingUser, db: Db,
              user: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
              action: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
              police_force: OptionalForceName = None,
              since: Annotated[dt.datetime | None, Query(description="UTC instant")] = None,
              until: Annotated[dt.datetime | None, Query(description="UTC instant")] = None,
              limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[AuditOut]:
    """Audit entries, newest first (reading the log is itself audited)."""
    since = instant(since, "since") if since is not None else None
    until = instant(until, "until") if until is not None else None
    audit.record(db, principal, "audit.read",
                 f"user={user} action={action} force={police_force} since={since} until={until}")
    rows = repository.list_audit(db, user_name=user, action=action, police_force=police_force,
                                 since=since, until=until, limit=limit)
    return [AuditOut(user=r["user_name"], **{k: v for k, v in r.items() if k != "user_name"})
            for r in rows]
