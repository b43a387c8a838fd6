"""Case outcomes of a hit: what became of it after a decision (append-only, audited).

Same need-to-know as the hit itself: a hit of another force answers 404, like one that does
not exist, and the refusal is audited. An outcome needs a decision on the hit first (409).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service import access, audit
from service.deps import CurrentUser, Db
from service.models import Problem
from trailmatch.hitstore import repository

router = APIRouter(tags=["outcomes"])

HitId = Annotated[int, Path(ge=1, le=2**62, description="the hit's id")]
CaseOutcome = Literal["arrested", "charged", "no_further_action", "eliminated", "other"]
NOT_FOUND = {404: {"model": Problem, "description": "no such hit (or not one of yours)"}}


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: CaseOutcome
    outcome_date: dt.date = Field(description="when it happened")
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class OutcomeOut(BaseModel):
    id: int
    hit_id: int
    outcome: CaseOutcome
    outcome_date: dt.date
    note: str
    user: str
    recorded_at: dt.datetime


def _visible(db, principal, hit_id: int, action: str) -> dict:
    row = repository.get_hit(db, hit_id)
    if row is None or not access.sees_force(principal, row["police_force"]):
        audit.record(db, principal, action + ".denied", f"hit:{hit_id}")
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such hit")
    return row


def _out(row: dict) -> OutcomeOut:
    return OutcomeOut(id=row["id"], hit_id=row["hit_id"], outcome=row["outcome"],
                      outcome_date=row["outcome_date"], note=row["note"],
                      user=row["user_name"], recorded_at=row["at"])


@router.get("/hits/{hit_id}/outcomes", response_model=list[OutcomeOut], responses=NOT_FOUND)
def list_outcomes(principal: CurrentUser, db: Db, hit_id: HitId) -> list[OutcomeOut]:
    """Every outcome recorded on the hit, oldest first."""
    _visible(db, principal, hit_id, "outcomes.read")
    audit.record(db, principal, "outcomes.read", f"hit:{hit_id}")
    return [_out(r) for r in repository.list_outcomes(db, hit_id)]


@router.post("/hits/{hit_id}/outcomes", response_model=OutcomeOut,
             status_code=status.HTTP_201_CREATED,
             responses={**NOT_FOUND, 409: {"model": Problem,
                                           "description": "the hit has no decision yet"}})
def add_outcome(principal: CurrentUser, db: Db, hit_id: HitId, body: OutcomeIn) -> OutcomeOut:
    """Record an outcome (append-only: earlier outcomes stay, with who and when)."""
    _visible(db, principal, hit_id, "outcome.record")
    try:
        with db.begin() as conn:  # the outcome and its audit row together, or neither
            outcome_id = repository.add_outcome(conn, hit_id, body.outcome, body.outcome_date,
                                                body.note, user_name=principal.name,
                                                user_id=principal.user_id)
            audit.record(conn, principal, "outcome.record",
                         f"hit:{hit_id} outcome:{outcome_id} {body.outcome}")
    except ValueError as exc:
        audit.record(db, principal, "outcome.record.refused", f"hit:{hit_id}")
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _out(next(r for r in repository.list_outcomes(db, hit_id) if r["id"] == outcome_id))
