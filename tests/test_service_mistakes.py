"""Mistakes and probes answered by the service: blank rationales, huge bodies, every refusal
audited with its reason, the client address, interrupted runs, the documented error codes and
the Content-Security-Policy on HTML."""

from __future__ import annotations

import httpx
import pytest
from live_server import serving
from service_world import auth

from trailmatch.hitstore import repository
from trailmatch.rules import WORKING_CRS
from trailmatch.store import Store


def newest_audit(world) -> dict:
    return repository.list_audit(world.engine if hasattr(world, "engine") else _engine(world),
                                 limit=1)[0]


def _engine(world):
    from trailmatch.hitstore import open_store
    return open_store(world.store)


def ham_hit_id(world) -> int:
    return int(world.hits[world.hits["police_force"] == "Hampshire"].iloc[0]["id"])


@pytest.mark.parametrize("rationale", ["\u001d", "\x00", "\u200b\u200b", " \u200b\u2060 ",
                                       "\u00a0", "ok\x00but a NUL", "\x1b[31m"])
def test_unreadable_rationale_is_422_and_nothing_stored(world, client, rationale):
    hit = ham_hit_id(world)
    before = len(client.get(f"/hits/{hit}/decisions", headers=auth(world, "ham")).json())
    r = client.post(f"/hits/{hit}/decisions", headers=auth(world, "ham"),
                    json={"outcome": "ruled_out", "rationale": rationale})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "rationale"]
    after = client.get(f"/hits/{hit}/decisions", headers=auth(world, "ham")).json()
    assert len(after) == before


def test_readable_rationale_with_line_breaks_is_kept(world, client):
    r = client.post(f"/hits/{ham_hit_id(world)}/decisions", headers=auth(world, "ham"),
                    json={"outcome": "further_enquiries", "rationale": "CCTV\n\tpetrol station"})
    assert r.status_code == 201 and r.json()["rationale"] == "CCTV\n\tpetrol station"


