"""The service's lean hit list (``repository.hit_list_for_crime``, read on every ``GET /hits``)
is ``hits_for_crime`` cut to ``HIT_LIST_COLUMNS``: the same hits, in the same order, for every
crime of both forces, withdrawn hits left out, and every field the API's ``HitOut`` shows."""

from __future__ import annotations

from service_world import build_world
from sqlalchemy import update

from service.models import HitOut
from trailmatch.hitstore import open_store, repository
from trailmatch.hitstore.schema import hits


def test_hit_list_is_hits_for_crime_cut_to_the_listed_columns(tmp_path):
    world = build_world(tmp_path)
    engine = open_store(tmp_path)
    assert set(HitOut.model_fields) <= set(repository.HIT_LIST_COLUMNS)
    gone = int(world.hits["id"].iloc[0])
    with engine.begin() as conn:
        conn.execute(update(hits).where(hits.c.id == gone).values(status="withdrawn"))
    listed = 0
    for force, ref in world.crimes[["police_force", "crime_reference"]].drop_duplicates() \
            .itertuples(index=False):
        full = repository.hits_for_crime(engine, force, ref)
        lean = repository.hit_list_for_crime(engine, force, ref)
        assert lean == [{k: r[k] for k in repository.HIT_LIST_COLUMNS} for r in full]
        assert gone not in {r["id"] for r in lean}
        listed += len(lean)
    assert listed == len(world.hits) - 1 > 0
    engine.dispose()
