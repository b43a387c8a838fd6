"""Projection (trailmatch.crs): OSTN15 against Ordnance Survey's own test points, round trips,
the cover and its fallback, and the routes through other CRSs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from trailmatch import crs

POINTS = Path(__file__).parent / "data" / "ostn15" / "test_points.csv"
# Metres per degree, enough to express a difference in lat/lon as a ground distance.
M_PER_DEG_LAT = 111_300.0


@pytest.fixture(scope="module")
def points() -> pd.DataFrame:
    return pd.read_csv(POINTS)


def test_os_test_points_etrs89_to_osgb36_within_a_millimetre(points):
    e, n = crs.lonlat_to_working(points["etrs89_lon"], points["etrs89_lat"])
    assert len(points) == 40
    # OS gives the grid to the millimetre: 1 mm allows its rounding and nothing more
    assert np.abs(e - points["osgb36_east"]).max() <= 0.001
    assert np.abs(n - points["osgb36_north"]).max() <= 0.001


def test_os_test_points_osgb36_to_etrs89_within_a_millimetre(points):
    lon, lat = crs.working_to_lonlat(points["inv_osgb36_east"], points["inv_osgb36_north"])
    d_lat = (lat - points["inv_etrs89_lat"]) * M_PER_DEG_LAT
    d_lon = (lon - points["inv_etrs89_lon"]) * M_PER_DEG_LAT * np.cos(np.radians(lat))
    assert np.hypot(d_lat, d_lon).max() <= 0.001


def test_os_test_points_are_inside_the_cover(points):
    _, _, outside = crs.project_flagged(points["etrs89_lon"], points["etrs89_lat"],
                                        crs.WGS84, crs.OSGB36_GRID)
    assert not outside.any()


def test_helmert_would_miss_the_test_points_by_metres(points):
    """What stores made before OSTN15 hold (pyproj without the grid): the tests above would
    fail with it at every point, by 0.13 m to 4.7 m."""
    helmert = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    e, n = helmert.transform(points["etrs89_lon"].to_numpy(), points["etrs89_lat"].to_numpy())
    miss = np.hypot(e - points["osgb36_east"], n - points["osgb36_north"])
    assert miss.min() > 0.1 and miss.max() > 4.0


# Great Britain, inside OSTN15's cover: lon/lat boxes over land of England, Wales, Scotland.
gb_lon = st.floats(-5.6, 1.7, allow_nan=False)
gb_lat = st.floats(50.0, 58.6, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(lon=gb_lon, lat=gb_lat)
def test_round_trip_wgs84_grid_wgs84(lon, lat):
    e, n, outside = crs.project_flagged([lon], [lat], crs.WGS84, crs.OSGB36_GRID)
    assert not outside[0]
    lon2, lat2 = crs.working_to_lonlat(e, n)
    ground = np.hypot((lat2[0] - lat) * M_PER_DEG_LAT,
                      (lon2[0] - lon) * M_PER_DEG_LAT * np.cos(np.radians(lat)))
    assert ground <= 0.002  # convertbng rounds the grid to 1 mm and lat/lon to 1e-8 degree


@settings(max_examples=300, deadline=None)
@given(e=st.floats(150_000, 650_000), n=st.floats(20_000, 950_000))
def test_round_trip_grid_wgs84_grid(e, n):
    lon, lat, outside = crs.project_flagged([e], [n], crs.OSGB36_GRID, crs.WGS84)
    e2, n2, outside2 = crs.project_flagged(lon, lat, crs.WGS84, crs.OSGB36_GRID)
    assert outside[0] == outside2[0]
    assert np.hypot(e2[0] - e, n2[0] - n) <= 0.002


@settings(max_examples=200, deadline=None)
@given(lon=st.one_of(st.floats(2.5, 30.0), st.floats(-30.0, -9.0)),
       lat=st.floats(35.0, 70.0))
def test_outside_the_cover_falls_back_and_round_trips(lon, lat):
    """Abroad (here: east of 2.5 E or west of 9 W): placed by the Helmert fallback, flagged,
    and mapped back to the same place."""
    x, y, outside = crs.project_flagged([lon], [lat], crs.WGS84, crs.OSGB36_GRID)
    assert outside[0] and np.isfinite(x[0]) and np.isfinite(y[0])
    lon2, lat2, back_outside = crs.project_flagged(x, y, crs.OSGB36_GRID, crs.WGS84)
    assert back_outside[0]
    ground = np.hypot((lat2[0] - lat) * M_PER_DEG_LAT,
                      (lon2[0] - lon) * M_PER_DEG_LAT * np.cos(np.radians(lat)))
    assert ground <= 0.01


def test_denmark_is_far_from_southampton():
    """A fix abroad is still a place: Copenhagen lands ~1,000 km from Southampton."""
    x, y, outside = crs.project_flagged([12.57, -1.4044], [55.68, 50.9097], crs.WGS84,
                                        crs.OSGB36_GRID)
    assert outside.tolist() == [True, False]
    assert 950_000 < np.hypot(x[0] - x[1], y[0] - y[1]) < 1_150_000


def test_edges_of_the_cover():
    lon = np.array([-6.30, -6.30, 1.77, 1.79, -1.0, -1.0])
    lat = np.array([49.93, 49.91, 52.5, 52.5, 60.83, 60.85])
    _, _, outside = crs.project_flagged(lon, lat, crs.WGS84, crs.OSGB36_GRID)
    assert outside.tolist() == [False, True, False, True, False, True]


def test_non_finite_input_is_not_outside():
    x, y, outside = crs.project_flagged([np.nan, -1.4], [50.9, np.inf], crs.WGS84,
                                        crs.OSGB36_GRID)
    assert np.isnan(x[0]) and not outside.any()


def test_other_working_crs_goes_through_pyproj_and_ostn15(points):
    """UTM 30N as the working CRS: WGS84 straight through pyproj (one datum), grid
    eastings/northings through OSTN15 back to WGS84 first - so a crime given either way lands
    on the same spot."""
    utm = "EPSG:32630"
    lon, lat = points["etrs89_lon"].to_numpy(), points["etrs89_lat"].to_numpy()
    x1, y1 = crs.lonlat_to_working(lon, lat, utm)
    x_direct, y_direct = Transformer.from_crs("EPSG:4326", utm, always_xy=True).transform(lon,
                                                                                          lat)
    assert np.abs(x1 - x_direct).max() < 1e-6 and np.abs(y1 - y_direct).max() < 1e-6
    x2, y2 = crs.grid_to_working(points["osgb36_east"], points["osgb36_north"], utm)
    # 5 mm: at TP31 (Outer Hebrides) OSTN15 and its inverse disagree by 4 mm, as in OS's own
    # test files (the inverse test starts from an easting/northing 3-4 mm from the forward one)
    assert np.hypot(x1 - x2, y1 - y2).max() <= 0.005


def test_osgb36_lonlat_to_grid_is_a_conversion():
    """OSGB36 latitude/longitude (EPSG:4277) is on the grid's datum: no OSTN15, no shift."""
    e, n = crs.project([-1.5], [51.0], "EPSG:4277", crs.OSGB36_GRID)
    ref = Transformer.from_crs("EPSG:4277", "EPSG:27700", always_xy=True).transform(-1.5, 51.0)
    assert abs(e[0] - ref[0]) < 1e-6 and abs(n[0] - ref[1]) < 1e-6


def test_transformation_names():
    assert crs.transformation("EPSG:27700") == crs.OSTN15
    assert crs.transformation("EPSG:32630") == "pyproj"
    assert crs.on_osgb36("EPSG:4277") and not crs.on_osgb36("EPSG:4326")


def test_generic_crimes_outside_the_cover_are_refused_with_the_reason(tmp_path):
    from trailmatch.io import read_generic_crimes

    head = "crime_reference,police_force,crime_type,time_from,time_to,latitude,longitude\n"
    good = "A1,Hampshire,BIAD,2025-01-26T18:30:00,2025-01-26T19:00:00,50.9097,-1.4044\n"
    path = tmp_path / "crimes.csv"
    path.write_text(head + good)
    got = read_generic_crimes(path)
    x, y = crs.lonlat_to_working([-1.4044], [50.9097])
    assert (got["x"].iloc[0], got["y"].iloc[0]) == (x[0], y[0])
    path.write_text(head + good + good.replace("A1", "A2").replace("50.9097,-1.4044",
                                                                    "48.8566,2.3522"))
    with pytest.raises(ValueError, match=r"row 2: location 2.3522, 48.8566 is outside OSTN15"):
        read_generic_crimes(path)
