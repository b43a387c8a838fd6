"""The day's list of hits (``GET /hits?date=``): filtered by crime type and batch, sorted by
time, distance, crime type and review status, paged, on the server; each row with its crime's
batch and window and its review status. Need-to-know and the audit log as for every list; and
signing out (``POST /signout``), audited, the token left valid."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from service_world import RULES, auth, build_world

from service.app import create_app
from trailmatch.hitstore import repository
from trailmatch.match import match

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LATE_BATCH = "HAM20250128"


def add_late_batch(world) -> list[int]:
    """A second Hampshire batch: copies of two hit crimes under new references, matched in a
    second run. Returns the new hits' ids."""
    engine = repository_engine(world)
    try:
        ham = world.hits[world.hits["police_force"] == "Hampshire"]
        refs = list(dict.fromkeys(ham["crime_reference"]))[:2]
        late = world.crimes[(world.crimes["police_force"] == "Hampshire")
                            & world.crimes["crime_reference"].isin(refs)].copy()
        late["crime_reference"] = ["44/9000" + str(i) + "/25" for i in range(len(late))]
        run_id = repository.start_run(engine, "nightly", RULES.to_dict(), "test")
        key = repository.add_batch(engine, police_force="Hampshire", batch_id=LATE_BATCH,
                                   file_name="late.csv", file_sha256="b" * 64, run_id=run_id,
                                   rows_read=len(late), accepted=len(late), rejected=0)
        repository.store_crimes(engine, key, LATE_BATCH,
                                late.drop(columns=["batch_id"]).to_dict("records"))
        current = repository.current_crimes(engine)
        current = current[current["crime_reference"].isin(late["crime_reference"])]
        found = match(world.trails, current, RULES)
        ids = current.set_index("crime_reference")["id"]
        found["crime_id"] = [int(ids[r]) for r in found["crime_reference"]]
        saved = repository.save_hits(engine, run_id, current, found)
        repository.finish_run(engine, run_id, "ok", {"hits": len(found)}, "late batch")
        return saved["new"]
    finally:
        engine.dispose()


def repository_engine(world):
    from trailmatch.hitstore import open_store

    return open_store(world.store)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build_world(tmp_path_factory.mktemp("store"))
    w.late_ids = add_late_batch(w)
    assert len(w.late_ids) >= 2
    return w


def audit_rows(app) -> list[dict]:
    return repository.list_audit(app.state.engine, limit=100_000)


def expected_day(app, force: str, day) -> pd.DataFrame:
    """The force's current hits whose crime window meets the UTC day, from the hit store."""
    engine = app.state.engine
    current = repository.current_crimes(engine)
    frame = repository.hits_for_crime_ids(engine, current["id"].tolist())
    start = pd.Timestamp(day, tz="UTC")
    return frame[(frame["police_force"] == force)
                 & (frame["time_from"] < start + pd.Timedelta("1D"))
                 & (frame["time_to"] >= start)]


def busiest_day(world):
    ham = world.hits[world.hits["police_force"] == "Hampshire"]
    return ham["time_from"].dt.date.value_counts().index[0]


def day_list(client, world, who="ham", **params) -> list[dict]:
    r = client.get("/hits", params={"police_force": "Hampshire", "date": str(busiest_day(world)),
                                     **params}, headers=auth(world, who))
    assert r.status_code == 200, r.text
    assert int(r.headers["x-total-count"]) >= len(r.json())
    return r.json()


