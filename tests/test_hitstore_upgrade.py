"""Crime versions stored in the hit store before OSTN15 (Helmert): matching refuses them with
the command that fixes them, and ``trailmatch upgrade`` places them again exactly as a fresh
OSTN15 ingest of the same batch does — so a match never mixes the two."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from sqlalchemy import bindparam, select, update

from trailmatch.cli import main
from trailmatch.hitstore import db
from trailmatch.hitstore.repository import CrimesNeedUpgrade, crime_content_digest
from trailmatch.hitstore.schema import crimes
from trailmatch.hitstore.upgrade import located_by, significant_digits

BATCH = "HAM20250127"
COLUMNS = ["crime_reference", "x", "y", "lat", "lon", "content_sha256", "located_by",
           "transformation"]


def _helmert():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


def _crimes(root) -> pd.DataFrame:
    engine = db.open_store(root)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(crimes).order_by(crimes.c.id))]
    finally:
        engine.dispose()
    return pd.DataFrame(rows)


def _make_legacy(root) -> None:
    """What a hit store written before OSTN15 holds: x/y of the crimes given as lat/lon from
    pyproj's Helmert, the lat/lon of those given as easting/northing from its inverse, the
    content digests over those lat/lon, and neither column that records how they were placed."""
    h = _helmert()
    frame = _crimes(root)
    grid = (frame["located_by"] == "grid").to_numpy()
    x, y = h.transform(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    lon, lat = h.transform(frame["x"].to_numpy(), frame["y"].to_numpy(), direction="INVERSE")
    frame["x"] = np.where(grid, frame["x"], x)
    frame["y"] = np.where(grid, frame["y"], y)
    frame["lon"] = np.where(grid, lon, frame["lon"])
    frame["lat"] = np.where(grid, lat, frame["lat"])
    engine = db.open_store(root)
    try:
        with engine.begin() as conn:
            conn.execute(update(crimes).where(crimes.c.id == bindparam("b_id")).values(
                x=bindparam("b_x"), y=bindparam("b_y"), lat=bindparam("b_lat"),
                lon=bindparam("b_lon"), content_sha256=bindparam("b_d"), transformation=None,
                located_by=None),
                [{"b_id": int(r["id"]), "b_x": float(r["x"]), "b_y": float(r["y"]),
                  "b_lat": float(r["lat"]), "b_lon": float(r["lon"]),
                  "b_d": crime_content_digest(r)} for r in frame.to_dict("records")])
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, sample_dir):
    """A store whose hit store holds the sample batch as an OSTN15 ingest stores it."""
    root = tmp_path_factory.mktemp("fresh") / "store"
    assert main(["ingest", "positions", str(sample_dir / "positions.csv"),
                 "--store", str(root)]) == 0
    assert main(["ingest", "crimes", str(sample_dir / "crimes.csv"), "--store", str(root)]) == 0
    return root


@pytest.fixture
def legacy(fresh, tmp_path):
    root = tmp_path / "legacy"
    shutil.copytree(fresh, root)
    _make_legacy(root)
    return root


def test_a_fresh_ingest_records_how_each_crime_was_placed(fresh):
    frame = _crimes(fresh)
    assert len(frame) == 400
    assert set(frame["transformation"]) == {"OSTN15"}
    assert frame["located_by"].value_counts().to_dict() == {"lonlat": 286, "grid": 114}


def test_legacy_crimes_are_refused_naming_the_upgrade(legacy, capsys):
    """A match on Helmert crimes (and OSTN15 fixes) is refused: ``match --batch`` and the
    nightly say so in one line, naming the command, and write nothing."""
    capsys.readouterr()
    out = legacy.parent / "hits.csv"
    rc = main(["match", "--store", str(legacy), "--batch", BATCH, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and not out.exists()
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "400 crime version(s) in the hit store were placed before OSTN15" in err
    assert "trailmatch upgrade --store" in err
    rc = main(["nightly", "--store", str(legacy), "--batch", BATCH,
               "--out", str(legacy.parent / "night")])
    assert rc == 1 and "trailmatch upgrade --store" in capsys.readouterr().err


def test_upgrade_places_them_as_a_fresh_ostn15_ingest_does(legacy, fresh, capsys):
    before = _crimes(legacy)
    moved = np.hypot(before["x"] - _crimes(fresh)["x"], before["y"] - _crimes(fresh)["y"])
    assert moved.max() > 0.5  # the Helmert hit store really was metres off
    capsys.readouterr()
    assert main(["upgrade", "--store", str(legacy)]) == 0
    err = capsys.readouterr().err
    assert ("400 crime version(s) placed again with OSTN15 (114 given as easting/northing, "
            "286 as lat/lon; 0 outside the cover)") in err
    got, ref = _crimes(legacy)[COLUMNS], _crimes(fresh)[COLUMNS]
    pd.testing.assert_frame_equal(got, ref, check_exact=True)

    # now matched; the same batch sent again is unchanged (no new versions)
    out = legacy.parent / "hits.csv"
    assert main(["match", "--store", str(legacy), "--batch", BATCH, "--out", str(out)]) == 0
    ref_out = fresh.parent / "hits.csv"
    assert main(["match", "--store", str(fresh), "--batch", BATCH, "--out", str(ref_out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(ref_out))
    capsys.readouterr()
    assert main(["upgrade", "--store", str(legacy)]) == 0
    assert "every crime version already OSTN15: nothing to do" in capsys.readouterr().err


def test_a_resend_after_the_upgrade_adds_no_version(legacy, sample_dir, capsys):
    assert main(["upgrade", "--store", str(legacy)]) == 0
    resent = legacy.parent / "resend.csv"
    resent.write_text((sample_dir / "crimes.csv").read_text().replace(BATCH, BATCH + "-1"))
    capsys.readouterr()
    assert main(["ingest", "crimes", str(resent), "--store", str(legacy)]) == 0
    err = capsys.readouterr().err
    assert "accepted 0, duplicate 400" in err and "0 new, 0 changed" in err
    assert len(_crimes(legacy)) == 400


@pytest.mark.parametrize(("value", "digits"), [
    (50.9097, 6), (442345.0, 6), (-1.4044, 5), (100000.0, 1), (0.0012, 2),
    (441766.123456789, 15), (1e-7, 1)])
def test_significant_digits(value, digits):
    assert significant_digits(value) == digits


@settings(max_examples=200, deadline=None)
@given(st.floats(50.0, 55.5), st.floats(-5.5, 1.7), st.integers(3, 7),
       st.integers(0, 300_000), st.integers(0, 300_000), st.integers(0, 1))
def test_the_given_location_is_told_from_its_digits(lat, lon, places, de, dn, decimals):
    """A lat/lon or easting/northing read from a batch's text against its Helmert
    counterpart (full double precision): told apart without a guess."""
    h = _helmert()
    lat, lon = round(lat, places), round(lon, places)
    x, y = h.transform(lon, lat)
    assert located_by(x, y, lat, lon, "EPSG:27700") == ("lonlat", False)
    e, n = 300_000 + de + 0.1 * decimals, 100_000 + dn + 0.1 * decimals
    glon, glat = h.transform(e, n, direction="INVERSE")
    assert located_by(e, n, glat, glon, "EPSG:27700") == ("grid", False)


def test_refusal_is_a_store_refusal():
    from trailmatch.store import StoreNeedsUpgrade

    assert issubclass(CrimesNeedUpgrade, StoreNeedsUpgrade)
