"""End to end: seeded valid and mutated bodies against a running gateway.

The differential test pins the validators in process; this drives the same kind
of bodies through a real gateway in front of a real engine and checks what the
API user sees: never a 5xx, always OpenAI's envelope, and for an off-spec body
exactly the 400 the validator words. Each case's bytes are sent as generated
(the generated bodies name a served model, the raw edges their own), so
repeated keys, number spellings and bytes that are not UTF-8 reach the gateway,
and through it the engine.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from test_differential import generate_cases  # tests/ is on sys.path, as for mypy

from generated.validators import BY_ENDPOINT
from generator.regen import load_inputs

pytestmark = pytest.mark.e2e

PATHS = {
    "chat.completions": "/v1/chat/completions",
    "completions": "/v1/completions",
    "embeddings": "/v1/embeddings",
}
SERVED_MODEL = {
    "chat.completions": "chat-full",
    "completions": "chat-full",
    "embeddings": "embed-model",
}
CASES_PER_ENDPOINT = 150
ENVELOPE_KEYS = {"message", "type", "param", "code", "doc_url"}


@pytest.mark.parametrize("endpoint", sorted(PATHS))
def test_running_gateway_answers_every_fuzzed_body_without_a_server_error(
    endpoint: str, gateway_url: str, local_key: str
) -> None:
    # The bytes are sent as generated: repeated keys and number spellings reach the gateway.
    model = SERVED_MODEL[endpoint]
    cases = generate_cases(load_inputs(), endpoint, CASES_PER_ENDPOINT, seed=7, model=model)
    validator = BY_ENDPOINT[endpoint]
    headers = {"Authorization": f"Bearer {local_key}", "Content-Type": "application/json"}
    answered = 0
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=30) as client:
        for case in cases:
            response = client.post(PATHS[endpoint], content=case.body)
            shown = case.body[:300]
            assert response.status_code < 500, (shown, response.text[:500])
            expected = validator.problem(case.body)
            if expected is not None:
                error = response.json()["error"]
                assert response.status_code == 400, (shown, response.text[:500])
                assert (error["param"], error["message"]) == (expected.param, expected.message)
            if response.status_code != 200:
                assert set(response.json()["error"]) == ENVELOPE_KEYS, response.text[:500]
            answered += 1
            statuses[response.status_code] += 1
        assert client.get("/v1/models").status_code == 200  # still serving afterwards
    assert answered == len(cases)
    # Generated bodies name a served model: many reach the engine and come back answered.
    assert statuses[200] >= len(cases) // 10, statuses
