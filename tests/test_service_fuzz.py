"""Schemathesis against the live app: ``trailmatch serve`` in a subprocess on a free loopback
port (uvicorn, the real sockets), fuzzed from its own OpenAPI schema with bounded examples and
bearer tokens of an officer and of the processing team, so that the routes are exercised past
the 401. No input, valid or not, may produce a 5xx; every response must match the documented
schema; the server logs no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from service_world import build_world

from trailmatch.rules import WORKING_CRS
from trailmatch.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
REPO = Path(__file__).resolve().parent.parent
SERVE = "import sys; from trailmatch.cli import main; sys.exit(main())"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    world = build_world(tmp_path_factory.mktemp("fuzzstore"))
    Store.create(world.store, WORKING_CRS)  # its store.json: serve opens existing stores only
    return world


@pytest.fixture(scope="module")
def live(fuzz_world, tmp_path_factory):
    """The base URL of ``trailmatch serve`` over the fuzz world, and its log file."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    for _attempt in range(3):  # the free port may be taken between the probe and the bind
        port = _free_port()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVE, "serve", "--store", str(fuzz_world.store),
                 "--host", "127.0.0.1", "--port", str(port)],
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
        pytest.fail(f"trailmatch serve did not start:\n{log.read_text()}")
    try:
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def operations(live):
    base, _log = live
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) >= 10  # every endpoint of the API is fuzzed
    return ops


FUZZ = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("who", ["proc", "ham"])
def test_live_api_never_fails_on_any_input(live, operations, fuzz_world, who):
    base, log = live
    headers = {"Authorization": f"Bearer {fuzz_world.tokens[who]}"}
    statuses: dict[int, int] = {}
    for operation in operations:
        @FUZZ
        @given(case=operation.as_strategy())
        def fuzz(case):
            response = case.call_and_validate(
                base_url=base, headers=headers,
                checks=[not_a_server_error, response_schema_conformance])
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        fuzz()
    assert not [s for s in statuses if s >= 500], statuses
    # The token opened the routes: most answers are past authentication.
    assert sum(n for s, n in statuses.items() if s != 401) > 0.9 * sum(statuses.values())
    assert 200 in statuses
    assert "Traceback" not in log.read_text()
