"""The HTTP protocol ``trailmatch serve`` runs: uvicorn's h11 protocol with TCP_NODELAY set on
every connection.

Why: with ``--workers > 1`` uvicorn binds the listening socket itself with protocol number 0,
and asyncio only sets TCP_NODELAY on sockets whose protocol is IPPROTO_TCP. Without it, Nagle's
algorithm holds back the second small write of a response until the client's delayed ACK, and
every request paid ~45 ms on the test machine (even ``/health``).
"""

from __future__ import annotations

import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
