"""The HTTP protocol ``trailmatch serve`` runs: uvicorn's httptools protocol (its C parser; the
pure-Python h11 one where httptools is not installed) with TCP_NODELAY set on every connection.

Why the protocol matters: parsing and writing HTTP with h11 was about a fifth of the server's
time per ``GET /hits`` request under load; httptools (with uvloop as the event loop, which
uvicorn picks by itself when installed) is the deployment uvicorn itself recommends.

Why TCP_NODELAY: with ``--workers > 1`` uvicorn binds the listening socket itself with protocol
number 0, and asyncio only sets TCP_NODELAY on sockets whose protocol is IPPROTO_TCP. Without
it, Nagle's algorithm holds back the second small write of a response (uvicorn writes the head
and the body separately) until the client's delayed ACK, and every request paid ~45 ms on the
test machine (even ``/health``).
"""

from __future__ import annotations

import socket

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Protocol
except ImportError:  # httptools not installed: the pure-Python parser
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Protocol  # type: ignore[assignment]


class NoDelayHttpProtocol(_Protocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
