"""Who the token belongs to (the page shows it and fills in the officer's force)."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import CurrentUser
from service.models import Me

router = APIRouter(tags=["session"])


@router.get("/me", response_model=Me)
async def me(principal: CurrentUser) -> Me:
    return Me(name=principal.name, role=principal.role, force=principal.force)
