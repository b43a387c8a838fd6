"""The four views of a hit agree (issue 20): the batch report (``report.html``), the map data
(the ``map/`` layers), the API's hit detail (``GET /hits/{id}``) and the per-hit report
(``GET /hits/{id}/report``) show the same path fixes, visits, gaps and closest approach, on
random trails and crimes. They all read one computation (``trailmatch.evidence``): the batch
views from the nightly's loaded trails, the service's from the trail store's day partitions."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_world import write_positions

from service.app import create_app
from trailmatch.crs import working_to_lonlat
from trailmatch.hitstore import open_store, repository
from trailmatch.hitstore.users import add_user
from trailmatch.jobs.loading import LoadedTrails
from trailmatch.jobs.outputs import write_batch_outputs
from trailmatch.jobs.sources import FrameTrails
from trailmatch.match import match
from trailmatch.rules import Rules

T0 = pd.Timestamp("2025-01-26T22:30:00Z")  # trails and windows run over midnight: two days
HOME = (441_000.0, 112_000.0)  # Southampton, British National Grid


@st.composite
def worlds(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rules = Rules(radius_m=draw(st.sampled_from([50.0, 100.0, 150.0])),
                  max_gap_s=draw(st.sampled_from([120.0, 300.0])),
                  buffer_before_s=draw(st.sampled_from([0.0, 300.0])),
                  buffer_after_s=draw(st.sampled_from([0.0, 120.0])),
                  count_precision=draw(st.booleans()))
    frames = []
    for s in range(draw(st.integers(1, 3))):
        n = int(rng.integers(20, 150))
        # mostly a fix a minute, sometimes a gap of several minutes or an hour
        dt = rng.choice([20, 60, 60, 60, 90, 400, 1000, 3600], size=n)
        t = np.cumsum(dt) - dt[0] + int(rng.integers(0, 1800))
        x = HOME[0] + np.cumsum(rng.normal(0, 40, n))
        y = HOME[1] + np.cumsum(rng.normal(0, 40, n))
        frames.append(pd.DataFrame({
            "subject": f"S{s}", "time": T0 + pd.to_timedelta(t, "s"), "x": x, "y": y,
            "precision_m": rng.choice([np.nan, 5.0, 15.0, 40.0], size=n),
            "source": rng.choice([1, 4, 5, 6], size=n)}))
    trails = pd.concat(frames, ignore_index=True)
    crimes = []
    for k in range(draw(st.integers(1, 5))):
        # each window holds a fix; the first crime is at that fix (a hit for sure)
        near = trails.iloc[int(rng.integers(0, len(trails)))]
        length = int(rng.choice([0, 600, 3600, 7200]))
        start = near["time"] - pd.Timedelta(seconds=int(rng.integers(0, length + 1)))
        off = rng.normal(0, 60, 2) if k else (0.0, 0.0)
        crimes.append({
            "police_force": "Hampshire", "crime_reference": f"44/{k}/25", "crime_type": "RB",
            "description": "Robbery", "batch_id": "HAM20250127",
            "x": near["x"] + off[0], "y": near["y"] + off[1], "time_from": start,
            "time_to": start + pd.Timedelta(seconds=length), "text": ""})
    crimes = pd.DataFrame(crimes)
    lon, lat = working_to_lonlat(crimes["x"].to_numpy(), crimes["y"].to_numpy())
    return trails, crimes.assign(lon=lon, lat=lat, crs=rules.crs), rules


def _hit_store(store, trails, crimes, rules):
    engine = open_store(store)
    run_id = repository.start_run(engine, "nightly", rules.to_dict(), "test")
    batch_key = repository.add_batch(engine, police_force="Hampshire", batch_id="HAM20250127",
                                     file_name="ham.csv", file_sha256="0" * 64, run_id=run_id,
                                     rows_read=len(crimes), accepted=len(crimes), rejected=0)
    repository.store_crimes(engine, batch_key, "HAM20250127",
                            crimes.drop(columns=["batch_id"]).to_dict("records"))
    current = repository.current_crimes(engine)
    found = match(trails, current, rules)
    ids = current.set_index("crime_reference")["id"]
    found["crime_id"] = [int(ids[r]) for r in found["crime_reference"]]
    repository.save_hits(engine, run_id, current, found)
    repository.finish_run(engine, run_id, "ok", {"hits": len(found)}, "test run")
    token = add_user(engine, "central", "processing", None)[1]
    return engine, current, token


def _batch_views(tmp, engine, trails, current, rules):
    hits = repository.hits_for_crime_ids(engine, current["id"].tolist())
    loaded = LoadedTrails.load(FrameTrails(trails), current, rules)
    paths = write_batch_outputs(tmp, police_force="Hampshire", batch_id="HAM20250127",
                                crimes=current, hits=hits, evidence=loaded.evidence,
                                rules=rules, meta=[("Run", "1")])
    # the map layers (one GeoJSON file per layer), their features told apart by layer
    kinds = {"paths": "path", "fixes": "fix", "closest_approaches": "closest_approach",
             "vicinities": "vicinity"}
    features = [{**f, "properties": {**f["properties"], "kind": kind}}
                for layer, kind in kinds.items()
                for f in json.loads(paths[f"map/{layer}.geojson"].read_text())["features"]]
    return hits, paths["report.html"].read_text(), {"features": features}


def _section(page: str, hit_id: int) -> str:
    for part in page.split('<section class="hit">')[1:]:
        if f"(hit {hit_id})</h3>" in part[:300]:
            return part
    raise AssertionError(f"hit {hit_id} not in the report")


def _html_view(section: str) -> dict:
    account = re.search(r'<p class="account"><strong>Account:</strong> (.*?)</p>', section)
    closest = re.search(r"Closest approach ([\d.]+) m on [^<]*? at (-?[\d.]+), (-?[\d.]+)\.",
                        section)
    return {"account": html.unescape(account.group(1)),
            "visits": section.count("<tr class='visit'>"),
            "gaps": section.count("<tr class='gap'>"),
            "fixes": int(re.search(r"Path shown: (\d+) fixes", section).group(1)),
            "closest": (closest.group(1), float(closest.group(2)), float(closest.group(3)))
            if closest else None}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(worlds())
def test_the_four_views_of_a_hit_agree(tmp_path_factory, world):
    trails, crimes, rules = world
    tmp = tmp_path_factory.mktemp("views")
    store = tmp / "store"
    write_positions(store, trails)
    engine, current, token = _hit_store(store, trails, crimes, rules)
    hits, page, geo = _batch_views(tmp, engine, trails, current, rules)
    engine.dispose()
    assert len(hits) >= 1
    client = TestClient(create_app(store))
    auth = {"Authorization": f"Bearer {token}"}
    for hit in hits.to_dict("records"):
        hid = int(hit["id"])
        api = client.get(f"/hits/{hid}", headers=auth)
        assert api.status_code == 200, api.text
        d = api.json()
        per_hit = client.get(f"/hits/{hid}/report", headers=auth)
        assert per_hit.status_code == 200
        batch = _html_view(_section(page, hid))
        single = _html_view(_section(per_hit.text, hid))
        feats = [f for f in geo["features"] if f["properties"].get("hit_id") == hid
                 or (f["properties"]["kind"] in ("fix", "closest_approach")
                     and f["properties"]["crime_reference"] == hit["crime_reference"]
                     and f["properties"]["subject"] == hit["subject"])]
        path = next(f for f in feats if f["properties"]["kind"] == "path")
        near = [f for f in feats if f["properties"]["kind"] == "closest_approach"]
        # the same account (every visit's entry, exit, dwell, closest, motion; every gap)
        assert d["account"] == batch["account"] == single["account"] == \
            path["properties"]["account"]
        assert len(d["visits"]) == batch["visits"] == single["visits"] == \
            path["properties"]["visits"]
        assert len(d["gaps"]) == batch["gaps"] == single["gaps"] == path["properties"]["gaps"]
        # the same path fixes, and the same lines between them
        assert len(d["fixes"]) == batch["fixes"] == single["fixes"] == \
            path["properties"]["fixes"]
        assert path["geometry"]["coordinates"] == [
            [[round(lon, 7), round(lat, 7)] for lon, lat in line]
            for line in d["path"]["coordinates"]]
        # the same closest approach
        c = d["closest"]
        assert batch["closest"] == single["closest"] == (
            f"{c['distance_m']:.1f}", round(c["lat"], 6), round(c["lon"], 6))
        assert near[0]["properties"]["distance_m"] == round(c["distance_m"], 3)
        assert near[0]["geometry"]["coordinates"] == [round(c["lon"], 7), round(c["lat"], 7)]
        # and what they show is the hit: entry/exit = first_in/last_in, dwells = duration
        assert c["distance_m"] == pytest.approx(hit["min_distance_m"], abs=1e-6)
        if d["visits"]:
            first = pd.Timestamp(d["visits"][0]["entry"])
            last = pd.Timestamp(d["visits"][-1]["exit"])
            assert abs((first - hit["first_in"]).total_seconds()) < 2e-6
            assert abs((last - hit["last_in"]).total_seconds()) < 2e-6
            assert sum(v["dwell_s"] for v in d["visits"]) == pytest.approx(hit["duration_s"],
                                                                          abs=1e-6)
        seqs = [f["seq"] for f in d["fixes"]]
        assert seqs == list(range(1, len(seqs) + 1))
        assert sum(f["in_vicinity"] for f in d["fixes"]) == hit["fixes_in"]


def test_decisions_recorded_so_far_appear_in_the_per_hit_report(tmp_path):
    trails = pd.DataFrame({"subject": "S1", "time": T0 + pd.to_timedelta([0, 60, 120], "s"),
                           "x": [HOME[0] - 80, HOME[0], HOME[0] + 80], "y": HOME[1],
                           "precision_m": 10.0, "source": 1})
    lon, lat = working_to_lonlat(np.array([HOME[0]]), np.array([HOME[1]]))
    crimes = pd.DataFrame([{"police_force": "Hampshire", "crime_reference": "44/9/25",
                            "crime_type": "RB", "description": "Robbery",
                            "batch_id": "HAM20250127", "x": HOME[0], "y": HOME[1],
                            "time_from": T0, "time_to": T0 + pd.Timedelta(minutes=2),
                            "text": "", "lon": lon[0], "lat": lat[0], "crs": Rules().crs}])
    store = tmp_path / "store"
    write_positions(store, trails)
    engine, current, token = _hit_store(store, trails, crimes, Rules())
    officer = add_user(engine, "pc-smith", "officer", "Hampshire")[1]
    engine.dispose()
    client = TestClient(create_app(store))
    hid = int(client.get("/hits", params={"police_force": "Hampshire",
                                          "crime_reference": "44/9/25"},
                         headers={"Authorization": f"Bearer {token}"}).json()[0]["id"])
    auth = {"Authorization": f"Bearer {officer}"}
    before = client.get(f"/hits/{hid}/report", headers=auth).text
    assert "None recorded yet." in before
    for outcome, why in [("further_enquiries", "check CCTV <rear>"),
                         ("ruled_out", "CCTV shows him at home")]:
        r = client.post(f"/hits/{hid}/decisions", headers=auth,
                        json={"outcome": outcome, "rationale": why})
        assert r.status_code == 201
    page = client.get(f"/hits/{hid}/report", headers=auth).text
    block = page[page.index("Decisions recorded so far"):]
    # its header row repeats on every printed page the table spans
    assert block.index("<thead><tr><th>When</th>") < block.index("<tr class='recorded'>")
    rows = re.findall(r"<tr class='recorded'><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td></tr>", block)
    assert [(who, what, html.unescape(why)) for _, who, what, why in rows] == [
        ("pc-smith", "further enquiries", "check CCTV <rear>"),
        ("pc-smith", "ruled out", "CCTV shows him at home")]
    assert all(when.endswith(" UTC") for when, *_ in rows)
    detail = client.get(f"/hits/{hid}", headers=auth).json()
    assert [(x["user"], x["outcome"]) for x in detail["decisions"]] == [
        ("pc-smith", "further_enquiries"), ("pc-smith", "ruled_out")]
