"""What needs no token: health, the officer page and its client configuration."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import text

from service.deps import Cfg, Db
from service.models import ClientConfig, Health
from trailmatch.ingest.crime_batch import CRIME_TYPES

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


@router.get("/health", response_model=Health, tags=["public"])
def health(db: Db) -> Health:
    with db.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", database=db.dialect.name)


@router.get("/config", response_model=ClientConfig, tags=["public"])
def config(cfg: Cfg) -> ClientConfig:
    if cfg.tiles is not None:  # the service's own tiles, for signed-in users only
        return ClientConfig(tile_url="/tiles/{z}/{x}/{y}", tiles_need_token=True,
                            tile_attribution=cfg.tile_attribution or cfg.tiles.attribution,
                            tile_min_zoom=cfg.tiles.min_zoom, tile_max_zoom=cfg.tiles.max_zoom,
                            tile_bounds=cfg.tiles.bounds, crime_types=CRIME_TYPES)
    return ClientConfig(tile_url=cfg.tile_url, tile_attribution=cfg.tile_attribution,
                        crime_types=CRIME_TYPES)


def _tile_origin(tile_url: str | None) -> str:
    """The CSP source for a tile URL template ('https://{s}.tile.example/{z}/{x}/{y}.png' ->
    'https://*.tile.example'), or nothing."""
    if not tile_url:
        return ""
    parts = urlsplit(tile_url.replace("{s}", "x"))
    host = parts.netloc
    if "{s}" in tile_url.split("//", 1)[-1].split("/", 1)[0]:
        host = "*." + host.split(".", 1)[1]
    return f" {parts.scheme}://{host}" if parts.scheme and host else ""


@router.get("/", include_in_schema=False)
def page(cfg: Cfg) -> FileResponse:
    # Scripts only from the app; images also from the tile server when one is configured.
    # Inline styles are allowed for the evidence report the page opens as a blob document.
    csp = ("default-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
           "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
           f"img-src 'self' data: blob:{_tile_origin(cfg.tile_url)}")
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Content-Security-Policy": csp,
                                 "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer"})


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    vendor = "/static/vendor/swagger-ui"
    return get_swagger_ui_html(openapi_url="/openapi.json", title="trailmatch API",
                               swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
                               swagger_css_url=f"{vendor}/swagger-ui.css",
                               swagger_favicon_url=f"{vendor}/favicon-32x32.png")
