"""Stores made before OSTN15 (Helmert x/y): refused with the command that fixes them, and
re-projected once by ``trailmatch upgrade`` to exactly what a fresh OSTN15 ingest gives."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyproj import Transformer

from trailmatch.cli import main
from trailmatch.crs import OSTN15
from trailmatch.ingest.crime_batch import read_crime_batch
from trailmatch.store import Store, StoreNeedsUpgrade
from trailmatch.store.layout import Layout
from trailmatch.store.upgrade import LEGACY_CRIMES as CRIMES_PATH

DAY0, DAY1 = "2025-01-20", "2025-01-27"


def _helmert():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


def _make_legacy(root):
    """What a store written before OSTN15 holds: x/y from pyproj's Helmert (as it installs,
    without the OSTN15 grid) and no transformation in store.json."""
    h = _helmert()
    store = Store(root)
    for day in store.days():
        t = pq.read_table(store.day_path(day))
        x, y = h.transform(t.column("lon").to_numpy(), t.column("lat").to_numpy())
        t = t.set_column(t.schema.get_field_index("x"), "x", pa.array(x))
        t = t.set_column(t.schema.get_field_index("y"), "y", pa.array(y))
        pq.write_table(t, store.day_path(day))  # the day index goes stale: rebuilt on read
    crimes = pq.read_table(root / CRIMES_PATH).to_pandas()
    ll = crimes["latitude"].notna().to_numpy()
    x, y = h.transform(crimes.loc[ll, "longitude"].to_numpy(), crimes.loc[ll, "latitude"]
                       .to_numpy())
    crimes.loc[ll, "x"], crimes.loc[ll, "y"] = x, y
    crimes.to_parquet(root / CRIMES_PATH, index=False)
    meta = json.loads(Layout(root).meta.read_text())
    del meta["transformation"]
    Layout(root).meta.write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, sample_dir):
    root = tmp_path_factory.mktemp("fresh") / "store"
    store = Store(root)
    store.ingest_positions(sample_dir / "positions.csv")
    # crime versions as such a store kept them in its folder (now in the hit store)
    (root / CRIMES_PATH).parent.mkdir()
    read_crime_batch(sample_dir / "crimes.csv").crimes.to_parquet(root / CRIMES_PATH,
                                                                 index=False)
    return root


@pytest.fixture
def legacy(fresh, tmp_path):
    root = tmp_path / "legacy"
    shutil.copytree(fresh, root)
    _make_legacy(root)
    return root


def test_a_fresh_store_records_ostn15(fresh):
    assert json.loads(Layout(fresh).meta.read_text())["transformation"] == OSTN15
    assert Store(fresh).transformation() == OSTN15


def test_legacy_store_is_refused_naming_the_upgrade(legacy, sample_dir, capsys):
    store = Store(legacy)
    assert store.transformation() == "helmert"
    for read in (lambda: store.read_window(DAY0, DAY1),
                 lambda: store.indexed_window(0, 10**18, None)):
        with pytest.raises(StoreNeedsUpgrade, match=r"run `trailmatch upgrade --store .*legacy`"):
            read()
    before = {d: store.day_path(d).read_bytes() for d in store.days()}
    with pytest.raises(StoreNeedsUpgrade):
        store.ingest_positions(sample_dir / "positions.csv")
    assert before == {d: store.day_path(d).read_bytes() for d in store.days()}

    capsys.readouterr()
    rc = main(["match", "--store", str(legacy), "--crimes", str(sample_dir / "crimes.csv"),
               "--out", str(legacy.parent / "hits.csv")])
    err = capsys.readouterr().err
    assert rc == 1 and not (legacy.parent / "hits.csv").exists()
    assert err.count("\n") == 1 and "trailmatch upgrade --store" in err
    assert "Traceback" not in err
    rc = main(["ingest", "positions", str(sample_dir / "positions.csv"), "--store", str(legacy)])
    assert rc == 1 and "trailmatch upgrade --store" in capsys.readouterr().err


def test_upgrade_gives_what_a_fresh_ostn15_ingest_gives(legacy, fresh, capsys):
    old = pq.read_table(Store(legacy).day_path(Store(legacy).days()[0]))
    capsys.readouterr()
    assert main(["upgrade", "--store", str(legacy)]) == 0
    line = capsys.readouterr().err
    assert "helmert -> OSTN15: 7441 fix(es) re-projected in 7 day partition(s)" in line
    assert "400 crime version(s) re-projected (0 outside the cover)" in line
    up, ref = Store(legacy), Store(fresh)
    assert up.transformation() == OSTN15
    assert up.days() == ref.days()
    for day in ref.days():
        a, b = pq.read_table(up.day_path(day)), pq.read_table(ref.day_path(day))
        assert a.equals(b), day  # x, y, flags and every other column, ingested_at included
    # the Helmert store was really different: metres, not round-off
    new = pq.read_table(up.day_path(up.days()[0]))
    moved = np.hypot(np.asarray(new["x"]) - np.asarray(old["x"]),
                     np.asarray(new["y"]) - np.asarray(old["y"]))
    assert moved.min() > 0.5
    c_up, c_ref = (pd.read_parquet(s.root / CRIMES_PATH) for s in (up, ref))
    np.testing.assert_array_equal(c_up["x"].to_numpy(), c_ref["x"].to_numpy())
    np.testing.assert_array_equal(c_up["y"].to_numpy(), c_ref["y"].to_numpy())
    # the persisted day indexes follow (refreshed by the rewrite)
    t_up, _ = up.indexed_window(0, 2 * 10**18, None)
    t_ref, _ = ref.indexed_window(0, 2 * 10**18, None)
    np.testing.assert_array_equal(np.asarray(t_up.x), np.asarray(t_ref.x))
    # and so do the day compliance summaries (the figures need not rebuild any)
    from trailmatch.store import day_summary

    built = day_summary.STATS["built"]
    activations = day_summary.Activations(up.subjects())
    for day in up.days():
        day_summary.day_summary(up.layout, day, 300 * 10**9, activations)
    assert day_summary.STATS["built"] == built

    # once only: again, nothing to do
    assert main(["upgrade", "--store", str(legacy)]) == 0
    assert "already OSTN15: nothing to do" in capsys.readouterr().err


def test_upgrade_stopped_half_way_is_finished_by_running_it_again(legacy, fresh, monkeypatch):
    from trailmatch.store import upgrade

    real = upgrade.reproject_day
    calls = []

    def dies_on_third(table, crs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(table, crs)

    monkeypatch.setattr(upgrade, "reproject_day", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        upgrade.upgrade(legacy)
    assert Store(legacy).transformation() == "helmert"  # still refused
    monkeypatch.setattr(upgrade, "reproject_day", real)
    upgrade.upgrade(legacy)
    for day in Store(fresh).days():
        assert pq.read_table(Store(legacy).day_path(day)).equals(
            pq.read_table(Store(fresh).day_path(day)))
