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

import asyncio
import errno
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


# --- accepting connections ------------------------------------------------------------------
# libuv (inside uvloop) accepts one connection per event-loop iteration (libuv PR #3696). An
# iteration of a busy server runs every request that is ready (50 clients: ~50 ms), so a burst
# of 50 new connections was accepted over seconds: their first requests waited 1-5 s while the
# kernel held them (measured: the server's connection_made 4.8 s after the client's connect).
# The loop below keeps uvloop (a quarter less CPU a request than asyncio's loop) and accepts
# every pending connection each time the listening socket is readable, as asyncio's loop does.

_ACCEPT_BACKOFF_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_ACCEPT_RETRY_S = 1.0


class _BatchAcceptServer:
    """The part of ``asyncio.Server`` uvicorn uses (``sockets``, ``close``, ``wait_closed``),
    over listening sockets whose pending connections are all accepted at each readiness."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sockets: list[socket.socket],
                 protocol_factory, backlog: int) -> None:
        self._loop = loop
        self._factory = protocol_factory
        self._backlog = backlog
        self._closed = False
        self._setting_up: set[asyncio.Task] = set()
        self.sockets = tuple(sockets)
        for sock in self.sockets:
            sock.setblocking(False)
            sock.listen(backlog)
            self._watch(sock)

    def _watch(self, sock: socket.socket) -> None:
        if not self._closed:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(self._backlog):
            try:
                conn, _addr = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in _ACCEPT_BACKOFF_ERRNOS:
                    raise
                # out of descriptors or memory: stop watching for a while (as asyncio does),
                # instead of spinning on a socket that stays readable
                self._loop.remove_reader(sock.fileno())
                self._loop.call_later(_ACCEPT_RETRY_S, self._watch, sock)
                return
            conn.setblocking(False)
            task = self._loop.create_task(self._serve(conn))
            self._setting_up.add(task)  # the loop holds tasks weakly
            task.add_done_callback(self._setting_up.discard)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:  # the client went away before the transport was set up
            conn.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    def is_serving(self) -> bool:
        return not self._closed

    async def wait_closed(self) -> None:
        return None


def _listening_sockets(host: str | None, port: int) -> list[socket.socket]:
    """Bound (not yet listening) TCP sockets for ``host``:``port``, one per address it resolves
    to, as ``loop.create_server`` binds them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop ``trailmatch serve`` gives uvicorn (``loop=`` takes a loop factory):
    uvloop with batch-accepting TCP servers, or asyncio's own loop where uvloop is missing."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()

    class BatchAcceptLoop(uvloop.Loop):
        async def create_server(self, protocol_factory, host=None, port=None, *, sock=None,
                                backlog=100, ssl=None, **kwargs):
            if ssl is not None or kwargs or (sock is None and port is None):
                return await super().create_server(protocol_factory, host, port, sock=sock,
                                                   backlog=backlog, ssl=ssl, **kwargs)
            sockets = [sock] if sock is not None else _listening_sockets(host, port)
            return _BatchAcceptServer(self, sockets, protocol_factory, backlog)

    return BatchAcceptLoop()
