"""GET /figures (aggregates, scoped and suppressed for officers) and a hit's case outcomes."""

from __future__ import annotations

import json

import pytest
from service_world import auth

from trailmatch.figures import FIGURE_COLUMNS, SUPPRESSED
from trailmatch.hitstore import repository

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
MONTH = "2025-01"  # the sample batch HAM20250127


def test_processing_sees_every_force_unsuppressed(world, client):
    r = client.get("/figures", params={"month": MONTH}, headers=auth(world, "proc"))
    assert r.status_code == 200
    rows = r.json()
    assert {row["police_force"] for row in rows} == {"Hampshire", "Sussex", "all", "unassigned"}
    assert all(list(row) == FIGURE_COLUMNS for row in rows)
    ham = next(x for x in rows if x["police_force"] == "Hampshire" and x["cohort"] == "all")
    assert ham["hits"] == int((world.hits["police_force"] == "Hampshire").sum())
    assert ham["crimes_received"] == 400
    assert SUPPRESSED not in json.dumps(rows)


def test_an_officer_sees_their_force_only_with_small_counts_withheld(world, client, app):
    r = client.get("/figures", params={"month": MONTH}, headers=auth(world, "sus"))
    assert r.status_code == 200
    rows = r.json()
    assert {row["police_force"] for row in rows} == {"Sussex"}
    sussex_hits = int((world.hits["police_force"] == "Sussex").sum())
    assert 0 < sussex_hits < 5
    assert next(x for x in rows if x["cohort"] == "all")["hits"] == SUPPRESSED
    # aggregates only: no subject appears anywhere in the answer
    body = r.text
    assert not any(f'"{s}"' in body for s in world.hits["subject"].unique())
    actions = [a["action"] for a in repository.list_audit(app.state.engine, user_name="pc-sus")]
    assert "figures.read" in actions


@pytest.mark.parametrize("month", ["2025-13", "2025-1", "next"])
def test_a_bad_month_is_422(world, client, month):
    r = client.get("/figures", params={"month": month}, headers=auth(world, "proc"))
    assert r.status_code == 422


def test_figures_need_a_token(client):
    assert client.get("/figures", params={"month": MONTH}).status_code == 401


def test_outcomes_follow_a_decision_and_stay_within_the_force(world, client, app):
    hit = world.hits[world.hits["police_force"] == "Hampshire"].iloc[0]
    url = f"/hits/{int(hit['id'])}/outcomes"
    body = {"outcome": "arrested", "outcome_date": "2025-02-01", "note": "on warrant"}
    assert client.post(url, json=body, headers=auth(world, "ham")).status_code == 409
    assert client.post(f"/hits/{int(hit['id'])}/decisions", headers=auth(world, "ham"),
                       json={"outcome": "ruled_in", "rationale": "seen on CCTV"}
                       ).status_code == 201
    r = client.post(url, json=body, headers=auth(world, "ham"))
    assert r.status_code == 201 and r.json()["user"] == "pc-ham"
    assert client.post(url, json={**body, "outcome": "charged"},
                       headers=auth(world, "ham")).status_code == 201
    listed = client.get(url, headers=auth(world, "ham")).json()
    assert [o["outcome"] for o in listed] == ["arrested", "charged"]
    # another force's officer: the same answer as for a hit that does not exist
    assert client.get(url, headers=auth(world, "sus")).status_code == 404
    assert client.post(url, json=body, headers=auth(world, "sus")).status_code == 404
    assert client.post(url, json={**body, "outcome": "pardoned"},
                       headers=auth(world, "ham")).status_code == 422
    actions = [a["action"] for a in repository.list_audit(app.state.engine)]
    assert {"outcome.record", "outcomes.read", "outcomes.read.denied",
            "outcome.record.denied", "outcome.record.refused"} <= set(actions)
    # the month's figures now count them
    rows = client.get("/figures", params={"month": MONTH}, headers=auth(world, "proc")).json()
    ham = next(x for x in rows if x["police_force"] == "Hampshire" and x["cohort"] == "all")
    assert ham["outcomes_recorded"] == 2 and ham["outcomes_arrested"] == 1
    assert ham["decisions_ruled_in"] == 1
