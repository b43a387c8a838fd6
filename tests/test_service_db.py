"""The service on both hit-store backends: SQLite always, PostgreSQL when a server is configured
(``db_url`` fixture in conftest; skipped with the reason otherwise)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from service_world import auth, build_world
from sqlalchemy import text

from service.app import create_app
from trailmatch.hitstore import repository

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_service_round_trip(db_url, tmp_path):
    world = build_world(tmp_path / "store", db_url)
    app = create_app(world.store, db_url)
    client = TestClient(app)
    ham, sus = auth(world, "ham"), auth(world, "sus")
    h = world.hits[world.hits["police_force"] == "Hampshire"].iloc[0]

    listed = client.get("/hits", params={"police_force": "Hampshire",
                                         "crime_reference": h.crime_reference}, headers=ham)
    assert listed.status_code == 200 and h.id in [x["id"] for x in listed.json()]
    detail = client.get(f"/hits/{h.id}", headers=ham).json()
    assert sum(f["in_vicinity"] for f in detail["fixes"]) == h.fixes_in
    assert client.get(f"/hits/{h.id}", headers=sus).status_code == 404
    made = client.post(f"/hits/{h.id}/decisions", headers=ham,
                       json={"outcome": "ruled_in", "rationale": "seen at the scene"})
    assert made.status_code == 201
    assert made.json()["decided_at"].endswith("Z")
    assert client.get("/me", headers={"Authorization": "Bearer nope"}).status_code == 401

    rows = repository.list_audit(app.state.engine)
    actions = {(a["user_name"], a["action"]) for a in rows}
    assert {("pc-ham", "hits.list"), ("pc-ham", "hit.read"), ("pc-sus", "hit.read.denied"),
            ("pc-ham", "decision.record")} <= actions
    refused = pytest.raises(Exception, match="(?i)append-only|not allowed|refuse|abort")
    with refused, app.state.engine.begin() as conn:
        conn.execute(text("UPDATE audit SET target = 'x'"))
    app.state.engine.dispose()
