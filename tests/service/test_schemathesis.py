"""Property-based requests generated from /openapi.json: whatever they send, the service never answers 5xx.

Bounded: a handful of valid and invalid examples per operation and no shrinking, so the run stays within a
minute. Requests carry the API key, so the mutating endpoints are fuzzed past authentication; they run
against a server of their own, whose training jobs end with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.support.registry import make_registry

MAX_EXAMPLES = 25


def test_no_generated_request_gets_a_server_error(server_factory: Any, tmp_path: Path) -> None:
    live_server = server_factory(make_registry(tmp_path / "fuzzed.db"))
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    failures: list[str] = []
    # Mutating operations that answered something other than 401: the key got them past authentication.
    authenticated: set[str] = set()
    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @given(case=strategy)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def exercise(case: Any) -> None:
            response = case.call(base_url=live_server.url, headers=live_server.auth, timeout=60)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path}: {response.status_code} {response.text[:300]}")
            if response.status_code != 401:
                authenticated.add(f"{case.method} {case.path}")

        exercise()
    assert not failures, "\n".join(failures)
    assert {"POST /train", "DELETE /train/{job_id}", "POST /models/{arch}/activate"} <= authenticated
