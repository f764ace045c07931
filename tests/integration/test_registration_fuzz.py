"""Schemathesis over registration's OpenAPI document: no input gives a 5xx or a response that breaks the
schema. Bounded example counts keep it within CI time; it runs against the real service and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.registration_support import RegistrationApi

pytestmark = pytest.mark.asyncio(loop_scope="session")
EXAMPLES_PER_OPERATION = 25


def exercise(operation: Any, headers: dict[str, str] | None) -> None:
    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(
            headers=headers, checks=[not_a_server_error, response_schema_conformance, content_type_conformance]
        )

    run()


async def test_no_input_breaks_the_api(registration_api: RegistrationApi) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        tenant = await registration_api.tenant(http)
        await registration_api.meeting(http, tenant)
    schema = schemathesis.openapi.from_url(registration_api.config.url("registration") + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures = []
    for operation in operations:
        for headers in (None, tenant.headers):  # as the public, and as a coordinator
            try:
                exercise(operation, headers)
            except Exception as exc:  # collect them all, then fail with the list
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert failures == []