def test_the_days_list_has_every_hit_of_the_day_with_its_batch_and_review(client, world, app):
    day = busiest_day(world)
    got = day_list(client, world)
    want = expected_day(app, "Hampshire", day)
    assert sorted(x["id"] for x in got) == sorted(want["id"].tolist()) and len(got) > 3
    # default order: crime reference, then subject
    assert [(x["crime_reference"], x["subject"]) for x in got] == sorted(
        (x["crime_reference"], x["subject"]) for x in got)
    batch = want.set_index("id")["batch_id"]
    for row in got:
        assert row["batch_id"] == batch[row["id"]]
        assert row["review"] is None and row["decisions"] == 0 and row["reviewed_by"] is None
        assert row["time_from"].endswith("Z")
    # the crime list leaves the day's extra fields out
    one = client.get("/hits", params={"police_force": "Hampshire",
                                       "crime_reference": got[0]["crime_reference"]},
                     headers=auth(world, "ham")).json()
    assert one and not {"review", "batch_id", "decisions"} & set(one[0])
    assert "x-total-count" not in client.get(
        "/hits", params={"police_force": "Hampshire", "crime_reference": got[0]["crime_reference"]},
        headers=auth(world, "ham")).headers


def test_filters_by_crime_type_and_batch(client, world, app):
    day = busiest_day(world)
    want = expected_day(app, "Hampshire", day)
    types = want["crime_type"].value_counts()
    kind = types.index[0]
    got = day_list(client, world, crime_type=kind.lower())  # codes in any case
    assert sorted(x["id"] for x in got) == sorted(want.loc[want["crime_type"] == kind, "id"])
    assert {x["crime_type"] for x in got} == {kind}
    late_day = pd.Timestamp(repository.get_hit(app.state.engine, world.late_ids[0])["time_from"])
    r = client.get("/hits", params={"police_force": "Hampshire", "date": str(late_day.date()),
                                     "batch_id": LATE_BATCH}, headers=auth(world, "ham"))
    late = r.json()
    assert late and {x["batch_id"] for x in late} == {LATE_BATCH}
    assert {x["id"] for x in late} <= set(world.late_ids)
    everything = client.get("/hits", params={"police_force": "Hampshire",
                                              "date": str(late_day.date())},
                            headers=auth(world, "ham")).json()
    assert len(everything) > len(late)
    assert day_list(client, world, batch_id="NO-SUCH-BATCH") == []
    assert day_list(client, world, crime_type="BIAD", batch_id="NO-SUCH-BATCH") == []


@pytest.mark.parametrize("sort,key", [
    ("time", lambda x: x["closest_time"]),
    ("distance", lambda x: x["min_distance_m"]),
    ("crime_type", lambda x: x["crime_type"]),
])
def test_sorted_on_the_server(client, world, sort, key):
    up = day_list(client, world, sort=sort)
    down = day_list(client, world, sort=sort, descending="true")
    assert [key(x) for x in up] == sorted(key(x) for x in up)
    assert [key(x) for x in down] == sorted((key(x) for x in down), reverse=True)
    assert sorted(x["id"] for x in up) == sorted(x["id"] for x in down)
    # ties in a stable order: crime reference, then subject
    for a, b in zip(up, up[1:], strict=False):
        if key(a) == key(b):
            assert (a["crime_reference"], a["subject"]) <= (b["crime_reference"], b["subject"])


def test_review_status_is_the_latest_decision_and_sorts_unreviewed_first(client, world, app):
    rows = day_list(client, world)
    first, second = rows[0]["id"], rows[1]["id"]
    for hit_id, outcome in ((first, "further_enquiries"), (first, "ruled_out"),
                            (second, "ruled_in")):
        r = client.post(f"/hits/{hit_id}/decisions", headers=auth(world, "ham"),
                        json={"outcome": outcome, "rationale": "checked " + outcome})
        assert r.status_code == 201
    by_id = {x["id"]: x for x in day_list(client, world)}
    assert by_id[first]["review"] == "ruled_out" and by_id[first]["decisions"] == 2
    assert by_id[first]["reviewed_by"] == "pc-ham" and by_id[first]["reviewed_at"].endswith("Z")
    assert by_id[second]["review"] == "ruled_in" and by_id[second]["decisions"] == 1
    reviewed = day_list(client, world, sort="review")
    assert [x["review"] for x in reviewed[-2:]] == ["ruled_in", "ruled_out"]
    assert all(x["review"] is None for x in reviewed[:-2])
    assert [x["review"] for x in day_list(client, world, sort="review", descending="true")[:2]] \
        == ["ruled_out", "ruled_in"]


