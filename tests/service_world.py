"""A small real world for the service tests: the sample trails ingested into a trail store (day
partitions and their indexes, as ``trailmatch ingest`` leaves them), and a hit store holding
one nightly run over the sample crimes (Hampshire) plus a copy of a few of them sent by a
second force (Sussex), so need-to-know can be tested across forces on the same subjects."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trailmatch.crs import grid_to_working, lonlat_to_working, working_to_lonlat
from trailmatch.hitstore import open_store, repository
from trailmatch.hitstore.users import add_user, revoke_user
from trailmatch.match import match
from trailmatch.rules import Rules
from trailmatch.store import Store

DATA = Path(__file__).parent / "data"
RULES = Rules()  # the service's default rules: precision counted


def write_trail_store(store: Path) -> pd.DataFrame:
    raw = pd.read_csv(DATA / "positions.csv", dtype={"person_id": str})
    x, y = lonlat_to_working(raw["position_longitude"].to_numpy(),
                             raw["position_latitude"].to_numpy())
    trails = pd.DataFrame({
        "subject": raw["person_id"].astype(str),
        "time": pd.to_datetime(raw["position_gps_date"], utc=True),
        "x": x, "y": y, "precision_m": raw["position_precision"].astype(float),
        "source": raw["position_lbs"].astype(np.int64),
    })
    return write_positions(store, trails)


def write_positions(store: Path, trails: pd.DataFrame) -> pd.DataFrame:
    """Fixes (subject, time, x, y, precision_m, source) ingested into the trail store
    (``Store.ingest_fixes``), every one kept and none flagged: the store holds exactly the
    trails the tests match against."""
    trails = trails.sort_values(["subject", "time"], kind="stable")
    counts, _ = Store(store).ingest_fixes(trails)
    assert counts.accepted == len(trails), counts
    return trails


def auth(world: World, who: str) -> dict:
    """The request headers of one of the world's users ("ham", "sus", "proc", "revoked")."""
    return {"Authorization": f"Bearer {world.tokens[who]}"}


def read_sample_crimes() -> pd.DataFrame:
    rows = []
    with open(DATA / "crimes.csv", encoding="utf-8-sig", newline="") as f:
        for rec in csv.reader(f):
            if not rec:
                continue
            rows.append(rec)
    frame = pd.DataFrame(rows, columns=[
        "police_force", "crime_type", "description", "batch_id", "crime_reference", "from", "to",
        "easting", "northing", "lat", "lon", "datum", "text"])
    x = np.empty(len(frame))
    y = np.empty(len(frame))
    grid = frame["easting"] != ""
    gx, gy = grid_to_working(frame.loc[grid, "easting"].astype(float).to_numpy(),
                             frame.loc[grid, "northing"].astype(float).to_numpy())
    lx, ly = lonlat_to_working(frame.loc[~grid, "lon"].astype(float).to_numpy(),
                               frame.loc[~grid, "lat"].astype(float).to_numpy())
    x[grid.to_numpy()], y[grid.to_numpy()] = gx, gy
    x[~grid.to_numpy()], y[~grid.to_numpy()] = lx, ly
    lon, lat = working_to_lonlat(x, y)
    return pd.DataFrame({
        "police_force": frame["police_force"], "crime_reference": frame["crime_reference"],
        "crime_type": frame["crime_type"], "description": frame["description"],
        "batch_id": frame["batch_id"], "x": x, "y": y, "crs": RULES.crs, "lat": lat, "lon": lon,
        "text": frame["text"],
        "time_from": pd.to_datetime(frame["from"], format="%Y%m%d%H%M%S", utc=True),
        "time_to": pd.to_datetime(frame["to"], format="%Y%m%d%H%M%S", utc=True),
    })


@dataclass
class World:
    store: Path
    trails: pd.DataFrame
    crimes: pd.DataFrame
    hits: pd.DataFrame  # hits table rows (current), with ids
    tokens: dict[str, str]  # "ham", "sus", "proc", "revoked" -> token


def build_world(store: Path, db_url: str | None = None) -> World:
    trails = write_trail_store(store)
    crimes = read_sample_crimes()
    engine = open_store(store, db_url)
    plain = match(trails, crimes, RULES)
    # A second force sends copies of a few hit crimes (other references): the same subjects
    # then have hits on both forces' crimes.
    hit_refs = list(dict.fromkeys(plain["crime_reference"]))[:3]
    sussex = crimes[crimes["crime_reference"].isin(hit_refs)].copy()
    sussex["police_force"] = "Sussex"
    sussex["crime_reference"] = "47/" + sussex["crime_reference"].str[3:]
    sussex["batch_id"] = "SXP20250127"
    crimes = pd.concat([crimes, sussex], ignore_index=True)

    run_id = repository.start_run(engine, "nightly", RULES.to_dict(), "test")
    for force, part in crimes.groupby("police_force"):
        batch_key = repository.add_batch(
            engine, police_force=force, batch_id=part["batch_id"].iloc[0],
            file_name=f"{force}.csv", file_sha256=f"{force:0<64}"[:64], run_id=run_id,
            rows_read=len(part), accepted=len(part), rejected=0)
        repository.store_crimes(engine, batch_key, part["batch_id"].iloc[0],
                                part.drop(columns=["batch_id"]).to_dict("records"))
    current = repository.current_crimes(engine)
    found = match(trails, current, RULES)
    key = current.set_index(["police_force", "crime_reference"])["id"]
    found["crime_id"] = [int(key[(f, r)]) for f, r in
                         zip(found["police_force"], found["crime_reference"], strict=True)]
    repository.save_hits(engine, run_id, current, found)
    repository.finish_run(engine, run_id, "ok", {"hits": len(found)}, "test run")
    hits = pd.DataFrame(repository.hits_for_crime_ids(engine, current["id"].tolist()))
    tokens = {
        "ham": add_user(engine, "pc-ham", "officer", "Hampshire")[1],
        "sus": add_user(engine, "pc-sus", "officer", "Sussex")[1],
        "proc": add_user(engine, "central", "processing", None)[1],
        "revoked": add_user(engine, "pc-gone", "officer", "Hampshire")[1],
    }
    revoke_user(engine, "pc-gone")
    engine.dispose()
    return World(store, trails, crimes, hits, tokens)
