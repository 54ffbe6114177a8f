"""Request ids (gateway.ops.request_ids): on every answer, from the client's header or made,
forwarded to the engine, seen by the official client, named in the gateway's log lines."""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import httpx
import openai
import pytest

from gateway.ops.request_ids import MAX_CLIENT_ID_CHARS, client_request_id

GENERATED = re.compile(r"req_[0-9a-f]{32}")
JSON = dict[str, Any]


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def last_engine_request_id(engine_url: str, path: str) -> str | None:
    received = httpx.get(f"{engine_url}/debug/received", timeout=5).json()
    assert received and received[-1]["path"] == path, received[-1:]
    found: str | None = received[-1].get("request_id")
    return found


# ---------------------------------------------------------------- the client's header


@pytest.mark.parametrize(
    "value", [b"a", b"trace-0f8e/2026:12:01 #7", b"x" * MAX_CLIENT_ID_CHARS, b"~!@%^&*()[]{}"]
)
def test_a_printable_ascii_client_id_up_to_512_characters_is_used_as_is(value: bytes) -> None:
    assert client_request_id(value) == value.decode()


@pytest.mark.parametrize(
    "value", [b"x" * (MAX_CLIENT_ID_CHARS + 1), "café".encode(), b"tab\there", b"nul\x00", b""]
)
def test_a_too_long_non_ascii_or_control_character_client_id_is_not_usable(value: bytes) -> None:
    assert client_request_id(value) is None


# ---------------------------------------------------------------- through a real gateway

e2e = pytest.mark.e2e


@e2e
def test_official_client_sees_a_generated_id_on_a_completion_and_the_engine_got_it(
    gateway_client: openai.OpenAI, e2e_engine_url: str
) -> None:
    raw = gateway_client.chat.completions.with_raw_response.create(
        model="chat-full", messages=user("hello")
    )
    completion = raw.parse()
    assert GENERATED.fullmatch(raw.headers["x-request-id"])
    assert completion._request_id == raw.headers["x-request-id"]
    assert last_engine_request_id(e2e_engine_url, "/v1/chat/completions") == completion._request_id


@e2e
def test_official_client_sees_the_id_of_a_stream_and_the_engine_got_it(
    gateway_client: openai.OpenAI, e2e_engine_url: str
) -> None:
    with gateway_client.chat.completions.with_streaming_response.create(
        model="chat-plain", messages=user("hello stream"), stream=True
    ) as response:
        request_id = response.headers["x-request-id"]
        assert response.request_id == request_id
        assert [line for line in response.iter_lines() if line][-1] == "data: [DONE]"
    assert GENERATED.fullmatch(request_id)
    assert last_engine_request_id(e2e_engine_url, "/v1/chat/completions") == request_id


@e2e
def test_client_request_id_becomes_the_request_id_forwarded_and_answered(
    gateway_client: openai.OpenAI, e2e_engine_url: str
) -> None:
    mine = "my-trace-7f3a9c e2e/1"
    raw = gateway_client.embeddings.with_raw_response.create(
        model="embed-model", input="x", extra_headers={"X-Client-Request-Id": mine}
    )
    assert raw.headers["x-request-id"] == mine
    assert raw.parse()._request_id == mine
    assert last_engine_request_id(e2e_engine_url, "/v1/embeddings") == mine


@e2e
@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/chat/completions", {"model": "no-such-model", "messages": user("x")}, 404),
        ("/chat/completions", {"model": "chat-full", "messages": []}, 400),
        ("/completions", {"model": "fail-500", "prompt": "x"}, 502),
    ],
)
def test_api_status_errors_carry_the_request_id(
    gateway_client: openai.OpenAI, path: str, body: JSON, status: int
) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        gateway_client.with_options(max_retries=0).post(path, cast_to=object, body=body)
    assert raised.value.status_code == status
    assert raised.value.request_id is not None
    assert GENERATED.fullmatch(raised.value.request_id)


@e2e
@pytest.mark.parametrize(
    ("method", "path", "authorized"),
    [
        ("GET", "/v1/nowhere", True),  # routing miss: Invalid URL
        ("POST", "/v1/chat/completions/", True),  # trailing slash
        ("GET", "/v1/models", False),  # 401
        ("POST", "/v1/batches", True),  # unsupported endpoint
        ("GET", "/docs/compatibility", False),
        ("GET", "/openapi.json", False),
        ("GET", "/healthz", False),
        ("GET", "/readyz", False),
    ],
)
def test_every_answer_carries_x_request_id(
    gateway_url: str, local_key: str, method: str, path: str, authorized: bool
) -> None:
    headers = {"Authorization": f"Bearer {local_key}"} if authorized else {}
    response = httpx.request(method, f"{gateway_url}{path}", headers=headers, timeout=10)
    assert GENERATED.fullmatch(response.headers["x-request-id"]), response.headers
    assert response.headers.get_list("x-request-id") == [response.headers["x-request-id"]]


@e2e
@pytest.mark.parametrize("value", [b"x" * (MAX_CLIENT_ID_CHARS + 1), "caf\u00e9".encode("latin-1")])
def test_an_unusable_client_request_id_is_a_400_envelope_like_api_openai_com(
    gateway_url: str, local_key: str, value: bytes
) -> None:
    headers = [(b"Authorization", f"Bearer {local_key}".encode()), (b"X-Client-Request-Id", value)]
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "chat-full", "messages": user("x")},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)
    assert "X-Client-Request-Id" in error["message"]
    assert "512" in error["message"]
    assert GENERATED.fullmatch(response.headers["x-request-id"])


@e2e
def test_the_guarded_protocols_own_refusals_carry_a_generated_id(gateway_url: str) -> None:
    host, port = gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = connection.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 400")
    assert re.search(r"\r\nx-request-id: req_[0-9a-f]{32}\r\n", answer), answer


@e2e
def test_an_engine_failures_log_line_names_the_request_id(
    start_gateway_server: Any, local_key: str
) -> None:
    with start_gateway_server({}) as gateway:
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "fail-500", "messages": user("x")},
            headers={"Authorization": f"Bearer {local_key}", "X-Client-Request-Id": "trace-500"},
            timeout=10,
        )
        assert response.status_code == 502
        deadline = time.monotonic() + 10
        while "answered HTTP 500" not in gateway.log.read_text():
            assert time.monotonic() < deadline, gateway.log.read_text()
            time.sleep(0.05)
        lines = [line for line in gateway.log.read_text().splitlines() if "HTTP 500" in line]
    assert lines and all(line.endswith("(request trace-500)") for line in lines), lines
