"""``GET /tiles/{z}/{x}/{y}``: map tiles from the MBTiles file ``serve --tiles`` names, to
signed-in users only (mounted with the bearer-token check like every protected router). The page
fetches each tile with its token and hands Leaflet a blob URL (``static/tiles.js``): an ``<img>``
cannot send an Authorization header. Tile requests are not audited: they say nothing about a
subject or a crime, and a map view makes dozens of them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import Response

from service.deps import Cfg
from service.models import Problem

router = APIRouter(tags=["map"])

_TILE = {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
         "description": "the tile, as stored in the file"}


@router.get("/tiles/{z}/{x}/{y}", response_class=Response,
            responses={200: _TILE,
                       404: {"model": Problem,
                             "description": "no such tile, or no tile file configured"}})
def tile(z: int, x: int, y: int, cfg: Cfg) -> Response:
    """One raster tile, XYZ numbering (``y`` from the north, as Leaflet asks)."""
    tiles = cfg.tiles
    if tiles is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no tile file configured")
    data = tiles.tile(z, x, y)
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tile")
    return Response(data, media_type=tiles.media_type,
                    headers={"Cache-Control": "private, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})
