"""Hits: a crime's or a day's hits, one hit in detail, its evidence report and its decisions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, NamedTuple

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from service import access, audit
from service.auth import Principal
from service.db import run_db
from service.deps import Cfg, CurrentUser, Db, Trails
from service.models import (
    CrimeOut,
    DayHitOut,
    DecisionIn,
    DecisionOut,
    HitDetail,
    HitOut,
    Problem,
)
from service.settings import unprocessable
from service.trails import hit_evidence, rules_from_record
from trailmatch.evidence import HitEvidence
from trailmatch.hitstore import repository
from trailmatch.ingest.forces import force_spelling
from trailmatch.rules import Rules

router = APIRouter(tags=["hits"])

HitId = Annotated[int, Path(ge=1, le=2**62, description="the hit's id")]
Name = Annotated[str, Query(min_length=1, max_length=64)]

NOT_FOUND = {404: {"model": Problem, "description": "no such hit (or not one of yours)"}}


def _visible_hit(db: Engine, principal: Principal, hit_id: int, action: str) -> dict:
    """The hit, if it exists and the caller may see it; else 404 — the same answer either way."""
    row = repository.get_hit(db, hit_id)
    if row is None or not access.sees_force(principal, row["police_force"]):
        audit.record(db, principal, action + ".denied", f"hit:{hit_id}")
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such hit")
    return row


DaySort = Literal["crime", "time", "distance", "crime_type", "review"]
MAX_LIST = 1000  # rows of the day's list in one answer; ``offset`` pages on


@router.get("/hits", response_model=list[DayHitOut], response_model_exclude_unset=True,
            responses={403: {"model": Problem}, 404: {"model": Problem}})
async def list_hits(principal: CurrentUser, db: Db, response: Response, police_force: Name,
              crime_reference: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
              date: Annotated[dt.date | None, Query(description="UTC day YYYY-MM-DD")] = None,
              crime_type: Annotated[str | None, Query(
                  min_length=1, max_length=16, description="with date: only this crime type "
                  "(code, e.g. BIAD)")] = None,
              batch_id: Annotated[str | None, Query(
                  min_length=1, max_length=64, description="with date: only crimes whose "
                  "current version came in this batch")] = None,
              sort: Annotated[DaySort, Query(description="with date: crime (reference, then "
                                             "subject), time (closest approach), distance, "
                                             "crime_type, review (not reviewed first)")] = "crime",
              descending: Annotated[bool, Query(description="with date: reverse the order")]
              = False,
              limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="with date: at most "
                                          "this many rows")] = 500,
              offset: Annotated[int, Query(ge=0, le=2**31, description="with date: skip this "
                                           "many rows first")] = 0,
              ) -> list[dict]:
    """The current hits of one crime (``crime_reference``, nearest first) or the day's list: a
    force's hits on crimes whose window meets a UTC day (``date``), filtered, sorted and paged
    on the server, each with its crime's batch and window and its review status (the latest
    decision, who, when). Give exactly one of the two. With ``date`` the answer's
    ``X-Total-Count`` header is how many rows match the filters in all."""
    # Async on purpose (as the decisions routes): see service/db.py. Routes that read trails or
    # render stay sync (threads).
    day = DayQuery(crime_type, batch_id, sort, descending, limit, offset)
    rows, total = await run_db(db, _list_hits, principal, db, police_force, crime_reference,
                               date, day)
    if total is not None:
        response.headers["X-Total-Count"] = str(total)
    return rows


class DayQuery(NamedTuple):
    crime_type: str | None
    batch_id: str | None
    sort: str
    descending: bool
    limit: int
    offset: int


def _list_hits(principal: Principal, db: Engine, police_force: str, crime_reference: str | None,
               date: dt.date | None, day: DayQuery) -> tuple[list[dict], int | None]:
    if (crime_reference is None) == (date is None):
        raise unprocessable(["query", "crime_reference"],
                            "give exactly one of crime_reference and date")
    police_force = force_spelling(police_force)  # as in batches: any case
    if date is None:
        target = f"crime:{police_force}/{crime_reference}"
    else:  # what was asked, filters included, is what the audit log names
        target = f"day:{police_force}/{date}" + "".join(
            f" {k}:{v}" for k, v in (("crime_type", day.crime_type), ("batch", day.batch_id))
            if v is not None)
    if not access.sees_force(principal, police_force):
        audit.record(db, principal, "hits.list.denied", target)
        raise access.deny("officers see the crimes and hits of their own force only")
    audit.record(db, principal, "hits.list", target)
    if crime_reference is not None:
        rows = repository.hit_list_for_crime(db, police_force, crime_reference)
        if not rows and not repository.crime_versions(db, police_force, crime_reference):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no crime with that reference "
                                                           "from that force")
        return rows, None
    crime_type = day.crime_type.upper() if day.crime_type else None  # codes: any case
    try:
        rows = repository.hits_for_day(db, police_force, date, crime_type=crime_type,
                                       batch_id=day.batch_id, sort=day.sort,
                                       descending=day.descending, limit=day.limit,
                                       offset=day.offset)
        total = repository.count_hits_for_day(db, police_force, date, crime_type=crime_type,
                                              batch_id=day.batch_id)
    except OverflowError:  # date.max + 1 day
        raise unprocessable(["query", "date"], "date out of range") from None
    return rows, total


def _rules_of(db: Engine, row: dict, fallback: Rules) -> Rules:
    run = repository.get_run(db, row["updated_run_id"]) if row.get("updated_run_id") else None
    return rules_from_record(run["rules"] if run else None, fallback)


def hit_detail(row: dict, rules: Rules, ev: HitEvidence, decisions: list[dict]) -> HitDetail:
    """The hit with its evidence (``trailmatch.evidence``: the path through the window, visits,
    gaps, closest approach, the account) and the decisions recorded on it."""
    crime = CrimeOut(crime_reference=row["crime_reference"], police_force=row["police_force"],
                     crime_type=row["crime_type"], description=row["description"],
                     version=row["crime_version"], batch_id=row["batch_id"],
                     time_from=row["time_from"], time_to=row["time_to"], lat=row["crime_lat"],
                     lon=row["crime_lon"], superseded=row["status"] == "superseded")
    base = HitOut.model_validate(row).model_dump()
    return HitDetail(**base, **ev.to_dict(), crime=crime, radius_m=rules.radius_m,
                     max_gap_s=rules.max_gap_s, count_precision=rules.count_precision,
                     decisions=[_decision_out(d) for d in decisions])


@router.get("/hits/{hit_id}", response_model=HitDetail, responses=NOT_FOUND)
def get_hit(principal: CurrentUser, db: Db, cfg: Cfg, trails: Trails, hit_id: HitId) -> HitDetail:
    """One hit (any status) with the fixes in the vicinity and the path through the window."""
    row = _visible_hit(db, principal, hit_id, "hit.read")
    audit.record(db, principal, "hit.read", f"hit:{hit_id}")
    rules = _rules_of(db, row, cfg.rules)
    return hit_detail(row, rules, hit_evidence(trails, row, rules),
                      repository.list_decisions(db, hit_id))


@router.get("/hits/{hit_id}/report", response_class=HTMLResponse, responses=NOT_FOUND)
def get_report(principal: CurrentUser, db: Db, cfg: Cfg, trails: Trails,
               hit_id: HitId) -> HTMLResponse:
    """The printable evidence report for this one hit (the nightly report's renderer)."""
    from service.report import render_hit_report

    row = _visible_hit(db, principal, hit_id, "hit.report")
    audit.record(db, principal, "hit.report", f"hit:{hit_id}")
    return HTMLResponse(render_hit_report(row, _rules_of(db, row, cfg.rules), trails,
                                          principal.name, repository.list_decisions(db, hit_id)))


def _decision_out(row: dict) -> DecisionOut:
    return DecisionOut(id=row["id"], hit_id=row["hit_id"], outcome=row["outcome"],
                       rationale=row["rationale"], user=row["user_name"], decided_at=row["at"])


@router.get("/hits/{hit_id}/decisions", response_model=list[DecisionOut], responses=NOT_FOUND)
async def list_decisions(principal: CurrentUser, db: Db, hit_id: HitId) -> list[DecisionOut]:
    """Every decision recorded on the hit, oldest first."""
    _visible_hit(db, principal, hit_id, "decisions.read")
    audit.record(db, principal, "decisions.read", f"hit:{hit_id}")
    return [_decision_out(r) for r in repository.list_decisions(db, hit_id)]


@router.post("/hits/{hit_id}/decisions", response_model=DecisionOut,
             status_code=status.HTTP_201_CREATED, responses=NOT_FOUND)
async def add_decision(principal: CurrentUser, db: Db, hit_id: HitId,
                       body: DecisionIn) -> DecisionOut:
    """Record a decision (append-only: earlier decisions stay, with who and when)."""
    _visible_hit(db, principal, hit_id, "decision.record")
    with db.begin() as conn:  # the decision and its audit row together, or neither
        decision_id = repository.add_decision(conn, hit_id, body.outcome, body.rationale,
                                              user_name=principal.name,
                                              user_id=principal.user_id)
        audit.record(conn, principal, "decision.record",
                     f"hit:{hit_id} decision:{decision_id} {body.outcome}")
    row = next(r for r in repository.list_decisions(db, hit_id) if r["id"] == decision_id)
    return _decision_out(row)
