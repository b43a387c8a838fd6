"""``GET /coverage``: the coverage of one crime, with the same need-to-know as ``GET /hits``."""

from __future__ import annotations

import pandas as pd
import pytest
from service_world import auth

from trailmatch.hitstore import repository

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_officer_gets_the_coverage_of_their_crime(client, world, app):
    hit = world.hits[world.hits["police_force"] == "Hampshire"].iloc[0]
    r = client.get("/coverage", params={"police_force": "Hampshire",
                                        "crime_reference": hit["crime_reference"]},
                   headers=auth(world, "ham"))
    assert r.status_code == 200, r.text
    rows = pd.DataFrame(r.json())
    assert set(rows["subject"]) == set(world.trails["subject"])
    assert (rows["crime_reference"] == hit["crime_reference"]).all()
    assert rows.set_index("subject").loc[hit["subject"], "status"] == "hit"
    hits = {h["subject"] for h in repository.hits_for_crime(app.state.engine, "Hampshire",
                                                            hit["crime_reference"])}
    assert set(rows.loc[rows["status"] == "hit", "subject"]) == hits
    ce = rows[rows["status"] == "cannot_exclude"]
    assert ce["worst_gap_from"].notna().all() and ce["min_speed_needed_mps"].notna().all()
    last = repository.list_audit(app.state.engine, limit=1)[0]
    assert (last["action"], last["target"]) == (
        "coverage", f"crime:Hampshire/{hit['crime_reference']}")


def test_every_status_is_reachable_through_the_api(client, world):
    seen = set()
    for ref in world.crimes.loc[world.crimes["police_force"] == "Hampshire",
                                "crime_reference"].iloc[:40]:
        r = client.get("/coverage", params={"police_force": "Hampshire", "crime_reference": ref},
                       headers=auth(world, "proc"))
        assert r.status_code == 200
        seen |= {row["status"] for row in r.json()}
    assert {"hit", "excluded", "cannot_exclude", "not_monitored"} <= seen


def test_another_forces_crime_is_403_and_audited(client, world, app):
    ref = world.crimes.loc[world.crimes["police_force"] == "Hampshire", "crime_reference"].iloc[0]
    r = client.get("/coverage", params={"police_force": "Hampshire", "crime_reference": ref},
                   headers=auth(world, "sus"))
    assert r.status_code == 403
    last = repository.list_audit(app.state.engine, limit=1)[0]
    assert last["action"] == "coverage.denied"


@pytest.mark.parametrize(("params", "code"), [
    ({"police_force": "Hampshire", "crime_reference": "no/such/ref"}, 404),
    ({"police_force": "Hampshire"}, 422),
    ({"police_force": "", "crime_reference": "x"}, 422),
])
def test_bad_or_unknown_queries(client, world, params, code):
    assert client.get("/coverage", params=params, headers=auth(world, "ham")).status_code == code


def test_no_token_is_401(client):
    assert client.get("/coverage", params={"police_force": "Hampshire",
                                           "crime_reference": "x"}).status_code == 401


def test_explain_agrees_with_the_coverage_row(client, world, app):
    """``GET /coverage/explain`` for every subject of a few crimes (references with slashes,
    as query parameters): the same status, counts and worst gap as ``GET /coverage``, a
    sentence, and one entry per gap meeting the window; audited with the subject."""
    seen = set()
    for ref in world.crimes.loc[world.crimes["police_force"] == "Hampshire",
                                "crime_reference"].iloc[:12]:
        assert "/" in ref
        rows = client.get("/coverage", params={"police_force": "Hampshire",
                                               "crime_reference": ref},
                          headers=auth(world, "ham")).json()
        for row in rows:
            r = client.get("/coverage/explain",
                           params={"police_force": "Hampshire", "crime_reference": ref,
                                   "subject": row["subject"]}, headers=auth(world, "ham"))
            assert r.status_code == 200, r.text
            got = r.json()
            for k in ("status", "fixes_in_window", "gaps", "worst_gap_from", "worst_gap_to",
                      "min_speed_needed_mps", "covered_fraction"):
                assert got[k] == row[k], (ref, row["subject"], k)
            assert len(got["gaps_meeting_window"]) == row["gaps"]
            assert got["sentence"].startswith(f"Subject {row['subject']}")
            if row["status"] == "excluded":
                assert not any(g["possible"] for g in got["gaps_meeting_window"])
            seen.add(row["status"])
    assert {"hit", "excluded", "cannot_exclude"} <= seen
    last = repository.list_audit(app.state.engine, limit=1)[0]
    assert last["action"] == "coverage.explain"
    assert last["target"] == f"crime:Hampshire/{ref} subject:{row['subject']}"


def test_explain_is_for_the_officers_own_force_only(client, world, app):
    ref = world.crimes.loc[world.crimes["police_force"] == "Hampshire", "crime_reference"].iloc[0]
    subject = str(world.trails["subject"].iloc[0])
    params = {"police_force": "Hampshire", "crime_reference": ref, "subject": subject}
    r = client.get("/coverage/explain", params=params, headers=auth(world, "sus"))
    assert r.status_code == 403
    last = repository.list_audit(app.state.engine, limit=1)[0]
    assert (last["action"], last["target"]) == (
        "coverage.explain.denied", f"crime:Hampshire/{ref} subject:{subject}")
    assert client.get("/coverage/explain", params=params).status_code == 401
    assert client.get("/coverage/explain", params={**params, "crime_reference": "no/such"},
                      headers=auth(world, "ham")).status_code == 404
    assert client.get("/coverage/explain", params={"police_force": "Hampshire",
                                                   "crime_reference": ref},
                      headers=auth(world, "ham")).status_code == 422


def test_crimes_placed_before_ostn15_get_503_naming_the_upgrade(client, world, app):
    """A crime version stored before OSTN15 is refused as the CLI refuses it (naming
    ``trailmatch upgrade``), with 503 and an audit row, not a 500."""
    from sqlalchemy import update

    from trailmatch.hitstore.schema import crimes

    hit = world.hits[world.hits["police_force"] == "Hampshire"].iloc[0]
    ref = hit["crime_reference"]
    params = {"police_force": "Hampshire", "crime_reference": ref}
    engine = app.state.engine
    with engine.begin() as conn:
        before = conn.execute(crimes.select().where(crimes.c.crime_reference == ref)).all()
        conn.execute(update(crimes).where(crimes.c.crime_reference == ref)
                     .values(transformation=None))
    try:
        r = client.get("/coverage", params=params, headers=auth(world, "ham"))
        assert r.status_code == 503, r.text
        assert "trailmatch upgrade" in r.json()["detail"]
        last = repository.list_audit(engine, limit=1)[0]
        assert (last["action"], last["target"]) == ("store.needs_upgrade", "GET /coverage")
    finally:
        with engine.begin() as conn:
            for row in before:
                conn.execute(update(crimes).where(crimes.c.id == row.id)
                             .values(transformation=row.transformation))
    assert client.get("/coverage", params=params, headers=auth(world, "ham")).status_code == 200
