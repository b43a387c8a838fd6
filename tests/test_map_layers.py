"""Map data a GIS opens: one geometry type per layer, hit_id on every feature, integers as
integers, one time form; read with GDAL (pyogrio) and written on to a Shapefile."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_report import CRIME, RULES, evidence, hit_row
from trailmatch.report.map_layers import LAYERS, iso_z, path_lines, write_map_layers

pyogrio = pytest.importorskip("pyogrio")
from pyogrio.raw import read, write  # noqa: E402

GEOMETRY = {"vicinities": "Polygon", "paths": "MultiLineString", "fixes": "Point",
            "closest_approaches": "Point"}


@pytest.fixture
def layers(tmp_path):
    crime2 = {**CRIME, "id": 8, "crime_reference": "44/2/25", "x": 1040.0}
    hits = [(CRIME, hit_row(), evidence()),
            (crime2, hit_row(id=4, crime_id=8, fixes_in=2), evidence())]
    return write_map_layers(tmp_path / "map", hits, RULES)


def test_each_layer_has_one_geometry_type_and_hit_id_on_every_feature(layers):
    assert set(layers) == set(LAYERS)
    for name, path in layers.items():
        info = pyogrio.read_info(path)
        assert info["geometry_type"] == GEOMETRY[name], name
        assert info["crs"] == "EPSG:4326"
        meta, _, geometry, fields = read(path)
        names = list(meta["fields"])
        values = dict(zip(names, fields, strict=True))
        assert "hit_id" in names and values["hit_id"].dtype.kind == "i", name
        assert sorted(set(values["hit_id"].tolist())) == [3, 4], name
        assert all(g is not None for g in geometry)
        for col, kind in zip(names, meta["dtypes"], strict=True):
            if col in ("hit_id", "seq", "fixes", "gaps", "visits", "fixes_in"):
                assert kind.startswith("int"), (name, col, kind)
            if col in ("min_distance_m", "duration_s", "distance_m", "radius_m"):
                assert kind.startswith("float"), (name, col, kind)
            if col in ("time", "time_from", "time_to", "first_in", "last_in"):
                assert kind.startswith("datetime64"), (name, col, kind)  # GDAL reads times


def test_times_are_one_iso_form_with_z(layers):
    raw = json.loads(layers["fixes"].read_text())
    times = [f["properties"]["time"] for f in raw["features"]]
    assert times[0] == "2025-01-22T08:15:00.000000Z"
    for path in layers.values():
        for f in json.loads(path.read_text())["features"]:
            for key in ("time", "time_from", "time_to", "first_in", "last_in"):
                if key in f["properties"]:
                    value = f["properties"][key]
                    assert len(value) == 27 and value.endswith("Z"), value
                    assert iso_z(np.datetime64(value[:-1])) == value
    assert [len(line) for line in path_lines(evidence())] == [5, 5]  # split at the gap


@pytest.mark.filterwarnings("ignore:Field .* created as String field")  # no DateTime in .dbf
@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")  # 10-character names
def test_layers_write_on_to_a_shapefile(layers, tmp_path):
    for name, path in layers.items():
        meta, _, geometry, fields = read(path)
        out = tmp_path / f"{name}.shp"
        write(out, geometry, fields, fields=meta["fields"], driver="ESRI Shapefile",
              geometry_type=meta["geometry_type"], crs=meta["crs"], encoding="UTF-8")
        back_meta, _, back_geometry, back_fields = read(out)
        assert len(back_geometry) == len(geometry)
        hit_ids = back_fields[list(back_meta["fields"]).index("hit_id")]
        assert hit_ids.dtype.kind == "i" and sorted(set(hit_ids.tolist())) == [3, 4]


def test_geometry_is_wgs84_and_the_vicinity_a_closed_ring(layers):
    vicinity = json.loads(layers["vicinities"].read_text())["features"][0]
    ring = vicinity["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 73
    for path in layers.values():
        for f in json.loads(path.read_text())["features"]:
            flat = np.array(list(_points(f["geometry"]["coordinates"])))
            assert ((flat[:, 0] > -8.6) & (flat[:, 0] < 2.7)).all()  # longitudes in Britain
            assert ((flat[:, 1] > 49) & (flat[:, 1] < 62)).all()


def _points(coords):
    if isinstance(coords[0], int | float):
        yield coords
    else:
        for c in coords:
            yield from _points(c)


@pytest.mark.parametrize("radius", [100.0, 250.0, 600.0])
def test_vicinity_rings_agree_with_projecting_each_vertex(radius):
    """Rings up to 250 m are the projection's affine map at the crime (three points projected,
    not 72): within 3 cm of projecting each vertex, anywhere on the grid; larger rings project
    every vertex."""
    from trailmatch.crs import working_to_lonlat
    from trailmatch.report.map_layers import CIRCLE_VERTICES, vicinity_rings

    rng = np.random.default_rng(7)
    x, y = rng.uniform(100_000, 650_000, 300), rng.uniform(10_000, 1_200_000, 300)
    rings = vicinity_rings(x, y, radius, RULES.crs)
    assert rings.shape == (300, CIRCLE_VERTICES + 1, 2)
    assert (rings[:, 0] == rings[:, -1]).all()  # closed
    a = np.linspace(0.0, 2 * np.pi, CIRCLE_VERTICES, endpoint=False)
    lon, lat = working_to_lonlat((x[:, None] + radius * np.cos(a)).ravel(),
                                 (y[:, None] + radius * np.sin(a)).ravel(), RULES.crs)
    east = (rings[:, :-1, 0].ravel() - lon) * 111_320 * np.cos(np.radians(lat))
    north = (rings[:, :-1, 1].ravel() - lat) * 110_540
    assert np.hypot(east, north).max() < 0.03
    # counter-clockwise (RFC 7946): positive shoelace area in lon/lat
    r = rings[0]
    assert np.sum(r[:-1, 0] * r[1:, 1] - r[1:, 0] * r[:-1, 1]) > 0


@given(st.lists(st.floats(-180, 180, allow_nan=False), min_size=2, max_size=40)
       .filter(lambda v: len(v) % 2 == 0))
def test_coordinates_are_written_as_round_to_7_decimals(values):
    """The path and ring coordinates are formatted in one call, not rounded one by one: they
    read back as Python's round(v, 7), as the API's path is compared (test_evidence_views)."""
    from trailmatch.report.map_layers import _points_json

    text = _points_json(values)
    assert json.loads(text) == [[round(a, 7), round(b, 7)]
                                for a, b in zip(values[::2], values[1::2], strict=True)]
    assert not re.search(r"\.\d*[1-9]0+[,\]]|\.00+[,\]]", text)  # json.dumps's form
