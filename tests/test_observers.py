"""The one place a request's outcome is seen (gateway.observe), through a real gateway process.

tests/observed_gateway.py runs the app with an observer that appends each
outcome to a file; every test checks the outcome its request produced, and
that it was reported once: a sentinel request (a 401 on embeddings) sent
afterwards must be the very next outcome.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
WAIT_S = 15.0
BAD_KEY = "sk-not-a-key-of-this-gateway-0000000000000"


@pytest.fixture
def http(observed_gateway: Any, local_key: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {local_key}"}
    with httpx.Client(base_url=observed_gateway.server.url, headers=headers, timeout=20) as c:
        yield c


def recorded(observed_gateway: Any) -> list[JSON]:
    text: str = observed_gateway.record.read_text()
    return [json.loads(line) for line in text.splitlines()]


def wait_for(observed_gateway: Any, count: int) -> list[JSON]:
    deadline = time.monotonic() + WAIT_S
    while len(lines := recorded(observed_gateway)) < count:
        assert time.monotonic() < deadline, f"{len(lines)} outcomes, not {count}: {lines}"
        time.sleep(0.02)
    return lines


def observed(observed_gateway: Any, requests: Callable[[], object], count: int = 1) -> list[JSON]:
    """The outcomes of `requests` (`count` of them), each reported exactly once.

    A sentinel request before and after: outcomes are delivered in order, after their
    answers, so once the first sentinel's is recorded no earlier test's can still come;
    the second one's shows that nothing more came after the awaited `count`."""
    before = len(sentinel_outcome(observed_gateway))
    requests()
    wait_for(observed_gateway, before + count)
    lines = sentinel_outcome(observed_gateway)
    assert len(lines) == before + count + 1, lines[before:]
    return lines[before:-1]


def sentinel_outcome(observed_gateway: Any) -> list[JSON]:
    """What is recorded once a refused request's outcome is (it ends the list)."""
    sentinel = httpx.post(
        f"{observed_gateway.server.url}/v1/embeddings",
        json={"model": "embed-model", "input": "x"},
        headers={"Authorization": f"Bearer {BAD_KEY}"},
        timeout=20,
    )
    assert sentinel.status_code == 401
    request_id = sentinel.headers["x-request-id"]
    deadline = time.monotonic() + WAIT_S
    while not (lines := recorded(observed_gateway)) or lines[-1]["request_id"] != request_id:
        assert time.monotonic() < deadline, f"no outcome for {request_id}: {lines[-5:]}"
        time.sleep(0.02)
    assert (lines[-1]["endpoint"], lines[-1]["status"]) == ("embeddings", 401)
    return lines


def user(text: str) -> list[JSON]:
    return [{"role": "user", "content": text}]


def words(count: int) -> str:
    return " ".join(f"word{i}" for i in range(count))


def usage_fields(usage: JSON) -> JSON:
    return {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage.get("completion_tokens"),
        "cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens"),
    }


def test_answered_chat_reports_key_model_status_usage_and_latency(
    observed_gateway: Any, http: httpx.Client
) -> None:
    answers: list[httpx.Response] = []
    body = {"model": "chat-full", "messages": user(words(300)), "max_tokens": 5}
    [outcome] = observed(
        observed_gateway, lambda: answers.append(http.post("/v1/chat/completions", json=body))
    )
    assert answers[0].status_code == 200
    usage = answers[0].json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] > 0  # the engine's cache count
    assert outcome["usage"] == usage_fields(usage)
    assert {k: outcome[k] for k in ("endpoint", "key_id", "model", "status", "stream")} == {
        "endpoint": "chat.completions",
        "key_id": "local-dev",
        "model": "chat-full",
        "status": 200,
        "stream": False,
    }
    assert outcome["latency_s"] > 0 and outcome["first_chunk_s"] is None
    assert outcome["error"] is None and outcome["stream_end"] is None


def test_answered_embeddings_reports_the_engines_prompt_tokens(
    observed_gateway: Any, http: httpx.Client
) -> None:
    answers: list[httpx.Response] = []
    body = {"model": "embed-model", "input": "hello there"}
    [outcome] = observed(
        observed_gateway, lambda: answers.append(http.post("/v1/embeddings", json=body))
    )
    assert answers[0].status_code == 200
    assert (outcome["endpoint"], outcome["model"], outcome["status"]) == (
        "embeddings",
        "embed-model",
        200,
    )
    prompt_tokens = answers[0].json()["usage"]["prompt_tokens"]
    assert outcome["usage"]["prompt_tokens"] == prompt_tokens > 0


def test_invalid_body_reports_the_400_with_its_param(
    observed_gateway: Any, http: httpx.Client
) -> None:
    body = {"model": "chat-plain", "messages": user("x"), "temperature": 5}
    [outcome] = observed(observed_gateway, lambda: http.post("/v1/chat/completions", json=body))
    assert (outcome["status"], outcome["key_id"], outcome["usage"]) == (400, "local-dev", None)
    assert outcome["error"]["param"] == "temperature"
    assert outcome["error"]["type"] == "invalid_request_error"


