"""Property-based requests generated from the OpenAPI spec (schemathesis): no input may produce a 5xx.

schemathesis' pytest plugin does not load under this pytest version, so each operation's
hypothesis strategy is driven directly: same generators, same calls.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from geoseek.search import SearchEngine
from geoseek.search.api import ApiSettings, create_app


@pytest.fixture(scope="module")
def api_schema(small_index):
    engine = SearchEngine(small_index.root, device="cpu")
    app = create_app(ApiSettings(index=small_index.root, device="cpu"), engine=engine)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_answers_without_server_errors(api_schema):
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/search/text", "POST /v1/search/image", "GET /v1/images/{image_id}", "GET /v1/images/{image_id}/thumbnail",
        "GET /v1/images/{image_id}/crop", "GET /v1/health", "GET /v1/stats"}
    calls = []
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call()
            calls.append(response.status_code)
            assert response.status_code < 500, (case.method, case.path, case.body, response.text[:300])
            if response.status_code >= 400:
                assert "detail" in response.json()

        check()
    assert len(calls) >= 7 * 10
