"""Reading and writing the hit store: small functions over SQLAlchemy Core.

Every function takes ``bind``: an ``Engine`` (the function runs in its own transaction) or an
open ``Connection`` (the caller owns the transaction, e.g. to write a run's hits atomically).
Rows come back as plain dicts; instants are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, bindparam, func, insert, select, update

from trailmatch.crs import OSTN15, lonlat_to_working
from trailmatch.hitstore.binds import all_rows, one_row, transaction, utcnow
from trailmatch.hitstore.schema import (
    CASE_OUTCOMES,
    OUTCOMES,
    audit,
    batch_crimes,
    batches,
    crimes,
    decisions,
    hits,
    outcomes,
    runs,
)
from trailmatch.ingest.crime_batch import batch_order
from trailmatch.rules import Rules
from trailmatch.store.transformation import StoreNeedsUpgrade

HIT_FIELDS = ("min_distance_m", "closest_time", "first_in", "last_in", "duration_s",
              "fixes_in", "max_precision_m", "sources")
CRIME_CONTENT = ("crime_type", "description", "time_from", "time_to", "lat", "lon", "text")


# --- runs -------------------------------------------------------------------------------------

def rules_digest(rules: dict) -> str:
    """A stable digest of the matching rules: hits made under other rules are not reused."""
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:16]


INTERRUPTED_SUMMARY = "interrupted: still running when a later run started (killed mid-way)"


def start_run(bind, kind: str, rules: dict, algorithm_version: str) -> int:
    """A new run, ``running``. Runs still ``running`` from before were killed mid-way (a run
    always finishes with its status): they are closed first as ``interrupted``, ended now, with
    the summary ``INTERRUPTED_SUMMARY``. A run that is in fact still going (two at once) sets
    its own status when it finishes."""
    with transaction(bind) as conn:
        conn.execute(update(runs).where(runs.c.status == "running").values(
            status="interrupted", ended=utcnow(), summary=INTERRUPTED_SUMMARY))
        return conn.execute(insert(runs).values(
            kind=kind, started=utcnow(), algorithm_version=algorithm_version, rules=rules,
            status="running").returning(runs.c.id)).scalar_one()


def finish_run(bind, run_id: int, status: str, counts: dict, summary: str) -> None:
    with transaction(bind) as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            ended=utcnow(), status=status, counts=counts, summary=summary))


def get_run(bind, run_id: int) -> dict | None:
    with transaction(bind) as conn:
        return one_row(conn.execute(select(runs).where(runs.c.id == run_id)))


def list_runs(bind, limit: int = 100) -> list[dict]:
    """The most recent runs first."""
    with transaction(bind) as conn:
        return all_rows(conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit)))


# --- batches and crimes -----------------------------------------------------------------------

def find_batch(bind, police_force: str, batch_id: str, file_sha256: str) -> dict | None:
    with transaction(bind) as conn:
        return one_row(conn.execute(select(batches).where(
            batches.c.police_force == police_force, batches.c.batch_id == batch_id,
            batches.c.file_sha256 == file_sha256)))


def add_batch(bind, *, police_force: str, batch_id: str, file_name: str, file_sha256: str,
              run_id: int, rows_read: int, accepted: int, rejected: int) -> int:
    with transaction(bind) as conn:
        return conn.execute(insert(batches).values(
            police_force=police_force, batch_id=batch_id, file_name=file_name,
            file_sha256=file_sha256, received_at=utcnow(), run_id=run_id, rows_read=rows_read,
            accepted=accepted, rejected=rejected).returning(batches.c.id)).scalar_one()


def list_batches(bind) -> list[dict]:
    with transaction(bind) as conn:
        return all_rows(conn.execute(select(batches).order_by(batches.c.id)))


def crime_content_digest(row: dict) -> str:
    """What makes a resent crime a new version: its type, description, window, location and
    text - not the batch id it came in (docs/ingest.md, "Crime versions")."""
    parts = []
    for key in CRIME_CONTENT:
        value = row[key]
        if isinstance(value, dt.datetime | pd.Timestamp):
            value = pd.Timestamp(value).tz_convert("UTC").isoformat()
        elif isinstance(value, float | np.floating):
            value = f"{float(value):.7f}"
        parts.append(f"{key}={value}")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def store_crimes(bind, batch_key: int, batch_id: str, rows: list[dict],
                 run_id: int | None = None) -> list[dict]:
    """Add the crimes of one batch as versions: the one crime-version rule.

    A crime is (police force, crime reference). Each row is compared with the crime's current
    version by content (``crime_content_digest``; the batch id is not content) and is
    ``new`` (the first version), ``unchanged`` (same content: no new version, whatever batch it
    came in, so an identical resend costs nothing and leaves the hits and decisions where they
    are), ``changed`` (other content from a batch not earlier than the current version's, by
    ``batch_order``: a new version superseding the current one, whose hits are marked
    superseded) or ``stale`` (other content from an earlier batch - a late copy of an old
    batch: kept in the history, already superseded, never matched). Every row is linked to the
    version it resolved to in ``batch_crimes`` (what ``--batch ID`` reads). Returns one dict per
    row with ``crime_id``, ``version`` and ``change``.

    ``rows``: dicts with police_force, crime_reference and the ``crimes`` columns (time_from and
    time_to tz-aware, x, y, lat, lon, crime_type, description, text).
    """
    out: list[dict | None] = []
    now = utcnow()
    with transaction(bind) as conn:
        current = _current_versions(conn, {(r["police_force"], r["crime_reference"])
                                           for r in rows})
        pending: list[tuple[int, dict]] = []  # first versions, inserted together
        pending_keys: set[tuple] = set()  # their crimes (a set: batches of thousands)

        def flush() -> None:
            if not pending:
                return
            ids = conn.execute(insert(crimes).returning(crimes.c.id,
                                                        sort_by_parameter_order=True),
                               [v for _, v in pending]).scalars().all()
            for (slot, values), crime_id in zip(pending, ids, strict=True):
                out[slot] = {**rows[slot], "crime_id": crime_id, "version": 1, "change": "new"}
                current[(values["police_force"], values["crime_reference"])] = {
                    "id": crime_id, "version": 1, "content_sha256": values["content_sha256"],
                    "batch_id": batch_id}
            pending.clear()
            pending_keys.clear()

        for slot, row in enumerate(rows):
            key = (row["police_force"], row["crime_reference"])
            digest = crime_content_digest(row)
            if key in pending_keys:
                flush()  # the same crime twice in one batch: the later row is a new version
            cur = current.get(key)
            out.append(None)
            if cur is not None and cur["content_sha256"] == digest:
                out[slot] = {**row, "crime_id": cur["id"], "version": cur["version"],
                             "change": "unchanged"}
                continue
            values = {k: row[k] for k in ("police_force", "crime_reference", "crime_type",
                                          "description", "x", "y", "crs", "lat", "lon", "text")}
            # placed by trailmatch.crs (OSTN15 across WGS84 <-> OSGB36); which pair was given
            values.update(transformation=OSTN15, located_by=row.get("located_by"))
            values.update(time_from=_py_time(row["time_from"]), time_to=_py_time(row["time_to"]),
                          batch_key=batch_key, batch_id=batch_id, content_sha256=digest,
                          received_at=now)
            if cur is None:
                pending.append((slot, {**values, "version": 1, "superseded": False,
                                       "superseded_by": None}))
                pending_keys.add(key)
                continue
            version = 1 + conn.execute(select(func.max(crimes.c.version)).where(
                crimes.c.police_force == key[0],
                crimes.c.crime_reference == key[1])).scalar_one()
            stale = batch_order(batch_id) < batch_order(cur["batch_id"])
            crime_id = conn.execute(insert(crimes).values(
                **values, version=version, superseded=stale,
                superseded_by=cur["id"] if stale else None,
            ).returning(crimes.c.id)).scalar_one()
            if stale:
                out[slot] = {**row, "crime_id": crime_id, "version": version, "change": "stale"}
                continue
            conn.execute(update(crimes).where(crimes.c.id == cur["id"]).values(
                superseded=True, superseded_by=crime_id))
            conn.execute(update(hits).where(hits.c.crime_id == cur["id"],
                                            hits.c.status == "current").values(
                status="superseded", withdrawn_run_id=run_id, withdrawn_at=now))
            current[key] = {"id": crime_id, "version": version, "content_sha256": digest,
                            "batch_id": batch_id}
            out[slot] = {**row, "crime_id": crime_id, "version": version, "change": "changed"}
        flush()
        linked = set(conn.execute(select(batch_crimes.c.crime_id).where(
            batch_crimes.c.batch_key == batch_key)).scalars())
        links = [{"batch_key": batch_key, "crime_id": cid}
                 for cid in dict.fromkeys(o["crime_id"] for o in out if o is not None)
                 if cid not in linked]
        if links:
            conn.execute(insert(batch_crimes), links)
    return out  # type: ignore[return-value]


def _current_versions(conn: Connection, keys: set[tuple[str, str]]) -> dict:
    """(force, reference) -> the current version's id, version, digest and batch id."""
    found: dict = {}
    by_force: dict[str, list[str]] = {}
    for force, ref in keys:
        by_force.setdefault(force, []).append(ref)
    for force, refs in by_force.items():
        for chunk in range(0, len(refs), 500):
            for r in conn.execute(select(
                    crimes.c.id, crimes.c.version, crimes.c.content_sha256, crimes.c.batch_id,
                    crimes.c.crime_reference).where(
                    crimes.c.police_force == force,
                    crimes.c.crime_reference.in_(refs[chunk:chunk + 500]),
                    crimes.c.superseded.is_(False))):
                found[(force, r.crime_reference)] = {
                    "id": r.id, "version": r.version, "content_sha256": r.content_sha256,
                    "batch_id": r.batch_id}
    return found