def test_unknown_key_reports_a_401_with_no_key_id(observed_gateway: Any) -> None:
    def request() -> None:
        response = httpx.post(
            f"{observed_gateway.server.url}/v1/chat/completions",
            json={"model": "chat-plain", "messages": user("x")},
            headers={"Authorization": f"Bearer {BAD_KEY}"},
        )
        assert response.status_code == 401

    [outcome] = observed(observed_gateway, request)
    assert (outcome["endpoint"], outcome["status"], outcome["key_id"]) == (
        "chat.completions",
        401,
        None,
    )
    assert outcome["error"]["code"] == "invalid_api_key"


def test_rate_limited_request_reports_the_429_and_its_key(
    observed_gateway: Any, tiny_key: str
) -> None:
    statuses: list[int] = []

    def requests() -> None:
        for _ in range(2):  # the tiny key allows one request a minute
            response = httpx.post(
                f"{observed_gateway.server.url}/v1/chat/completions",
                json={"model": "chat-plain", "messages": user("x"), "max_tokens": 2},
                headers={"Authorization": f"Bearer {tiny_key}"},
                timeout=20,
            )
            statuses.append(response.status_code)

    first, second = observed(observed_gateway, requests, count=2)
    assert statuses == [200, 429]
    assert (first["status"], second["status"]) == (200, 429)
    assert second["key_id"] == "tiny" and second["error"]["code"] == "rate_limit_exceeded"


def test_engine_5xx_reports_the_502_server_error(observed_gateway: Any, http: httpx.Client) -> None:
    body = {"model": "fail-500", "messages": user("x")}
    [outcome] = observed(observed_gateway, lambda: http.post("/v1/chat/completions", json=body))
    assert (outcome["status"], outcome["model"], outcome["error"]["type"]) == (
        502,
        "fail-500",
        "server_error",
    )
    # ... and the operator's log says which engine failed, once.
    assert observed_gateway.server.log.read_text().count("model fail-500 answered HTTP 500") == 1


def stream_lines(http: httpx.Client, body: JSON, keep: int | None = None) -> list[str]:
    """The `data:` lines of a streamed answer; only the first `keep`, then hang up."""
    lines: list[str] = []
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                lines.append(line.removeprefix("data: "))
                if keep is not None and len(lines) == keep:
                    break
    return lines


def test_completed_stream_reports_done_with_the_last_chunks_usage(
    observed_gateway: Any, http: httpx.Client
) -> None:
    body = {
        "model": "chat-plain",
        "messages": user(words(20)),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    lines: list[str] = []
    [outcome] = observed(observed_gateway, lambda: lines.extend(stream_lines(http, body)))
    assert lines[-1] == "[DONE]"
    usage = json.loads(lines[-2])["usage"]
    assert outcome["usage"] == usage_fields(usage) and usage["completion_tokens"] > 0
    assert (outcome["status"], outcome["stream"], outcome["stream_end"]) == (200, True, "done")
    assert 0 < outcome["first_chunk_s"] <= outcome["latency_s"]


def test_stream_the_engine_cuts_reports_the_error_event_it_ended_with(
    observed_gateway: Any, http: httpx.Client
) -> None:
    body = {"model": "fail-disconnect", "messages": user("x"), "stream": True}
    lines: list[str] = []
    [outcome] = observed(observed_gateway, lambda: lines.extend(stream_lines(http, body)))
    assert json.loads(lines[-1])["error"]["type"] == "server_error"
    assert (outcome["status"], outcome["stream_end"]) == (200, "engine_error")
    assert outcome["error"]["type"] == "server_error"
    log = observed_gateway.server.log.read_text()
    assert log.count("stream of model fail-disconnect ended (engine_error)") == 1


def test_stream_the_client_leaves_reports_client_gone_once(
    observed_gateway: Any, http: httpx.Client
) -> None:
    body = {"model": "chat-plain", "messages": user(words(200)), "stream": True}
    [outcome] = observed(observed_gateway, lambda: stream_lines(http, body, keep=2))
    assert (outcome["status"], outcome["stream"], outcome["stream_end"]) == (
        200,
        True,
        "client_gone",
    )
    assert outcome["usage"] is None and outcome["first_chunk_s"] is not None


def test_model_listing_and_unsupported_endpoints_report_under_their_matrix_keys(
    observed_gateway: Any, http: httpx.Client
) -> None:
    statuses: list[int] = []

    def requests() -> None:
        statuses.append(http.get("/v1/models/chat-plain").status_code)
        statuses.append(http.post("/v1/batches", json={}).status_code)

    listing, batches = observed(observed_gateway, requests, count=2)
    assert statuses == [200, 404]
    assert (listing["endpoint"], listing["model"], listing["status"]) == (
        "models",
        "chat-plain",
        200,
    )
    assert (batches["endpoint"], batches["key_id"], batches["status"]) == (
        "batches",
        "local-dev",
        404,
    )


def test_crash_is_answered_500_and_logged_with_one_traceback(observed_gateway: Any) -> None:
    response = httpx.post(f"{observed_gateway.server.url}/v1/crash", content=b"{}")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    log = observed_gateway.server.log
    deadline = time.monotonic() + WAIT_S
    while "deliberate crash" not in log.read_text():
        assert time.monotonic() < deadline, "the crash was not logged"
        time.sleep(0.02)
    # Another request answered after it: the server had its chance to log the crash again.
    assert httpx.get(f"{observed_gateway.server.url}/v1/models").status_code == 401
    text = log.read_text()
    assert text.count("Traceback (most recent call last)") == 1, text
    assert "Exception in ASGI application" not in text
