"""GeoPandas: fixes as points, ``sjoin(predicate="dwithin", distance=R)`` with the crimes,
then a time filter (fix instant inside the crime window). Sees fixes only, not the path
between them: checked against trailmatch's pairs with fixes_in > 0."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from benchmarks.peers.common import (
    RULES,
    Workload,
    crime_arrays,
    fixes_of,
    pair_set,
    timed,
    timed_lookups,
)

NAME = "GeoPandas"
KIND = "points"
CRS = "EPSG:27700"


def _frames(work: Workload):
    f = fixes_of(work.trails)
    fixes = gpd.GeoDataFrame({"subject": f.subject, "t": f.t},
                             geometry=gpd.points_from_xy(f.x, f.y), crs=CRS)
    return f, fixes


def run(work: Workload) -> dict:
    times: dict = {}
    with timed(times, "load"):
        f, fixes = _frames(work)
        cx, cy, w0, w1 = crime_arrays(work.crimes)
        crimes = gpd.GeoDataFrame({"w0": w0, "w1": w1}, geometry=gpd.points_from_xy(cx, cy),
                                  crs=CRS)
    with timed(times, "index"):
        fixes.sindex  # noqa: B018 — builds the STRtree sjoin queries
    with timed(times, "query"):
        joined = gpd.sjoin(crimes, fixes, how="inner", predicate="dwithin",
                           distance=RULES.radius_m)
        inside = (joined["t"] >= joined["w0"]) & (joined["t"] <= joined["w1"])
        hit = joined.loc[inside, ["subject"]]
        pairs = hit.reset_index().drop_duplicates()
    return {"times": times,
            "pairs": pair_set(pairs.iloc[:, 0].to_numpy(), f.names[pairs["subject"].to_numpy()])}


def lookups(work: Workload, queries: pd.DataFrame) -> dict:
    setup: dict = {}
    with timed(setup, "load"):
        f, fixes = _frames(work)
    with timed(setup, "index"):
        tree = fixes.sindex
    cx, cy, w0, w1 = crime_arrays(queries)
    pts = gpd.points_from_xy(cx, cy)

    def look(i):
        cand = tree.query(pts[i], predicate="dwithin", distance=RULES.radius_m)
        tt = f.t[cand]
        return np.unique(f.subject[cand[(tt >= w0[i]) & (tt <= w1[i])]])

    lat, pairs = timed_lookups(len(queries), look, f.names)
    return {"latency": lat, "pairs": pairs, "setup": setup}
