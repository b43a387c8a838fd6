"""``service.server.new_event_loop``: the loop ``trailmatch serve`` runs accepts every pending
connection when its listening socket becomes readable (libuv alone accepts one per loop
iteration, which left new connections waiting seconds behind a busy server), serves them, and
stops accepting when closed."""

from __future__ import annotations

import asyncio
import socket

import pytest

from service.server import _BatchAcceptServer, new_event_loop


class Echo(asyncio.Protocol):
    made: list[Echo] = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        Echo.made.append(self)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())


@pytest.fixture
def loop():
    loop = new_event_loop()
    yield loop
    loop.close()


def test_every_pending_connection_is_accepted_at_once_and_served(loop):
    Echo.made = []
    server = loop.run_until_complete(loop.create_server(Echo, "127.0.0.1", 0, backlog=64))
    port = server.sockets[0].getsockname()[1]
    # 20 handshakes completed by the kernel while the loop is not running (a busy server)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        for _ in range(3):  # a few iterations: readiness, accept all, set the transports up
            loop.run_until_complete(asyncio.sleep(0))
        assert len(Echo.made) == 20
        for i, c in enumerate(clients):
            c.sendall(f"hit {i}".encode())
        loop.run_until_complete(asyncio.sleep(0.05))
        for i, c in enumerate(clients):
            c.settimeout(5)
            assert c.recv(64) == f"HIT {i}".encode()
    finally:
        for c in clients:
            c.close()
        server.close()
        loop.run_until_complete(server.wait_closed())
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_tls_and_other_options_go_to_the_plain_loop(loop):
    # anything but a plain TCP server (here start_serving) is left to the loop's own method
    server = loop.run_until_complete(loop.create_server(Echo, "127.0.0.1", 0,
                                                        start_serving=False))
    assert not isinstance(server, _BatchAcceptServer)
    server.close()
    loop.run_until_complete(server.wait_closed())
