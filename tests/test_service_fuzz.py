"""Schemathesis against the app's own OpenAPI schema (in-process ASGI, bounded examples):
no input, valid or not, may produce a 5xx; every response must match the documented schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from service_world import build_world

from service.app import create_app

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("fuzzstore"))


@pytest.fixture(scope="module")
def operations(fuzz_world):
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_world.store))
    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) >= 10  # every endpoint of the API is fuzzed
    return ops


FUZZ = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("who", ["proc", "ham"])
def test_api_never_fails_on_any_input(operations, fuzz_world, who):
    headers = {"Authorization": f"Bearer {fuzz_world.tokens[who]}"}
    for operation in operations:
        @FUZZ
        @given(case=operation.as_strategy())
        def fuzz(case):
            case.call_and_validate(headers=headers,
                                   checks=[not_a_server_error, response_schema_conformance])

        fuzz()
