"""``trailmatch serve`` in a subprocess on a free loopback port, for tests of the live app."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
SERVE = "import sys; from trailmatch.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(store: Path, log: Path, *extra: str) -> Iterator[str]:
    """The base URL of ``trailmatch serve --store STORE EXTRA...`` on 127.0.0.1 (its stdout
    and stderr in ``log``); stopped (SIGTERM, then SIGKILL) when the block ends."""
    proc = None
    for _attempt in range(3):  # the free port may be taken between the probe and the bind
        port = free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVE, "serve", "--store", str(store),
                 "--host", "127.0.0.1", "--port", str(port), *extra],
                env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO, stdout=out, stderr=out)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        if proc.poll() is None:
            break
    else:
        raise RuntimeError(f"trailmatch serve did not start:\n{log.read_text()}")
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
