"""Crime batches into the hit store, and a stored batch back out.

``store_batches`` is the one way batch files become crime versions: ``trailmatch ingest
crimes`` and the nightly job's store stage both call it (the version rule itself is
``repository.store_crimes``). ``batch_crimes`` reads what a stored batch named, for
``match --batch ID`` and ``nightly --batch ID``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Engine, select

from trailmatch.hitstore import repository as repo
from trailmatch.hitstore.schema import batch_crimes as links
from trailmatch.hitstore.schema import batches, crimes
from trailmatch.ingest.crime_batch import ReadBatch, batch_order


@dataclass
class StoredBatch:
    """One batch (force + batch id) as stored from one or more files."""

    police_force: str
    batch_id: str
    files: list[ReadBatch] = field(default_factory=list)
    references: set[str] = field(default_factory=set)
    changes: Counter = field(default_factory=Counter)  # new / changed / unchanged / stale


def crime_rows(frame: pd.DataFrame, crs: str) -> list[dict]:
    """Accepted batch crimes (``read_batches``) as ``repository.store_crimes`` rows."""
    rows = []
    for r in frame.to_dict("records"):
        rows.append({
            "police_force": r["police_force"], "crime_reference": r["crime_reference"],
            "crime_type": r["crime_type"],
            "description": str(r.get("crime_type_description") or ""),
            "time_from": r["time_from"], "time_to": r["time_to"],
            "x": float(r["x"]), "y": float(r["y"]), "crs": crs,
            "lat": float(r["lat"]), "lon": float(r["lon"]), "text": str(r.get("crime_text") or ""),
            "located_by": ("grid" if pd.notna(r.get("easting")) and pd.notna(r.get("northing"))
                           else "lonlat"),
        })
    return rows


def store_batches(engine: Engine, read: Sequence[ReadBatch], run_id: int, crs: str,
                  *, on_batch=None) -> dict[tuple[str, str], StoredBatch]:
    """Store the accepted crimes of batch files as versions, batch by batch in the order
    their versions supersede each other (``batch_order``; equal ids in the order given).
    A file already received (same force, batch id and SHA-256) is not recorded twice; each
    batch is one transaction. ``on_batch(stored_batch, seconds)`` is called after each one."""
    import time

    groups = []
    for rb in read:
        for (force, batch_id), part in rb.crimes.groupby(["police_force", "batch_id"],
                                                         sort=False):
            groups.append((str(force), str(batch_id), rb, part))
    groups.sort(key=lambda g: (g[0], batch_order(g[1])))
    out: dict[tuple[str, str], StoredBatch] = {}
    for force, batch_id, rb, part in groups:
        t0 = time.perf_counter()
        existing = repo.find_batch(engine, force, batch_id, rb.sha256)
        with engine.begin() as conn:
            key = existing["id"] if existing else repo.add_batch(
                conn, police_force=force, batch_id=batch_id, file_name=rb.path.name,
                file_sha256=rb.sha256, run_id=run_id, rows_read=rb.rows_read,
                accepted=len(part), rejected=rb.rows_rejected)
            stored = repo.store_crimes(conn, key, batch_id, crime_rows(part, crs), run_id)
        entry = out.setdefault((force, batch_id), StoredBatch(force, batch_id))
        entry.changes.update(s["change"] for s in stored)
        entry.references.update(part["crime_reference"].astype(str))
        entry.files.append(rb)
        if on_batch is not None:
            on_batch(entry, time.perf_counter() - t0)
    return out


class UnknownBatch(LookupError):
    """A batch id that the hit store has never received."""


def stored_batches(engine: Engine, batch_ids: Iterable[str]) -> list[dict]:
    """The ``batches`` rows (one per file received) of these batch ids, oldest first; raises
    ``UnknownBatch`` naming every id never received."""
    wanted = list(dict.fromkeys(batch_ids))
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(batches).where(batches.c.batch_id.in_(wanted)).order_by(batches.c.id))]
    missing = [b for b in wanted if b not in {r["batch_id"] for r in rows}]
    if missing:
        raise UnknownBatch(f"no stored batch {', '.join(missing)} (store it first: trailmatch "
                           "ingest crimes FILE --store DIR)")
    return rows


def batch_crimes(engine: Engine, batch_ids: Iterable[str]) -> pd.DataFrame:
    """The current version of every crime the stored batches named (``current_crimes``
    columns, x/y in the CRS each was stored in: see ``repository.crimes_in_rules_crs``).
    A crime a later batch changed comes in its later version, as the nightly job shows it."""
    keys = batch_crime_keys(engine, stored_batches(engine, batch_ids))
    return repo.current_crimes_for(engine, {k for ks in keys.values() for k in ks})


def batch_crime_keys(engine: Engine, rows: Sequence[dict]) -> dict[tuple[str, str], set]:
    """(force, batch id) -> the (force, crime reference) keys its records named."""
    by_key = {r["id"]: (r["police_force"], r["batch_id"]) for r in rows}
    out: dict[tuple[str, str], set] = {k: set() for k in by_key.values()}
    with engine.connect() as conn:
        for key, force, ref in conn.execute(
                select(links.c.batch_key, crimes.c.police_force, crimes.c.crime_reference)
                .select_from(links.join(crimes, links.c.crime_id == crimes.c.id))
                .where(links.c.batch_key.in_(list(by_key)))):
            out[by_key[key]].add((force, ref))
    return out
