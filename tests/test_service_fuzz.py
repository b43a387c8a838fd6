"""Schemathesis against the live app: ``trailmatch serve`` in a subprocess on a free loopback
port (uvicorn, the real sockets), fuzzed from its own OpenAPI schema with bounded examples and
bearer tokens of an officer and of the processing team, so that the routes are exercised past
the 401. No input, valid or not, may produce a 5xx; every response must match the documented
schema; the server logs no traceback."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import serving
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from service_world import build_world

from trailmatch.rules import WORKING_CRS
from trailmatch.store import Store

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    world = build_world(tmp_path_factory.mktemp("fuzzstore"))
    Store.create(world.store, WORKING_CRS)  # its store.json: serve opens existing stores only
    return world


@pytest.fixture(scope="module")
def live(fuzz_world, tmp_path_factory):
    """The base URL of ``trailmatch serve`` over the fuzz world, and its log file."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(fuzz_world.store, log) as base:
        yield base, log


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