def test_paged_with_the_total_in_a_header(client, world):
    everything = day_list(client, world, sort="distance")
    r = client.get("/hits", params={"police_force": "Hampshire", "date": str(busiest_day(world)),
                                     "sort": "distance", "limit": 2, "offset": 1},
                   headers=auth(world, "ham"))
    assert r.headers["x-total-count"] == str(len(everything))
    assert [x["id"] for x in r.json()] == [x["id"] for x in everything[1:3]]


@pytest.mark.parametrize("params,field", [
    ({"sort": "colour"}, "sort"),
    ({"limit": 0}, "limit"),
    ({"limit": 100_000}, "limit"),
    ({"offset": -1}, "offset"),
    ({"crime_type": ""}, "crime_type"),
])
def test_bad_list_queries_are_422_naming_the_field(client, world, params, field):
    r = client.get("/hits", params={"police_force": "Hampshire", "date": "2025-01-23", **params},
                   headers=auth(world, "ham"))
    assert r.status_code == 422
    assert ("query", field) in [tuple(d["loc"]) for d in r.json()["detail"]]


def test_an_officer_lists_only_their_own_forces_day_and_refusals_are_audited(client, world, app):
    day = str(busiest_day(world))
    n = len(audit_rows(app))
    r = client.get("/hits", params={"police_force": "hampshire", "date": day,
                                     "crime_type": "RB", "batch_id": "HAM20250127"},
                   headers=auth(world, "sus"))
    assert r.status_code == 403
    sussex = client.get("/hits", params={"police_force": "Sussex", "date": day},
                        headers=auth(world, "sus")).json()
    assert {x["police_force"] for x in sussex} <= {"Sussex"}
    processing = client.get("/hits", params={"police_force": "Hampshire", "date": day},
                            headers=auth(world, "proc"))
    assert processing.status_code == 200 and processing.json()
    new = audit_rows(app)[: len(audit_rows(app)) - n]
    mine = {(a["user_name"], a["action"], a["target"]) for a in new}
    assert ("pc-sus", "hits.list.denied",
            f"day:Hampshire/{day} crime_type:RB batch:HAM20250127") in mine
    assert ("pc-sus", "hits.list", f"day:Sussex/{day}") in mine
    assert ("central", "hits.list", f"day:Hampshire/{day}") in mine


def test_sign_out_is_audited_and_the_token_stays_the_users(client, world, app):
    r = client.post("/signout", headers=auth(world, "ham"))
    assert r.status_code == 204 and r.content == b""
    last = audit_rows(app)[0]
    assert (last["user_name"], last["action"]) == ("pc-ham", "session.signout")
    assert client.get("/me", headers=auth(world, "ham")).status_code == 200
    assert client.post("/signout").status_code == 401


def test_the_page_is_told_the_crime_types(client):
    types = client.get("/config").json()["crime_types"]
    assert types["BIAD"] == "Burglary in a dwelling" and len(types) == 7


def test_the_days_list_on_both_backends(db_url, tmp_path):
    """The correlated review columns and the sort by review on SQLite and PostgreSQL."""
    w = build_world(tmp_path / "store", db_url)
    app = create_app(w.store, db_url)
    c = TestClient(app)
    ham = {"Authorization": f"Bearer {w.tokens['ham']}"}
    day = str(busiest_day(w))
    rows = c.get("/hits", params={"police_force": "Hampshire", "date": day}, headers=ham).json()
    assert c.post(f"/hits/{rows[0]['id']}/decisions", headers=ham,
                  json={"outcome": "ruled_out", "rationale": "alibi"}).status_code == 201
    by_review = c.get("/hits", params={"police_force": "Hampshire", "date": day,
                                        "sort": "review", "descending": "true"},
                      headers=ham).json()
    assert by_review[0]["id"] == rows[0]["id"] and by_review[0]["review"] == "ruled_out"
    assert by_review[0]["reviewed_at"].endswith("Z") and by_review[0]["reviewed_by"] == "pc-ham"
    assert all(x["review"] is None for x in by_review[1:])
    app.state.engine.dispose()