@pytest.mark.parametrize("chunked", [False, True])
def test_very_large_body_is_413(world, client, chunked):
    body = b'{"outcome": "ruled_out", "rationale": "' + b"x" * 2_000_000 + b'"}'
    content = iter([body[i:i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
    r = client.post(f"/hits/{ham_hit_id(world)}/decisions", content=content,
                    headers={**auth(world, "ham"), "Content-Type": "application/json"})
    assert r.status_code == 413


# (who, method, path, status, action, words of the reason in the target)
REFUSALS = [
    (None, "GET", "/me", 401, "auth.denied", "no bearer token"),
    ("bogus", "GET", "/hits?police_force=Hampshire&date=2025-01-20", 401, "auth.denied",
     "unknown or revoked token"),
    ("revoked", "GET", "/runs", 401, "auth.denied", "unknown or revoked token"),
    ("ham", "GET", "/audit", 403, "audit.denied", "processing team only"),
    ("ham", "GET", "/runs", 403, "runs.denied", "processing team only"),
    ("proc", "GET", "/subjects/07012/positions?from=2025-01-20T00:00:00Z"
                    "&to=2025-01-22T13:00:00Z", 422, "request.invalid", "48 hours"),
    ("proc", "GET", "/subjects/07012/positions?from=yesterday&to=2025-01-22T13:00:00Z", 422,
     "request.invalid", "query.from"),
]


@pytest.mark.parametrize(("who", "method", "path", "status", "action", "reason"), REFUSALS)
def test_every_refusal_is_audited_with_its_reason(world, client, who, method, path, status,
                                                   action, reason):
    headers = {}
    if who == "bogus":
        headers = {"Authorization": "Bearer tm_not_a_token"}
    elif who is not None:
        headers = auth(world, who)
    headers["X-Forwarded-For"] = "203.0.113.9"  # not trusted: the socket peer is recorded
    r = client.request(method, path, headers=headers)
    assert r.status_code == status, r.text
    row = newest_audit(world)
    assert row["action"] == action
    assert reason in row["target"] and path.split("?")[0] in row["target"]
    assert row["client_address"] == "testclient"
    assert (row["user_name"] == "(unauthenticated)") == (status == 401)
    assert "tm_" not in row["target"]  # never a token


@pytest.mark.parametrize(("trusted", "recorded"), [
    ([], "127.0.0.1"), (["--forwarded-allow-ips", "127.0.0.1"], "203.0.113.9"),
    (["--forwarded-allow-ips", "192.0.2.1"], "127.0.0.1")])
def test_client_address_is_the_socket_peer_unless_a_trusted_proxy(world, tmp_path, trusted,
                                                                  recorded):
    """On the live server: X-Forwarded-For is believed only from the proxies named by
    ``serve --forwarded-allow-ips``; anyone else's is ignored and the socket peer recorded."""
    Store.create(world.store, WORKING_CRS)  # store.json: serve opens existing stores only
    with serving(world.store, tmp_path / "serve.log", *trusted) as base:
        for path, who, status, action in (
                ("/me", None, 401, "auth.denied"), ("/audit", "ham", 403, "audit.denied"),
                (f"/hits/{ham_hit_id(world)}", "ham", 200, "hit.read")):
            headers = {"X-Forwarded-For": "203.0.113.9", **(auth(world, who) if who else {})}
            assert httpx.get(base + path, headers=headers).status_code == status
            row = newest_audit(world)
            assert row["action"] == action and row["client_address"] == recorded, row


def test_interrupted_run_is_closed_when_the_next_starts(world):
    engine = _engine(world)
    killed = repository.start_run(engine, "nightly", {}, "test")  # never finished
    later = repository.start_run(engine, "nightly", {}, "test")
    runs = {r["id"]: r for r in repository.list_runs(engine, limit=10)}
    assert runs[killed]["status"] == "interrupted"
    assert runs[killed]["summary"] == repository.INTERRUPTED_SUMMARY
    assert runs[later]["status"] == "running"
    repository.finish_run(engine, later, "ok", {}, "done")


def test_openapi_documents_400_401_on_protected_routes(client):
    spec = client.get("/openapi.json").json()
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if path in ("/health", "/config"):
                continue
            assert {"400", "401"} <= set(op["responses"]), (method, path)


@pytest.mark.parametrize("path", ["/", "/docs", "hit-report"])
def test_html_carries_a_content_security_policy(world, client, path):
    if path == "hit-report":
        path = f"/hits/{ham_hit_id(world)}/report"
    r = client.get(path, headers=auth(world, "ham"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    if path.endswith("/report"):
        assert "script-src" not in csp and "default-src 'none'" in csp  # no script at all


FORCE_ROUTES = [("ham", "/hits", "crime_reference"), ("ham", "/coverage", "crime_reference"),
                ("ham", "/coverage/explain", "crime_reference subject"),
                ("proc", "/audit", "")]


@pytest.mark.parametrize(("who", "path", "params"), FORCE_ROUTES,
                         ids=[r[1] for r in FORCE_ROUTES])
def test_force_names_in_any_case(world, client, who, path, params):
    """Every police_force parameter takes the force in any case, as batches and the command
    line do: the same answer (not a 403 on one's own force spelt in lower case)."""
    hit = world.hits[world.hits["police_force"] == "Hampshire"].iloc[0]
    extra = {k: hit[k] for k in params.split()}
    answers = [client.get(path, headers=auth(world, who),
                          params={"police_force": spelt, **extra})
               for spelt in ("Hampshire", "hampshire", "HAMPSHIRE", " hampshire")]
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert answers[0].json() == answers[1].json() == answers[2].json() == answers[3].json()
    assert answers[0].json() not in ([], {})
    if who == "ham":
        other = client.get(path, headers=auth(world, who),
                           params={"police_force": "sussex", **extra})
        assert other.status_code == 403