def get_crime(bind, crime_id: int) -> dict | None:
    with transaction(bind) as conn:
        return one_row(conn.execute(select(crimes).where(crimes.c.id == crime_id)))


def crime_versions(bind, police_force: str, crime_reference: str) -> list[dict]:
    """Every version of a crime, oldest first."""
    with transaction(bind) as conn:
        return all_rows(conn.execute(select(crimes).where(
            crimes.c.police_force == police_force,
            crimes.c.crime_reference == crime_reference).order_by(crimes.c.version)))


def current_crimes(bind, *, ids: Iterable[int] | None = None,
                   overlapping: tuple[dt.datetime, dt.datetime] | None = None) -> pd.DataFrame:
    """Unsuperseded crime versions as a DataFrame (``id`` plus the crimes columns), optionally
    only those with the given ids or whose window meets ``[start, end]``."""
    query = select(crimes).where(crimes.c.superseded.is_(False))
    if ids is not None:
        query = query.where(crimes.c.id.in_(list(ids)))
    if overlapping is not None:
        start, end = overlapping
        query = query.where(crimes.c.time_to >= start, crimes.c.time_from <= end)
    with transaction(bind) as conn:
        frame = pd.DataFrame(all_rows(conn.execute(query.order_by(crimes.c.id))),
                             columns=[c.name for c in crimes.columns])
    for col in ("time_from", "time_to"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def current_crimes_for(bind, keys: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """The current versions of the given (police_force, crime_reference) crimes, as
    ``current_crimes`` returns them (reads only those rows, whatever the store's history)."""
    by_force: dict[str, list[str]] = {}
    for force, ref in set(keys):
        by_force.setdefault(force, []).append(ref)
    rows: list[dict] = []
    with transaction(bind) as conn:
        for force, refs in sorted(by_force.items()):
            refs.sort()
            for chunk in range(0, len(refs), 500):
                rows += all_rows(conn.execute(select(crimes).where(
                    crimes.c.police_force == force,
                    crimes.c.crime_reference.in_(refs[chunk:chunk + 500]),
                    crimes.c.superseded.is_(False))))
    frame = pd.DataFrame(rows, columns=[c.name for c in crimes.columns])
    for col in ("time_from", "time_to"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame.sort_values("id").reset_index(drop=True)


class CrimesNeedUpgrade(StoreNeedsUpgrade):
    """Crime versions placed before OSTN15 were asked for matching; the message names the
    command that re-projects them."""


def refuse_legacy(frame) -> None:
    """``CrimesNeedUpgrade`` when any stored crime version in ``frame`` (a
    ``current_crimes`` frame) was placed before OSTN15."""
    if "transformation" not in frame.columns or len(frame) == 0:
        return
    legacy = frame["transformation"].isna() | frame["transformation"].ne(OSTN15)
    if legacy.any():
        raise CrimesNeedUpgrade(
            f"{int(legacy.sum())} crime version(s) in the hit store were placed before "
            f"{OSTN15} (pyproj's Helmert, metres off the fixes); run `trailmatch upgrade "
            "--store DIR` (with --db URL for a hit store elsewhere) once to re-project them")


def crimes_in_rules_crs(crimes: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Stored crime versions (as ``current_crimes`` returns them) with x, y in ``rules.crs``,
    re-projected from WGS84 only for versions stored under another working CRS: the one
    preparation of stored crimes for matching. Refuses versions placed before OSTN15
    (``refuse_legacy``): a match never mixes them with OSTN15 fixes."""
    refuse_legacy(crimes)
    crimes = crimes.copy()
    other = (crimes["crs"] != rules.crs).to_numpy()
    if other.any():
        x, y = lonlat_to_working(crimes.loc[other, "lon"].to_numpy(),
                                 crimes.loc[other, "lat"].to_numpy(), rules.crs)
        crimes.loc[other, "x"] = x
        crimes.loc[other, "y"] = y
    return crimes


def mark_matched(bind, crime_ids: Iterable[int], run_id: int, digest: str) -> None:
    ids = list(crime_ids)
    with transaction(bind) as conn:
        for chunk in range(0, len(ids), 500):
            conn.execute(update(crimes).where(crimes.c.id.in_(ids[chunk:chunk + 500])).values(
                matched_run_id=run_id, matched_rules=digest))


# --- hits -------------------------------------------------------------------------------------

def _py_time(value) -> dt.datetime:
    # The databases keep microseconds; round rather than truncate the engine's nanoseconds.
    return pd.Timestamp(value).tz_convert("UTC").round("us").to_pydatetime()


def _hit_values(row: dict) -> dict:
    out = {}
    for key in HIT_FIELDS:
        value = row[key]
        if key in ("closest_time", "first_in", "last_in"):
            value = _py_time(value)
        elif key == "fixes_in":
            value = int(value)
        elif key == "sources":
            value = str(value)
        elif value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
            value = None
        else:
            value = float(value)
        out[key] = value
    return out


def _same(a: dict, b: dict) -> bool:
    for key in HIT_FIELDS:
        x, y = a[key], b[key]
        if isinstance(x, float) and isinstance(y, float):
            if not (x == y or abs(x - y) <= 1e-9 * max(1.0, abs(x))):
                return False
        elif x != y:
            return False
    return True


def save_hits(bind, run_id: int, matched: pd.DataFrame, found: pd.DataFrame, *,
              subjects: Iterable[str] | None = None) -> dict:
    """Record the result of matching the crime versions in ``matched`` (``id``,
    ``police_force``, ``crime_reference``, ``crime_type``): ``found`` holds their hits (a
    ``crime_id`` column plus the hit columns). Per (crime version, subject) one row: new pairs
    are inserted, changed fields updated, current hits of these crimes that were not found again
    are withdrawn. Returns ``{"new": [...], "updated": [...], "withdrawn": [...],
    "unchanged": n}`` with hit ids. With ``subjects``, the matching looked at those subjects
    only (a rematch after late uploads): hits of other subjects are left as they are.
    """
    crime_ids = [int(i) for i in matched["id"]]
    meta = {int(r["id"]): r for r in matched.to_dict("records")}
    result: dict = {"new": [], "updated": [], "withdrawn": [], "unchanged": 0}
    only = None if subjects is None else {str(s) for s in subjects}
    now = utcnow()
    with transaction(bind) as conn:
        existing: dict[tuple[int, str], dict] = {}
        for chunk in range(0, len(crime_ids), 500):
            for row in conn.execute(select(hits).where(
                    hits.c.crime_id.in_(crime_ids[chunk:chunk + 500]))):
                if only is None or row.subject in only:
                    existing[(row.crime_id, row.subject)] = dict(row._mapping)
        seen = set()
        inserts = []
        for row in found.to_dict("records"):
            key = (int(row["crime_id"]), str(row["subject"]))
            if only is not None and key[1] not in only:
                continue
            seen.add(key)
            values = _hit_values(row)
            old = existing.get(key)
            if old is None:
                crime = meta[key[0]]
                inserts.append({**values, "crime_id": key[0], "subject": key[1],
                                "police_force": crime["police_force"],
                                "crime_reference": crime["crime_reference"],
                                "crime_type": crime["crime_type"], "status": "current",
                                "run_id": run_id, "updated_run_id": run_id})
            elif old["status"] == "current" and _same(values, old):
                result["unchanged"] += 1
            else:
                conn.execute(update(hits).where(hits.c.id == old["id"]).values(
                    **values, status="current", updated_run_id=run_id, withdrawn_run_id=None,
                    withdrawn_at=None))
                result["new" if old["status"] != "current" else "updated"].append(old["id"])
        if inserts:
            ids = conn.execute(insert(hits).returning(hits.c.id, sort_by_parameter_order=True),
                               inserts).scalars().all()
            result["new"].extend(ids)
        for key, old in existing.items():
            if key not in seen and old["status"] == "current":
                conn.execute(update(hits).where(hits.c.id == old["id"]).values(
                    status="withdrawn", withdrawn_run_id=run_id, withdrawn_at=now))
                result["withdrawn"].append(old["id"])
    return result


_HIT_WITH_CRIME = select(
    hits, crimes.c.version.label("crime_version"), crimes.c.batch_id,
    crimes.c.time_from, crimes.c.time_to, crimes.c.x.label("crime_x"),
    crimes.c.y.label("crime_y"), crimes.c.lat.label("crime_lat"),
    crimes.c.lon.label("crime_lon"), crimes.c.crs.label("crime_crs"), crimes.c.description,
    crimes.c.text,
).join(crimes, crimes.c.id == hits.c.crime_id)


# The statements the service runs on every request are built once, with bound parameters:
# building a statement per call (and computing its cache key) cost more than executing it.
_HITS_OF_CRIME_ANY = _HIT_WITH_CRIME.where(
    hits.c.police_force == bindparam("force"), hits.c.crime_reference == bindparam("reference"),
).order_by(hits.c.min_distance_m, hits.c.subject)
_HITS_OF_CRIME = _HITS_OF_CRIME_ANY.where(hits.c.status == "current")


def get_hit(bind, hit_id: int) -> dict | None:
    """One hit with its crime version's details (window, location, batch), any status."""
    with transaction(bind) as conn:
        return one_row(conn.execute(_HIT_WITH_CRIME.where(hits.c.id == hit_id)))


def hits_for_crime(bind, police_force: str, crime_reference: str, *,
                   include_withdrawn: bool = False) -> list[dict]:
    """The current hits of a crime (its latest version), nearest first; with
    ``include_withdrawn`` also superseded and withdrawn ones, of every version."""
    query = _HITS_OF_CRIME_ANY if include_withdrawn else _HITS_OF_CRIME
    with transaction(bind) as conn:
        return all_rows(conn.execute(query, {"force": police_force, "reference": crime_reference}))


# What a list of hits shows (the service's HitOut): the hits table alone, no crime details.
HIT_LIST_COLUMNS = ("id", "crime_reference", "police_force", "crime_type", "subject",
                    *HIT_FIELDS, "status", "run_id")
_HIT_LIST_OF_CRIME = select(*(hits.c[name] for name in HIT_LIST_COLUMNS)).where(
    hits.c.police_force == bindparam("force"), hits.c.crime_reference == bindparam("reference"),
    hits.c.status == "current").order_by(hits.c.min_distance_m, hits.c.subject)


def hit_list_for_crime(bind, police_force: str, crime_reference: str) -> list[dict]:
    """``hits_for_crime`` (current hits, nearest first) with only ``HIT_LIST_COLUMNS``: the
    service lists hits on every request, and reading (and converting) the crime's details
    it does not show was most of the statement's cost."""
    with transaction(bind) as conn:
        return all_rows(conn.execute(_HIT_LIST_OF_CRIME,
                                  {"force": police_force, "reference": crime_reference}))


# The latest decision on a hit (its review status), by the order ``list_decisions`` gives.
def _latest_decision(column):
    return (select(column).where(decisions.c.hit_id == hits.c.id)
            .order_by(decisions.c.at.desc(), decisions.c.id.desc()).limit(1)
            .correlate(hits).scalar_subquery())


DAY_SORTS = ("crime", "time", "distance", "crime_type", "review")


def _day_conditions(police_force: str, day: dt.date, crime_type: str | None,
                    batch_id: str | None) -> list:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    conds = [hits.c.police_force == police_force, hits.c.status == "current",
             crimes.c.time_from < end, crimes.c.time_to >= start]
    if crime_type is not None:
        conds.append(hits.c.crime_type == crime_type)
    if batch_id is not None:
        conds.append(crimes.c.batch_id == batch_id)
    return conds


def hits_for_day(bind, police_force: str, day: dt.date, *, crime_type: str | None = None,
                 batch_id: str | None = None, sort: str = "crime", descending: bool = False,
                 limit: int | None = None, offset: int = 0) -> list[dict]:
    """The current hits of a force's crimes whose window meets the UTC day ``day``, with the
    crime's details and the hit's review status (``review``: the latest decision's outcome,
    ``reviewed_by``, ``reviewed_at``, ``decisions``: how many; none yet: ``None`` and 0).

    Only ``crime_type`` / ``batch_id`` (the crime version's batch) when given. Sorted by
    ``sort`` (``DAY_SORTS``): ``crime`` (reference, then subject), ``time`` (closest
    approach), ``distance`` (closest distance), ``crime_type`` or ``review`` (not yet reviewed
    first, then the outcomes alphabetically); ties by crime reference and subject, so a page
    of ``limit`` rows from ``offset`` is stable."""
    if sort not in DAY_SORTS:
        raise ValueError(f"sort must be one of {', '.join(DAY_SORTS)}, got {sort!r}")
    review = _latest_decision(decisions.c.outcome)
    keys = {"crime": [], "time": [hits.c.closest_time], "distance": [hits.c.min_distance_m],
            "crime_type": [hits.c.crime_type],
            # NULL (not reviewed) first on every backend, as "" sorts before any outcome
            "review": [func.coalesce(review, "")]}[sort]
    order = [k.desc() if descending else k for k in keys]
    tail = [hits.c.crime_reference, hits.c.subject, hits.c.id]
    order += [k.desc() for k in tail] if descending and sort == "crime" else tail
    query = (select(*_HIT_WITH_CRIME.selected_columns, review.label("review"),
                    _latest_decision(decisions.c.user_name).label("reviewed_by"),
                    _latest_decision(decisions.c.at).label("reviewed_at"),
                    select(func.count()).where(decisions.c.hit_id == hits.c.id)
                    .correlate(hits).scalar_subquery().label("decisions"))
             .select_from(hits.join(crimes, crimes.c.id == hits.c.crime_id))
             .where(*_day_conditions(police_force, day, crime_type, batch_id))
             .order_by(*order).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    with transaction(bind) as conn:  # (the subqueries keep their columns' types: UTC instants)
        return all_rows(conn.execute(query))


def count_hits_for_day(bind, police_force: str, day: dt.date, *, crime_type: str | None = None,
                       batch_id: str | None = None) -> int:
    """How many rows ``hits_for_day`` gives with these filters and no limit."""
    query = (select(func.count()).select_from(hits.join(crimes, crimes.c.id == hits.c.crime_id))
             .where(*_day_conditions(police_force, day, crime_type, batch_id)))
    with transaction(bind) as conn:
        return int(conn.execute(query).scalar_one())


def hits_for_crime_ids(bind, crime_ids: Iterable[int]) -> pd.DataFrame:
    """Current hits of the given crime versions as a DataFrame (with the crime's details)."""
    ids = list(crime_ids)
    rows: list[dict] = []
    with transaction(bind) as conn:
        for chunk in range(0, len(ids), 500):
            rows += all_rows(conn.execute(_HIT_WITH_CRIME.where(
                hits.c.crime_id.in_(ids[chunk:chunk + 500]), hits.c.status == "current")))
    columns = [c.name for c in _HIT_WITH_CRIME.selected_columns]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("closest_time", "first_in", "last_in", "time_from", "time_to"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame.sort_values(["police_force", "crime_reference", "subject"]).reset_index(
        drop=True)


def count_hits(bind, status: str | None = "current") -> int:
    query = select(func.count()).select_from(hits)
    if status is not None:
        query = query.where(hits.c.status == status)
    with transaction(bind) as conn:
        return conn.execute(query).scalar_one()


# --- decisions and audit (append-only) --------------------------------------------------------

def add_decision(bind, hit_id: int, outcome: str, rationale: str, *, user_name: str,
                 user_id: int | None = None, at: dt.datetime | None = None) -> int:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if not rationale or not rationale.strip():
        raise ValueError("rationale must not be blank")
    with transaction(bind) as conn:
        return conn.execute(insert(decisions).values(
            hit_id=hit_id, outcome=outcome, rationale=rationale, user_id=user_id,
            user_name=user_name, at=at or utcnow()).returning(decisions.c.id)).scalar_one()


def list_decisions(bind, hit_id: int) -> list[dict]:
    """The decisions on a hit, oldest first."""
    with transaction(bind) as conn:
        return all_rows(conn.execute(select(decisions).where(decisions.c.hit_id == hit_id)
                                  .order_by(decisions.c.at, decisions.c.id)))


def add_outcome(bind, hit_id: int, outcome: str, outcome_date: dt.date, note: str = "", *,
                user_name: str, user_id: int | None = None,
                at: dt.datetime | None = None) -> int:
    """Record what became of a hit's case (append-only). It follows a decision: a hit that no
    one has decided on yet has no outcome to record (``ValueError``)."""
    if outcome not in CASE_OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(CASE_OUTCOMES)}, got {outcome!r}")
    with transaction(bind) as conn:
        decided = conn.execute(select(func.count()).select_from(decisions)
                               .where(decisions.c.hit_id == hit_id)).scalar_one()
        if not decided:
            raise ValueError(f"hit {hit_id} has no decision yet: record a decision first")
        return conn.execute(insert(outcomes).values(
            hit_id=hit_id, outcome=outcome, outcome_date=outcome_date, note=note or "",
            user_id=user_id, user_name=user_name, at=at or utcnow())
            .returning(outcomes.c.id)).scalar_one()


def list_outcomes(bind, hit_id: int) -> list[dict]:
    """The outcomes recorded on a hit, oldest first."""
    with transaction(bind) as conn:
        return all_rows(conn.execute(select(outcomes).where(outcomes.c.hit_id == hit_id)
                                  .order_by(outcomes.c.at, outcomes.c.id)))


_AUDIT_INSERT = insert(audit).returning(audit.c.id)  # built once, as _HITS_OF_CRIME


def append_audit(bind, *, user_name: str, role: str, action: str, target: str,
                 user_id: int | None = None, police_force: str | None = None,
                 client_address: str | None = None, at: dt.datetime | None = None) -> int:
    with transaction(bind) as conn:
        return conn.execute(_AUDIT_INSERT, {
            "at": at or utcnow(), "user_id": user_id, "user_name": user_name, "role": role,
            "police_force": police_force, "action": action, "target": target,
            "client_address": client_address}).scalar_one()


def list_audit(bind, *, user_name: str | None = None, action: str | None = None,
               police_force: str | None = None, since: dt.datetime | None = None,
               until: dt.datetime | None = None, limit: int = 1000) -> list[dict]:
    """Audit entries, newest first, filtered by any of the given fields."""
    conds = []
    if user_name is not None:
        conds.append(audit.c.user_name == user_name)
    if action is not None:
        conds.append(audit.c.action == action)
    if police_force is not None:
        conds.append(audit.c.police_force == police_force)
    if since is not None:
        conds.append(audit.c.at >= since)
    if until is not None:
        conds.append(audit.c.at < until)
    query = select(audit).where(and_(True, *conds)).order_by(audit.c.id.desc()).limit(limit)
    with transaction(bind) as conn:
        return all_rows(conn.execute(query))
