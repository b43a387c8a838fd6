"""What needs no token: health, the officer page and its client configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import Engine, text

from service.models import ClientConfig, Health
from service.settings import Settings, engine, settings

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


@router.get("/health", response_model=Health, tags=["public"])
def health(db: Annotated[Engine, Depends(engine)]) -> Health:
    with db.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", database=db.dialect.name)


@router.get("/config", response_model=ClientConfig, tags=["public"])
def config(cfg: Annotated[Settings, Depends(settings)]) -> ClientConfig:
    return ClientConfig(tile_url=cfg.tile_url, tile_attribution=cfg.tile_attribution)


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    vendor = "/static/vendor/swagger-ui"
    return get_swagger_ui_html(openapi_url="/openapi.json", title="trailmatch API",
                               swagger_js_url=f"{vendor}/swagger-ui-bundle.js",
                               swagger_css_url=f"{vendor}/swagger-ui.css",
                               swagger_favicon_url=f"{vendor}/favicon-32x32.png")
