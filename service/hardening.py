"""Two answers given before any route runs, as plain ASGI (no per-request objects on the hot
path):

- a request body larger than ``MAX_BODY_BYTES`` (by its ``Content-Length``, or counted as it
  arrives when chunked) is refused with 413: the largest real body, a decision, holds a
  rationale of at most 10,000 characters;
- every HTML response carries a Content-Security-Policy (the page sets its own; the evidence
  report and anything else HTML get ``HTML_CSP``: no scripts, nothing fetched from elsewhere).
"""

from __future__ import annotations

import json

MAX_BODY_BYTES = 256 * 1024
HTML_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
# Swagger UI starts itself with an inline script
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
            "frame-ancestors 'none'; base-uri 'none'")


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Hardening:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"request body larger than {MAX_BODY_BYTES} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return await _refuse(send, 400, "invalid Content-Length")
                if length > MAX_BODY_BYTES:
                    return await _refuse(send, 413, too_large)
        csp = DOCS_CSP if scope["path"] == "/docs" else HTML_CSP
        seen = 0
        started = refused = False

        async def counted_receive():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY_BYTES and not started:
                    # answered here; the app sees the client gone and its answer is dropped
                    refused = True
                    await _refuse(send, 413, too_large)
                    return {"type": "http.disconnect"}
            return message

        async def with_csp(message):
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {n.lower() for n, _ in headers}
                html = any(n.lower() == b"content-type" and v.startswith(b"text/html")
                           for n, v in headers)
                if html and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", csp.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, counted_receive, with_csp)
        except Exception:
            if not refused:
                raise
