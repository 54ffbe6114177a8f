"""The access log (gateway.ops.access_log): one JSON line per answered request, on its own
handler, switched by `logging.access`; through real gateway processes as deployed."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from gateway.config import load_config
from gateway.config_errors import ConfigError
from gateway.observe import RefusalInfo, RequestOutcome, Usage
from gateway.ops.access_log import AccessLog, access_line, utc_time

JSON = dict[str, Any]
FIELDS = {
    "time",
    "request_id",
    "key_id",
    "model",
    "endpoint",
    "status",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "stream",
    "first_chunk_ms",
    "stream_end",
    "error_type",
    "error_param",
    "error_code",
}


def outcome(**changes: Any) -> RequestOutcome:
    fields: JSON = {
        "outcome_id": "o0123",
        "request_id": "req_0123",
        "received_at": 1_764_605_109.125,
        "endpoint": "chat.completions",
        "key_id": "local-dev",
        "model": "chat-full",
        "status": 200,
        "stream": True,
        "usage": Usage(9, 12, 4),
        "latency_s": 0.0034121,
        "first_chunk_s": 0.0012,
        "error": None,
        "stream_end": "done",
    }
    return RequestOutcome(**{**fields, **changes})


def test_a_streamed_answer_becomes_one_line_with_tokens_and_first_chunk_in_ms() -> None:
    line = json.loads(msgspec.json.encode(access_line(outcome())))
    assert line == {
        "time": "2025-12-01T16:05:09.125Z",
        "request_id": "req_0123",
        "key_id": "local-dev",
        "model": "chat-full",
        "endpoint": "chat.completions",
        "status": 200,
        "latency_ms": 3.412,
        "prompt_tokens": 9,
        "completion_tokens": 12,
        "cached_tokens": 4,
        "stream": True,
        "first_chunk_ms": 1.2,
        "stream_end": "done",
        "error_type": None,
        "error_param": None,
        "error_code": None,
    }


def test_a_refusal_names_its_type_param_and_code_and_every_key_is_present(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refused = outcome(
        status=400,
        stream=False,
        usage=None,
        first_chunk_s=None,
        stream_end=None,
        error=RefusalInfo("invalid_request_error", "temperature", None, "too hot"),
    )
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        AccessLog()(refused)
    [record] = caplog.records
    line = json.loads(record.getMessage())
    assert set(line) == FIELDS
    assert (line["status"], line["error_type"], line["error_param"]) == (
        400,
        "invalid_request_error",
        "temperature",
    )
    assert line["prompt_tokens"] is None and line["first_chunk_ms"] is None


def test_one_turns_outcomes_are_one_record_of_one_json_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes = [outcome(request_id=f"req_{n}", status=200 + n) for n in range(3)]
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        AccessLog().observe_batch(outcomes)
    [record] = caplog.records  # one handler call: one write for the whole turn
    lines = [json.loads(text) for text in record.getMessage().split("\n")]
    assert [(line["request_id"], line["status"]) for line in lines] == [
        ("req_0", 200),
        ("req_1", 201),
        ("req_2", 202),
    ]
    assert all(set(line) == FIELDS for line in lines)


def test_utc_time_is_iso_8601_to_the_millisecond() -> None:
    assert utc_time(0.0) == "1970-01-01T00:00:00.000Z"
    assert utc_time(1_764_605_109.9996) == "2025-12-01T16:05:09.999Z"  # never rounded up


def test_a_bad_access_log_setting_stops_start_up_naming_it() -> None:
    path = Path(__file__).resolve().parents[1] / "config" / "gateway.yaml"
    with pytest.raises(ConfigError, match="access"):
        load_config(path, {"GATEWAY_ACCESS_LOG": "xml"})
    with pytest.raises(ConfigError, match=r"logging\.access_level must be one of"):
        load_config(path, {"GATEWAY_ACCESS_LOG_LEVEL": "loud"})
    assert load_config(path, {"GATEWAY_ACCESS_LOG": "off"}).logging.access == "off"


# ---------------------------------------------------------------- through real gateways


def access_lines(log: Path) -> list[JSON]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def wait_for_line(log: Path, request_id: str) -> JSON:
    deadline = time.monotonic() + 10
    while not (found := [line for line in access_lines(log) if line["request_id"] == request_id]):
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.05)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.e2e
def test_each_request_is_one_json_line_with_the_id_the_client_got(
    start_gateway_server: Any, local_key: str
) -> None:
    headers = {"Authorization": f"Bearer {local_key}"}
    with start_gateway_server({}) as gateway:
        with httpx.Client(base_url=gateway.url, headers=headers, timeout=20) as http:
            plain = http.post(
                "/v1/chat/completions",
                json={"model": "chat-full", "messages": [{"role": "user", "content": "a b c"}]},
            )
            refused = http.post(
                "/v1/chat/completions",
                json={"model": "chat-full", "messages": [], "temperature": 1},
            )
            with http.stream(
                "POST",
                "/v1/chat/completions",
                json={
                    "model": "chat-plain",
                    "stream": True,
                    "messages": [{"role": "user", "content": "x y"}],
                },
            ) as streamed:
                streamed.read()
        answered = wait_for_line(gateway.log, plain.headers["x-request-id"])
        refusal = wait_for_line(gateway.log, refused.headers["x-request-id"])
        stream = wait_for_line(gateway.log, streamed.headers["x-request-id"])
    usage = plain.json()["usage"]
    assert set(answered) == FIELDS
    assert (answered["status"], answered["key_id"], answered["model"]) == (
        200,
        "local-dev",
        "chat-full",
    )
    assert answered["prompt_tokens"] == usage["prompt_tokens"] == 3
    assert answered["completion_tokens"] == usage["completion_tokens"]
    assert answered["latency_ms"] > 0 and answered["endpoint"] == "chat.completions"
    assert (refusal["status"], refusal["error_param"]) == (400, "messages")
    assert (stream["stream"], stream["stream_end"], stream["prompt_tokens"]) == (True, "done", 2)
    assert stream["first_chunk_ms"] is not None and stream["first_chunk_ms"] > 0


@pytest.mark.e2e
def test_access_log_off_writes_no_line(start_gateway_server: Any, local_key: str) -> None:
    with start_gateway_server({"GATEWAY_ACCESS_LOG": "off"}) as gateway:
        response = httpx.post(
            f"{gateway.url}/v1/embeddings",
            json={"model": "embed-model", "input": "x"},
            headers={"Authorization": f"Bearer {local_key}"},
            timeout=20,
        )
        assert response.status_code == 200  # a line would have been written before the answer
        assert access_lines(gateway.log) == []
