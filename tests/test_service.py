"""The officer service against a real hit store (SQLite file) and trail store built from the
sample data: hits, need-to-know, audit, decisions, positions, proximity, report, page."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from service_world import RULES, auth
from sqlalchemy import text

from trailmatch.hitstore import repository
from trailmatch.match import match

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def ham_hit(world, i: int = 0) -> pd.Series:
    return world.hits[world.hits["police_force"] == "Hampshire"].iloc[i]


def sussex_only_hit(world) -> pd.Series:
    """A Hampshire hit whose subject has no Sussex hit anywhere near its time."""
    sus = world.hits[world.hits["police_force"] == "Sussex"]
    for h in world.hits[world.hits["police_force"] == "Hampshire"].itertuples():
        near = sus[(sus["subject"] == h.subject)
                   & ((sus["time_from"] - h.time_to).abs() < pd.Timedelta("3D"))]
        if near.empty:
            return world.hits.loc[h.Index]
    raise AssertionError("the world has no such hit")


def audit_rows(app) -> list[dict]:
    return repository.list_audit(app.state.engine, limit=100_000)


def loc_of(response) -> list[str]:
    return [tuple(d["loc"]) for d in response.json()["detail"]]


# --- authentication ---------------------------------------------------------------------------

def test_health_and_page_need_no_token(client):
    assert client.get("/health").json() == {"status": "ok", "database": "sqlite"}
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/vendor/leaflet/leaflet.js" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "connect-src 'self'" in csp
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/app.js").status_code == 200


def test_page_loads_nothing_from_elsewhere(client):
    for path in ("/", "/static/app.js", "/static/tiles.js", "/static/app.css"):
        body = client.get(path).text
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", body), path
        assert "https://" not in body and "http://" not in body, path
    config = client.get("/config").json()
    assert config.pop("crime_types")["TFMV"] == "Theft from a motor vehicle"
    assert config == {"tile_url": None, "tile_attribution": "", "tiles_need_token": False,
                      "tile_min_zoom": None, "tile_max_zoom": None, "tile_bounds": None}


def test_api_docs_are_served_by_the_app(client):
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "trailmatch officer service"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz"])
def test_no_or_bad_token_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    r = client.get("/me", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_revoked_token_is_401(client, world):
    assert client.get("/me", headers=auth(world, "revoked")).status_code == 401
    assert client.get("/me", headers=auth(world, "ham")).json() == {
        "name": "pc-ham", "role": "officer", "force": "Hampshire"}


# --- hits -------------------------------------------------------------------------------------

def test_officer_lists_the_hits_of_their_crime(client, world):
    h = ham_hit(world)
    r = client.get("/hits", params={"police_force": "Hampshire",
                                     "crime_reference": h.crime_reference},
                   headers=auth(world, "ham"))
    assert r.status_code == 200
    expected = world.hits[(world.hits["police_force"] == "Hampshire")
                          & (world.hits["crime_reference"] == h.crime_reference)]
    got = r.json()
    assert sorted(x["id"] for x in got) == sorted(expected["id"].tolist())
    one = next(x for x in got if x["id"] == h.id)
    assert one["subject"] == h.subject
    assert one["min_distance_m"] == pytest.approx(h.min_distance_m)
    assert one["fixes_in"] == h.fixes_in


def test_a_days_hits(client, world):
    day = ham_hit(world).time_from.date()
    r = client.get("/hits", params={"police_force": "Hampshire", "date": str(day)},
                   headers=auth(world, "ham"))
    assert r.status_code == 200
    start = pd.Timestamp(day, tz="UTC")
    h = world.hits[(world.hits["police_force"] == "Hampshire")
                   & (world.hits["time_from"] < start + pd.Timedelta("1D"))
                   & (world.hits["time_to"] >= start)]
    assert sorted(x["id"] for x in r.json()) == sorted(h["id"].tolist())
    assert len(h) > 0


def test_officer_cannot_list_another_forces_hits(client, world):
    h = ham_hit(world)
    for ref in (h.crime_reference, "no/such/ref"):  # same answer whether it exists or not
        r = client.get("/hits", params={"police_force": "Hampshire", "crime_reference": ref},
                       headers=auth(world, "sus"))
        assert r.status_code == 403


def test_unknown_crime_reference_is_404(client, world):
    r = client.get("/hits", params={"police_force": "Hampshire", "crime_reference": "9/9/9"},
                   headers=auth(world, "ham"))
    assert r.status_code == 404


@pytest.mark.parametrize("params,field", [
    ({"police_force": "Hampshire"}, ("query", "crime_reference")),
    ({"police_force": "Hampshire", "crime_reference": "x", "date": "2025-01-23"},
     ("query", "crime_reference")),
    ({"crime_reference": "x"}, ("query", "police_force")),
    ({"police_force": "Hampshire", "date": "2025-13-45"}, ("query", "date")),
])
def test_bad_hit_queries_are_422_naming_the_field(client, world, params, field):
    r = client.get("/hits", params=params, headers=auth(world, "ham"))
    assert r.status_code == 422
    assert field in loc_of(r)


def test_hit_detail_shows_the_path_and_the_fixes_in_the_vicinity(client, world):
    for i in range(5):
        h = ham_hit(world, i)
        r = client.get(f"/hits/{h.id}", headers=auth(world, "ham"))
        assert r.status_code == 200
        d = r.json()
        # the fixes flagged in the vicinity are exactly the ones the hit counted
        assert sum(f["in_vicinity"] for f in d["fixes"]) == h.fixes_in
        tr = world.trails[world.trails["subject"] == h.subject]
        in_window = tr[(tr["time"] >= h.time_from) & (tr["time"] <= h.time_to)]
        assert sum(f["in_window"] for f in d["fixes"]) == len(in_window)
        assert d["closest"]["distance_m"] == pytest.approx(h.min_distance_m, abs=0.05)
        assert d["crime"]["lat"] == pytest.approx(h.crime_lat)
        assert all(len(line) >= 2 for line in d["path"]["coordinates"])


def test_another_forces_hit_looks_exactly_like_a_missing_one(client, world):
    h = ham_hit(world)
    other = client.get(f"/hits/{h.id}", headers=auth(world, "sus"))
    missing = client.get("/hits/999999", headers=auth(world, "sus"))
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    for suffix in ("/report", "/decisions"):
        assert client.get(f"/hits/{h.id}{suffix}", headers=auth(world, "sus")).status_code == 404
    r = client.post(f"/hits/{h.id}/decisions", headers=auth(world, "sus"),
                    json={"outcome": "ruled_in", "rationale": "not mine"})
    assert r.status_code == 404


@pytest.mark.parametrize("hit_id", ["0", "-3", "abc", "1.5", str(2**70)])
def test_bad_hit_ids_are_422(client, world, hit_id):
    r = client.get(f"/hits/{hit_id}", headers=auth(world, "ham"))
    assert r.status_code == 422
    assert ("path", "hit_id") in loc_of(r)


def test_report_is_the_printable_evidence_of_one_hit(client, world, app):
    h = ham_hit(world)
    r = client.get(f"/hits/{h.id}/report", headers=auth(world, "ham"))
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert h.crime_reference in r.text and str(h.subject) in r.text
    assert "<svg" in r.text
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", r.text)
    assert any(a["action"] == "hit.report" and a["target"] == f"hit:{h.id}"
               for a in audit_rows(app))


# --- decisions --------------------------------------------------------------------------------

def test_decisions_are_appended_with_who_and_when(client, world, app):
    h = ham_hit(world, 1)
    before = len(client.get(f"/hits/{h.id}/decisions", headers=auth(world, "ham")).json())
    first = client.post(f"/hits/{h.id}/decisions", headers=auth(world, "ham"),
                        json={"outcome": "further_enquiries", "rationale": "check CCTV"})
    second = client.post(f"/hits/{h.id}/decisions", headers=auth(world, "ham"),
                         json={"outcome": "ruled_out", "rationale": "  at work all day  "})
    assert first.status_code == second.status_code == 201
    assert second.json()["rationale"] == "at work all day"
    listed = client.get(f"/hits/{h.id}/decisions", headers=auth(world, "ham")).json()
    assert len(listed) == before + 2
    assert [d["outcome"] for d in listed[-2:]] == ["further_enquiries", "ruled_out"]
    assert all(d["user"] == "pc-ham" for d in listed[-2:])
    assert listed[-1]["decided_at"] >= listed[-2]["decided_at"]
    recorded = [a for a in audit_rows(app) if a["action"] == "decision.record"]
    assert any(a["target"].startswith(f"hit:{h.id} decision:{second.json()['id']}")
               for a in recorded)


@pytest.mark.parametrize("body,field", [
    ({"outcome": "ruled_out", "rationale": "   "}, ("body", "rationale")),
    ({"outcome": "ruled_out"}, ("body", "rationale")),
    ({"outcome": "guilty", "rationale": "x"}, ("body", "outcome")),
    ({"rationale": "x"}, ("body", "outcome")),
    ({"outcome": "ruled_out", "rationale": "x", "extra": 1}, ("body", "extra")),
])
def test_bad_decisions_are_422_naming_the_field(client, world, body, field):
    h = ham_hit(world, 1)
    r = client.post(f"/hits/{h.id}/decisions", headers=auth(world, "ham"), json=body)
    assert r.status_code == 422
    assert field in loc_of(r)


# --- positions --------------------------------------------------------------------------------

def window_params(t0, t1) -> dict:
    return {"from": pd.Timestamp(t0).isoformat(), "to": pd.Timestamp(t1).isoformat()}


def test_officer_sees_positions_around_their_crime(client, world, app):
    h = ham_hit(world)
    t0, t1 = h.time_from - pd.Timedelta("1h"), h.time_to + pd.Timedelta("1h")
    r = client.get(f"/subjects/{h.subject}/positions", params=window_params(t0, t1),
                   headers=auth(world, "ham"))
    assert r.status_code == 200
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    points = [f for f in fc["features"] if f["geometry"]["type"] == "Point"]
    tr = world.trails[(world.trails["subject"] == h.subject) & (world.trails["time"] >= t0)
                      & (world.trails["time"] <= t1)]
    assert len(points) == len(tr)
    lon, lat = points[0]["geometry"]["coordinates"]
    assert 50 < lat < 52 and -2 < lon < -1
    assert any(a["action"] == "positions.read" and a["target"].startswith(f"subject:{h.subject}")
               for a in audit_rows(app))


def test_positions_outside_need_to_know_are_403(client, world, app):
    h = sussex_only_hit(world)
    params = window_params(h.time_from, h.time_to)
    # another force's officer: the subject has no hit on their crimes
    assert client.get(f"/subjects/{h.subject}/positions", params=params,
                      headers=auth(world, "sus")).status_code == 403
    # a subject that does not exist answers the same
    assert client.get("/subjects/nobody/positions", params=params,
                      headers=auth(world, "sus")).status_code == 403
    # their own crime's subject, but far from any of their crimes (before the sample week)
    far = window_params(h.time_from - pd.Timedelta("10D"), h.time_to - pd.Timedelta("10D"))
    assert client.get(f"/subjects/{h.subject}/positions", params=far,
                      headers=auth(world, "ham")).status_code == 403
    assert any(a["action"] == "positions.read.denied" and a["user_name"] == "pc-sus"
               for a in audit_rows(app))


@pytest.mark.parametrize("shift,length,field", [
    (0, "49h", ("query", "to")),  # longer than 48 hours
    (0, "-1h", ("query", "to")),  # to before from
])
def test_bad_position_windows_are_422(client, world, shift, length, field):
    h = ham_hit(world)
    t0 = h.time_from
    r = client.get(f"/subjects/{h.subject}/positions",
                   params=window_params(t0, t0 + pd.Timedelta(length)),
                   headers=auth(world, "proc"))
    assert r.status_code == 422
    assert field in loc_of(r)


def test_positions_must_lie_inside_the_monitoring(client, world):
    h = ham_hit(world)
    first = world.trails[world.trails["subject"] == h.subject]["time"].min()
    r = client.get(f"/subjects/{h.subject}/positions",
                   params=window_params(first - pd.Timedelta("2h"), first + pd.Timedelta("1h")),
                   headers=auth(world, "proc"))
    assert r.status_code == 422
    assert ("query", "from") in loc_of(r)


@pytest.mark.parametrize("value", ["yesterday", "2025-01-20T25:00:00", "99999-01-01T00:00:00"])
def test_unusable_instants_are_422(client, world, value):
    r = client.get("/subjects/x/positions", params={"from": value, "to": "2025-01-21T00:00:00Z"},
                   headers=auth(world, "proc"))
    assert r.status_code == 422
    assert ("query", "from") in loc_of(r)


# --- proximity --------------------------------------------------------------------------------

def test_proximity_agrees_with_the_matching_engine(client, world, app):
    h = ham_hit(world)
    crime = world.crimes[(world.crimes["police_force"] == "Hampshire")
                         & (world.crimes["crime_reference"] == h.crime_reference)]
    expected = match(world.trails, crime, RULES).set_index("subject")
    params = {"lat": float(crime["lat"].iloc[0]), "lon": float(crime["lon"].iloc[0]),
              **window_params(crime["time_from"].iloc[0], crime["time_to"].iloc[0])}
    r = client.get("/proximity", params=params, headers=auth(world, "proc"))
    assert r.status_code == 200
    got = {s["subject"]: s for s in r.json()["subjects"]}
    assert set(got) == set(expected.index)
    for subject, row in expected.iterrows():
        # the place goes through lat/lon and back: allow projection round-off
        assert got[subject]["min_distance_m"] == pytest.approx(row.min_distance_m, abs=0.05)
        assert got[subject]["fixes_in"] == row.fixes_in
        assert got[subject]["duration_s"] == pytest.approx(row.duration_s, abs=0.5)
    # the same place by grid reference
    place = r.json()["place"]
    grid = {"easting": place["easting"], "northing": place["northing"],
            "from": params["from"], "to": params["to"]}
    r2 = client.get("/proximity", params=grid, headers=auth(world, "proc"))
    assert {s["subject"] for s in r2.json()["subjects"]} == set(got)
    # an officer may ask about their own crime's place and time
    assert client.get("/proximity", params=params, headers=auth(world, "ham")).status_code == 200
    assert any(a["action"] == "proximity.query" and a["user_name"] == "pc-ham"
               for a in audit_rows(app))


def test_officer_proximity_elsewhere_is_403(client, world):
    h = sussex_only_hit(world)
    params = {"lat": float(h.crime_lat), "lon": float(h.crime_lon),
              **window_params(h.time_from, h.time_to)}
    assert client.get("/proximity", params=params, headers=auth(world, "sus")).status_code == 403
    moved = dict(params, lat=float(h.crime_lat) + 0.05)  # ~5.5 km north of the crime
    assert client.get("/proximity", params=moved, headers=auth(world, "ham")).status_code == 403


@pytest.mark.parametrize("params,field", [
    ({}, ("query", "lat")),
    ({"lat": 50.9}, ("query", "lon")),
    ({"lat": 50.9, "lon": -1.4, "easting": 440000, "northing": 110000}, ("query", "easting")),
    ({"easting": 440000}, ("query", "northing")),
    ({"lat": 95, "lon": -1.4}, ("query", "lat")),
    ({"lat": "nan", "lon": -1.4}, ("query", "lat")),
    ({"lat": 50.9, "lon": -1.4, "radius": 0}, ("query", "radius")),
    ({"lat": 50.9, "lon": -1.4, "radius": "inf"}, ("query", "radius")),
])
def test_bad_proximity_queries_are_422(client, world, params, field):
    params = {"from": "2025-01-23T10:00:00Z", "to": "2025-01-23T11:00:00Z", **params}
    r = client.get("/proximity", params=params, headers=auth(world, "proc"))
    assert r.status_code == 422
    assert field in loc_of(r)


# --- processing views and the audit log -------------------------------------------------------

def test_runs_and_audit_are_for_the_processing_team(client, world):
    assert client.get("/runs", headers=auth(world, "ham")).status_code == 403
    assert client.get("/audit", headers=auth(world, "ham")).status_code == 403
    runs = client.get("/runs", headers=auth(world, "proc")).json()
    assert runs[0]["status"] == "ok" and runs[0]["rules"]["radius_m"] == 100


def test_every_read_is_audited_with_who_what_and_where(client, world, app):
    h = ham_hit(world, 2)
    n = len(audit_rows(app))
    client.get(f"/hits/{h.id}", headers=auth(world, "ham"))
    client.get(f"/hits/{h.id}", headers=auth(world, "sus"))  # refused, and audited as such
    rows = audit_rows(app)[: len(audit_rows(app)) - n]
    assert {(a["user_name"], a["role"], a["police_force"], a["action"], a["target"],
             a["client_address"]) for a in rows} == {
        ("pc-ham", "officer", "Hampshire", "hit.read", f"hit:{h.id}", "testclient"),
        ("pc-sus", "officer", "Sussex", "hit.read.denied", f"hit:{h.id}", "testclient"),
    }
    assert all(isinstance(a["at"], dt.datetime) and a["at"].tzinfo for a in rows)
    got = client.get("/audit", params={"user": "pc-sus", "action": "hit.read.denied"},
                     headers=auth(world, "proc")).json()
    assert got and all(a["user"] == "pc-sus" for a in got)


def test_no_route_changes_the_audit_log(app, client, world):
    for route in app.routes:
        path = getattr(route, "path", "")
        if "audit" in path:
            assert getattr(route, "methods", {"GET"}) <= {"GET", "HEAD"}, path
    for method in ("put", "patch", "delete", "post"):
        r = client.request(method.upper(), "/audit", headers=auth(world, "proc"))
        assert r.status_code == 405
    # and the database refuses it too
    refused = pytest.raises(Exception, match="(?i)append-only|not allowed|refuse|abort")
    with refused, app.state.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit"))
    assert len(audit_rows(app)) > 0


def test_decisions_cannot_be_changed_through_the_api(client, world):
    h = ham_hit(world, 1)
    for method in ("PUT", "PATCH", "DELETE"):
        r = client.request(method, f"/hits/{h.id}/decisions", headers=auth(world, "ham"))
        assert r.status_code == 405


def test_the_hit_store_holds_what_the_api_shows(app, world):
    with app.state.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM hits WHERE status = 'current'")).scalar()
    assert n == len(world.hits)
    assert np.isfinite(world.hits["min_distance_m"]).all()
