"""The session: who the token belongs to (the page shows it and fills in the officer's force),
and signing out.

A token is the user's own long-lived credential (``trailmatch users add`` prints it once; only
``trailmatch users revoke`` ends it), not a session of one browser: signing out does not revoke
it, or the officer could not sign in again until the processing team issued a new one. The page
forgets the token (it lived in the tab's ``sessionStorage``) and tells the service, which writes
the sign-out to the audit log, so the log shows when each officer's use of the page ended.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from service import audit
from service.db import run_db
from service.deps import CurrentUser, Db
from service.models import Me

router = APIRouter(tags=["session"])


@router.get("/me", response_model=Me)
async def me(principal: CurrentUser) -> Me:
    return Me(name=principal.name, role=principal.role, force=principal.force)


@router.post("/signout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def sign_out(principal: CurrentUser, db: Db) -> Response:
    """The page is signing out: recorded in the audit log (``session.signout``). The token
    stays valid (it is the user's credential, not a session); the page forgets it."""
    await run_db(db, audit.record, db, principal, "session.signout", f"user:{principal.name}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
