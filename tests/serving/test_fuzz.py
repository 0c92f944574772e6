"""Property-based fuzzing from the app's own OpenAPI schema (schemathesis, bounded).

Every generated request, valid or not, must get a documented status, never a 5xx, and a body
that matches the documented schema. The schema is the app's own ``openapi()``; the requests go
to the real app under uvicorn on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from mlsys_assets.settings import Settings
from serving.app import create_app
from tests.serving.conftest import LiveServer, admin_headers
from tests.serving.world import World

SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
OPERATIONS = {op.ok().label: op.ok() for op in SCHEMA.get_all_operations()}


@pytest.fixture(scope="module")
def live_shared(shared_world: World) -> Iterator[LiveServer]:
    server = LiveServer(shared_world.settings).start()
    yield server
    server.stop()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_api_never_errors_and_keeps_its_schema(live_shared: LiveServer, label: str) -> None:
    operation = OPERATIONS[label]
    headers = admin_headers() if operation.path.startswith("/admin") else None

    examples = 6 if operation.path == "/predict/batch" else 15  # a case may hold 1,000 flights

    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=live_shared.url, headers=headers, timeout=30)

    check()
