"""Authentication is a property of the router mount: every route of the API except the public
ones answers 401 without a valid token — checked over the app's own route table, so a route
added later is covered too."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from service.app import create_app

PUBLIC = {"/health", "/config", "/", "/docs"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app(tmp_path_factory.mktemp("emptystore"))


def api_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.router.routes:
        for sub in getattr(route, "routes", [route]):  # included routers may be nested
            if isinstance(sub, APIRoute):
                found += [(m, sub.path) for m in sorted(sub.methods)]
    if not found:  # FastAPI versions that flatten included routers into the openapi only
        schema = app.openapi()
        found = [(m.upper(), p) for p, ops in schema["paths"].items() for m in ops]
    return found


def test_the_route_table_is_what_the_issue_asks_for(app):
    paths = {p for _, p in api_routes(app)} | set(app.openapi()["paths"])
    for expected in ("/hits", "/hits/{hit_id}", "/hits/{hit_id}/decisions",
                     "/hits/{hit_id}/report", "/subjects/{subject}/positions", "/proximity",
                     "/runs", "/audit", "/health", "/me"):
        assert expected in paths


@pytest.mark.parametrize("token", [None, "tm_wrong"])
def test_every_protected_route_needs_a_token(app, token):
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    checked = 0
    for path, ops in app.openapi()["paths"].items():
        if path in PUBLIC:
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for method in ops:
            r = client.request(method.upper(), concrete, headers=headers)
            assert r.status_code == 401, (method, path, r.status_code)
            checked += 1
    assert checked >= 8


def test_openapi_declares_the_bearer_scheme(app):
    schemes = app.openapi()["components"]["securitySchemes"]
    assert any(s.get("scheme", "").lower() == "bearer" for s in schemes.values())
