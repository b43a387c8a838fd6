"""Map tiles from a local MBTiles file (``trailmatch serve --tiles FILE.mbtiles``), for networks
that cannot reach any tile server.

An MBTiles file is an SQLite database: ``tiles(zoom_level, tile_column, tile_row, tile_data)``
with rows in TMS order (row 0 at the south: ``tile_row = 2**z - 1 - y`` for the XYZ ``y`` the
page asks for) and ``metadata(name, value)`` naming the ``format``. Only raster tiles (png, jpg,
webp) can be drawn by the page; a vector (pbf) file is refused at start, as is anything that is
not an MBTiles database.

The file is opened read-only (``file:...?mode=ro``), one connection per thread: the service's
tile route (``service/routes/tiles.py``) is sync, so Starlette's thread pool calls it, and each
pool thread keeps its own connection. ``trailmatch serve`` opens it once before starting, so an
unusable file is refused with one line naming it.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
               "webp": "image/webp"}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"))
MAX_ZOOM = 30


class TilesError(ValueError):
    """The file cannot be served as map tiles (the message names it and says why)."""


class MBTiles:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise TilesError(f"{path}: no such file")
        if not self.path.is_file():
            raise TilesError(f"{path}: not an MBTiles file (it is a directory)")
        self._uri = self.path.resolve().as_uri() + "?mode=ro"
        self._local = threading.local()
        try:
            conn = self._open()
            try:
                self._read_metadata(conn)
            finally:
                conn.close()
        except sqlite3.DatabaseError as e:
            raise TilesError(f"{path}: not an MBTiles file ({e})") from None

    def _open(self) -> sqlite3.Connection:
        return sqlite3.connect(self._uri, uri=True, check_same_thread=False)

    def _read_metadata(self, conn: sqlite3.Connection) -> None:
        names = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        if "tiles" not in names:
            raise TilesError(f"{self.path}: not an MBTiles file (no 'tiles' table)")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(tiles)")}
        missing = {"zoom_level", "tile_column", "tile_row", "tile_data"} - columns
        if missing:
            raise TilesError(f"{self.path}: not an MBTiles file ('tiles' has no "
                             f"{', '.join(sorted(missing))})")
        meta: dict[str, str] = {}
        if "metadata" in names:
            meta = {str(k): str(v) for k, v in conn.execute("SELECT name, value FROM metadata")
                    if k is not None and v is not None}
        fmt = meta.get("format", "").strip().lower()
        if not fmt:  # required by the spec, but some tools leave it out: look at a tile
            first = conn.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
            head = bytes(first[0][:16]) if first and first[0] is not None else b""
            fmt = next((kind for magic, kind in _MAGIC if head.startswith(magic)), "")
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                fmt = "webp"
        if fmt == "pbf":
            raise TilesError(f"{self.path}: holds vector tiles (format pbf); the page draws "
                             "raster tiles only (png, jpg, webp)")
        if fmt not in MEDIA_TYPES:
            raise TilesError(f"{self.path}: not a raster MBTiles file (format "
                             f"{fmt or 'unknown'!r}; png, jpg or webp expected)")
        self.format = fmt
        self.media_type = MEDIA_TYPES[fmt]
        self.attribution = meta.get("attribution", "")
        lo, hi = conn.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        self.min_zoom = _int(meta.get("minzoom"), lo)
        self.max_zoom = _int(meta.get("maxzoom"), hi)
        self.bounds = _bounds(meta.get("bounds"))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile at XYZ ``z/x/y`` (``y`` from the north, as Leaflet counts), or None."""
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            return None
        row = self._conn().execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? "
            "AND tile_row = ?", (z, x, 2**z - 1 - y)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])


def _int(value: str | None, fallback: int | None) -> int | None:
    try:
        return int(float(value)) if value is not None else fallback
    except ValueError:
        return fallback


def _bounds(value: str | None) -> list[float] | None:
    """MBTiles ``bounds`` ('west,south,east,north', WGS84) or None when absent or malformed."""
    try:
        w, s, e, n = (float(v) for v in (value or "").split(","))
    except ValueError:
        return None
    if -180 <= w < e <= 180 and -90 <= s < n <= 90:
        return [w, s, e, n]
    return None
