"""A small raster MBTiles file for tests: 256x256 PNG tiles made here with zlib and struct (no
imaging library), stored in TMS row order as the MBTiles spec says."""

from __future__ import annotations

import sqlite3
import struct
import zlib
from pathlib import Path


def png_tile(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A ``size`` x ``size`` PNG of one colour with a darker 1-pixel border (so tile edges show)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    edge = bytes(max(0, c - 60) for c in rgb)
    inner = edge + bytes(rgb) * (size - 2) + edge
    rows = [b"\x00" + edge * size] + [b"\x00" + inner] * (size - 2) + [b"\x00" + edge * size]
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b""))


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], *,
                  fmt: str = "png", metadata: dict[str, str] | None = None) -> Path:
    """An MBTiles file holding ``tiles`` keyed by XYZ ``(z, x, y)`` (y from the north, as
    Leaflet asks), stored under TMS rows (``2**z - 1 - y``)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        conn.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, "
                     "tile_row INTEGER, tile_data BLOB)")
        conn.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        meta = {"name": "test streets", "format": fmt, "type": "baselayer", "version": "1"}
        meta.update(metadata or {})
        conn.executemany("INSERT INTO metadata VALUES (?, ?)",
                         [(k, v) for k, v in meta.items() if v is not None])
        conn.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)",
                         [(z, x, 2**z - 1 - y, data) for (z, x, y), data in tiles.items()])
        conn.commit()
    finally:
        conn.close()
    return path


def lon_lat_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile (x, y) holding a WGS84 point at zoom ``z`` (Web Mercator)."""
    import math

    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y
