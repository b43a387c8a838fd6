"""The service over what the real nightly job leaves behind (``trailmatch demo``: ingest, the
persisted day indexes, the hit store): every hit of a force opens, its fixes in the vicinity are
exactly its ``fixes_in``, its report renders, proximity at the crime finds its subject, and its
positions are readable around the crime."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.app import create_app
from trailmatch.cli import main
from trailmatch.hitstore.users import add_user

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out)]) == 0
    return out / "store"


def test_every_hit_of_a_force_through_the_service(demo_store):
    app = create_app(demo_store)
    engine = app.state.engine
    with engine.connect() as conn:
        force = conn.execute(text("SELECT police_force FROM hits WHERE status = 'current' "
                                  "GROUP BY police_force ORDER BY count(*) DESC")).scalar()
        hits = conn.execute(text("SELECT id, crime_reference, subject, fixes_in FROM hits "
                                 "WHERE status = 'current' AND police_force = :f"),
                            {"f": force}).all()
    assert hits
    officer = {"Authorization": f"Bearer {add_user(engine, 'pc-demo', 'officer', force)[1]}"}
    client = TestClient(app)
    for hit in hits:
        detail = client.get(f"/hits/{hit.id}", headers=officer)
        assert detail.status_code == 200, detail.text
        d = detail.json()
        assert sum(f["in_vicinity"] for f in d["fixes"]) == hit.fixes_in
        assert client.get(f"/hits/{hit.id}/report", headers=officer).status_code == 200
        crime = d["crime"]
        near = client.get("/proximity", headers=officer, params={
            "lat": crime["lat"], "lon": crime["lon"], "from": d["window_from"],
            "to": d["window_to"], "radius": d["radius_m"]})
        assert near.status_code == 200, near.text
        assert hit.subject in [s["subject"] for s in near.json()["subjects"]]
        positions = client.get(f"/subjects/{hit.subject}/positions", headers=officer,
                               params={"from": d["window_from"], "to": d["window_to"]})
        assert positions.status_code == 200, positions.text
    engine.dispose()
