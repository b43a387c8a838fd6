"""``serve --tiles FILE.mbtiles``: the service's own map tiles at ``/tiles/{z}/{x}/{y}``, to
signed-in users only, from a read-only MBTiles file in TMS row order; an unusable file is
refused at start."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient
from mbtiles_file import png_tile, write_mbtiles

from service.app import create_app
from trailmatch.cli import main
from trailmatch.hitstore import open_store
from trailmatch.hitstore.users import add_user
from trailmatch.mbtiles import MBTiles, TilesError
from trailmatch.store import Store

RED, BLUE, GREEN = png_tile((220, 40, 40)), png_tile((40, 40, 220)), png_tile((40, 200, 40))
# XYZ (z, x, y): at z=2, y=0 is the northern row, stored as TMS row 3
TILES = {(0, 0, 0): GREEN, (2, 1, 0): RED, (2, 1, 3): BLUE}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiles")
    store = Store.create(root / "store", "EPSG:27700").root
    engine = open_store(store)
    try:
        token = add_user(engine, "pc-map", "officer", "Hampshire")[1]
    finally:
        engine.dispose()
    mbtiles = write_mbtiles(root / "streets.mbtiles", TILES,
                            metadata={"attribution": "test streets", "minzoom": "0",
                                      "maxzoom": "2", "bounds": "-2.0,50.0,-1.0,51.0"})
    return store, mbtiles, token


@pytest.fixture(scope="module")
def client(world):
    store, mbtiles, _ = world
    with TestClient(create_app(store, tiles_file=mbtiles)) as c:
        yield c


def test_tiles_need_a_token(client, world):
    assert client.get("/tiles/2/1/0").status_code == 401
    bad = client.get("/tiles/2/1/0", headers={"Authorization": "Bearer tm_not-a-token"})
    assert bad.status_code == 401


def test_a_signed_in_user_gets_the_png_with_the_tms_row_flipped(client, world):
    auth = {"Authorization": f"Bearer {world[2]}"}
    north = client.get("/tiles/2/1/0", headers=auth)
    assert north.status_code == 200
    assert north.headers["content-type"] == "image/png"
    assert north.content == RED  # XYZ y=0 is TMS row 3
    assert client.get("/tiles/2/1/3", headers=auth).content == BLUE  # TMS row 0
    assert client.get("/tiles/0/0/0", headers=auth).content == GREEN
    assert north.headers["cache-control"].startswith("private")


def test_a_missing_tile_is_404(client, world):
    auth = {"Authorization": f"Bearer {world[2]}"}
    for path in ("/tiles/2/0/0", "/tiles/2/1/1", "/tiles/3/1/0", "/tiles/2/4/0",
                 "/tiles/2/1/-1", "/tiles/40/0/0"):
        r = client.get(path, headers=auth)
        assert r.status_code == 404, path
        assert r.json() == {"detail": "no such tile"}
    assert client.get("/tiles/2/1/x", headers=auth).status_code == 422


def test_the_page_is_told_to_fetch_the_tiles_with_its_token(client):
    config = client.get("/config").json()
    assert set(config.pop("crime_types")) == {"RB", "BIAD", "AB", "BOTD", "TOMV", "TFP", "TFMV"}
    assert config == {
        "tile_url": "/tiles/{z}/{x}/{y}", "tile_attribution": "test streets",
        "tiles_need_token": True, "tile_min_zoom": 0, "tile_max_zoom": 2,
        "tile_bounds": [-2.0, 50.0, -1.0, 51.0]}
    csp = client.get("/").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    # blob: for the fetched tiles; nothing from any other origin
    assert directives["img-src"] == "'self' data: blob:"
    assert directives["connect-src"] == "'self'"
    assert "http" not in csp
    script = client.get("/static/tiles.js").text
    assert '"Authorization": "Bearer "' in script and "createObjectURL" in script


def test_without_a_tile_file_the_route_is_404_and_the_page_draws_its_grid(world):
    store, _, token = world
    with TestClient(create_app(store)) as c:
        assert c.get("/tiles/0/0/0").status_code == 401
        r = c.get("/tiles/0/0/0", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404 and r.json() == {"detail": "no tile file configured"}
        assert c.get("/config").json()["tiles_need_token"] is False
        assert "no basemap configured" in c.get("/static/tiles.js").text


def test_jpeg_tiles_are_served_as_jpeg(tmp_path):
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 60 + b"\xff\xd9"
    tiles = MBTiles(write_mbtiles(tmp_path / "photo.mbtiles", {(1, 0, 1): jpeg}, fmt="jpg"))
    assert (tiles.media_type, tiles.tile(1, 0, 1), tiles.tile(1, 0, 0)) == ("image/jpeg", jpeg,
                                                                             None)
    # no format in the metadata: told by the tiles themselves
    sniffed = MBTiles(write_mbtiles(tmp_path / "bare.mbtiles", {(0, 0, 0): RED},
                                    metadata={"format": None}))
    assert sniffed.media_type == "image/png"
    assert (sniffed.min_zoom, sniffed.max_zoom, sniffed.bounds) == (0, 0, None)


def test_the_file_is_opened_read_only(tmp_path):
    path = write_mbtiles(tmp_path / "ro.mbtiles", TILES)
    before = path.read_bytes()
    tiles = MBTiles(path)
    assert tiles.tile(2, 1, 0) == RED
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        tiles._conn().execute("DELETE FROM tiles")
    assert path.read_bytes() == before


def _unusable_files(tmp_path):
    text = tmp_path / "notes.mbtiles"
    text.write_text("these are not tiles\n" * 100)
    plain = tmp_path / "plain.sqlite"
    sqlite3.connect(plain).execute("CREATE TABLE things (a)").connection.close()
    vector = write_mbtiles(tmp_path / "vector.mbtiles", {(0, 0, 0): b"\x1a\x00"}, fmt="pbf")
    return {
        tmp_path / "missing.mbtiles": "no such file",
        tmp_path: "directory",
        text: "not an MBTiles file",
        plain: "no 'tiles' table",
        vector: "vector tiles",
    }


def test_an_unusable_file_is_refused_naming_it(tmp_path):
    for path, reason in _unusable_files(tmp_path).items():
        with pytest.raises(TilesError, match=reason) as e:
            MBTiles(path)
        assert str(path) in str(e.value)


def test_serve_refuses_a_bad_tile_file_and_both_tile_sources(world, tmp_path, capsys):
    store = world[0]
    for path, reason in _unusable_files(tmp_path).items():
        code = main(["serve", "--store", str(store), "--tiles", str(path), "--port", "1"])
        err = capsys.readouterr().err
        assert code == 1, (path, err)
        assert err.count("\n") == 1 and str(path) in err and reason in err, err
    code = main(["serve", "--store", str(store), "--tiles", str(world[1]),
                 "--tile-url", "http://tiles.example/{z}/{x}/{y}.png"])
    err = capsys.readouterr().err
    assert code == 2 and "not allowed with argument" in err, err
