"""End to end, at the HTTP level: paths, trailing slashes, Content-Encoding, the fallback header.

Against the session's gateway (tests/conftest.py), with the local key: every
api.openai.com path the pinned SDK calls is answered by a route (never a bare
"Invalid URL"), a trailing slash is not redirected, a compressed body is
decoded, and the json_schema fallback says so in a header.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

pytestmark = pytest.mark.e2e

MESSAGES: Any = [{"role": "user", "content": "hi"}]
CHAT = {"model": "chat-plain", "messages": MESSAGES}
CITY_SCHEMA: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# `self._post("/audio/speech", ...)`, `self._get_api_list(f"/evals/{eval_id}/runs", ...)`,
# and 2.x's `self._get(path_template("/files/{file_id}", file_id=file_id), ...)`
_SDK_CALL = re.compile(
    r'self\._(get|post|delete|get_api_list)\(\s*(?:path_template\(\s*)?f?"(/[^"]*)"', re.S
)
_METHODS = {"get": "GET", "post": "POST", "delete": "DELETE", "get_api_list": "GET"}


def sdk_calls() -> list[tuple[str, str]]:
    """Every (method, /v1 path) the pinned SDK's resources call, path parameters filled in."""
    resources = Path(openai.__file__).parent / "resources"
    calls = {
        (_METHODS[m.group(1)], "/v1" + re.sub(r"\{[^}]*\}", "x1", m.group(2)))
        for source in sorted(resources.rglob("*.py"))
        for m in _SDK_CALL.finditer(source.read_text(encoding="utf-8"))
    }
    return sorted(calls)


def send(
    gateway_url: str,
    method: str,
    path: str,
    key: str | None,
    content: bytes = b"",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = dict(headers or {})
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    return httpx.request(method, f"{gateway_url}{path}", content=content, headers=sent, timeout=10)


def test_the_sdk_calls_many_paths() -> None:
    assert len(sdk_calls()) > 100  # the scan finds the SDK's calls, not nothing


@pytest.mark.parametrize(("method", "path"), sdk_calls())
def test_every_path_the_sdk_calls_is_answered_by_a_route_not_invalid_url(
    gateway_url: str, local_key: str, method: str, path: str
) -> None:
    response = send(gateway_url, method, path, local_key, b"{}")
    error = response.json().get("error") if response.status_code >= 400 else None
    assert error is None or not error["message"].startswith("Invalid URL"), (method, path, error)


def test_responses_api_is_not_found_pointing_to_chat_completions(
    gateway_client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        gateway_client.responses.create(model="chat-plain", input="hi")
    body: Any = raw_body(raised.value)
    assert body["error"]["message"].startswith("POST /v1/responses is not supported")
    assert "POST /v1/chat/completions" in body["error"]["message"]
    assert body["error"]["doc_url"].endswith("#endpoint-responses")


def raw_body(error: openai.APIStatusError) -> Any:
    return json.loads(error.response.text)


def test_unsupported_path_authenticates_first(gateway_url: str) -> None:
    response = send(gateway_url, "POST", "/v1/responses", None, b"{}")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat/completions/"),
        ("POST", "/v1/completions/"),
        ("POST", "/v1/embeddings/"),
        ("GET", "/v1/models/"),
        ("GET", "/v1/models/chat-plain/"),
    ],
)
def test_trailing_slash_is_invalid_url_after_authentication_never_a_redirect(
    gateway_url: str, local_key: str, method: str, path: str
) -> None:
    anonymous = send(gateway_url, method, path, None, json.dumps(CHAT).encode())
    assert anonymous.status_code == 401
    response = send(gateway_url, method, path, local_key, json.dumps(CHAT).encode())
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json()["error"]["message"] == f"Invalid URL ({method} {path})"
    assert response.json()["error"]["param"] is None
    assert "x-ratelimit-limit-requests" in response.headers


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("identity", lambda data: data),
    ],
)
def test_compressed_request_body_is_decoded_and_answered(
    gateway_url: str, local_key: str, encoding: str, encode: Any
) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
    body = encode(json.dumps(CHAT).encode())
    response = send(gateway_url, "POST", "/v1/chat/completions", local_key, body, headers)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Echo: hi"


def test_gzip_body_error_is_worded_on_the_decoded_json(gateway_url: str, local_key: str) -> None:
    headers = {"Content-Encoding": "gzip"}
    body = gzip.compress(json.dumps({**CHAT, "temperature": 5}).encode())
    response = send(gateway_url, "POST", "/v1/chat/completions", local_key, body, headers)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "temperature"


@pytest.mark.parametrize("encoding", ["br", "zstd"])
def test_unsupported_content_encoding_is_415_in_the_envelope(
    gateway_url: str, local_key: str, encoding: str
) -> None:
    headers = {"Content-Encoding": encoding}
    body = json.dumps(CHAT).encode()
    response = send(gateway_url, "POST", "/v1/chat/completions", local_key, body, headers)
    assert response.status_code == 415
    error = response.json()["error"]
    assert encoding in error["message"] and error["param"] is None
    assert error["doc_url"].endswith("#request-encoding")


def test_corrupt_gzip_body_is_400_not_a_json_parse_error(gateway_url: str, local_key: str) -> None:
    headers = {"Content-Encoding": "gzip"}
    body = json.dumps(CHAT).encode()  # plain JSON labeled gzip
    response = send(gateway_url, "POST", "/v1/chat/completions", local_key, body, headers)
    assert response.status_code == 400
    assert "Content-Encoding: gzip" in response.json()["error"]["message"]


def test_gzip_bomb_is_413_on_its_decoded_size(start_gateway: Any, local_key: str) -> None:
    limit = 4096
    bomb = gzip.compress(json.dumps({**CHAT, "user": " " * (limit * 100)}).encode())
    assert len(bomb) < limit
    with start_gateway({"GATEWAY_MAX_BODY_BYTES": str(limit)}) as url:
        response = send(
            url, "POST", "/v1/chat/completions", local_key, bomb, {"Content-Encoding": "gzip"}
        )
        assert response.status_code == 413
        small = gzip.compress(json.dumps(CHAT).encode())
        ok = send(
            url, "POST", "/v1/chat/completions", local_key, small, {"Content-Encoding": "gzip"}
        )
        assert ok.status_code == 200


def test_json_schema_fallback_says_what_it_applied_in_a_header(
    gateway_client: openai.OpenAI,
) -> None:
    raw = gateway_client.chat.completions.with_raw_response.create(
        model="chat-plain", messages=MESSAGES, response_format=CITY_SCHEMA
    )
    assert raw.headers["x-gateway-fallback"] == "response_format=json_object"
    # The engine answers json_object with {"echo": <last user message>}: the format was rewritten
    # and the client's messages are still the last ones.
    assert json.loads(raw.parse().choices[0].message.content or "") == {"echo": "hi"}


def test_json_schema_fallback_header_is_on_streamed_answers_too(
    gateway_client: openai.OpenAI,
) -> None:
    with gateway_client.chat.completions.with_streaming_response.create(
        model="chat-plain", messages=MESSAGES, response_format=CITY_SCHEMA, stream=True
    ) as response:
        assert response.headers["x-gateway-fallback"] == "response_format=json_object"


def test_no_fallback_header_where_the_model_has_structured_output(
    gateway_client: openai.OpenAI,
) -> None:
    raw = gateway_client.chat.completions.with_raw_response.create(
        model="chat-full", messages=MESSAGES, response_format=CITY_SCHEMA
    )
    assert "x-gateway-fallback" not in raw.headers


def test_cross_field_refusal_through_the_client_names_the_param_and_links_its_check(
    gateway_client: openai.OpenAI, gateway_url: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        gateway_client.chat.completions.create(
            model="chat-full", messages=MESSAGES, top_logprobs=3, stream_options={}
        )
    assert raised.value.param == "top_logprobs"
    assert raw_body(raised.value)["error"]["doc_url"] == (
        f"{gateway_url}/docs/compatibility#check-chat-completions-top-logprobs-needs-logprobs"
    )


def test_stop_empty_array_is_forwarded(gateway_client: openai.OpenAI) -> None:
    completion = gateway_client.chat.completions.create(
        model="chat-plain", messages=MESSAGES, stop=[]
    )
    assert completion.choices[0].message.content == "Echo: hi"


def exact(message: str, param: str | None, anchor: str, gateway_url: str, code: Any = None) -> Any:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": code,
            "doc_url": f"{gateway_url}/docs/compatibility#{anchor}",
        }
    }


def test_exact_error_bodies_at_the_http_level(gateway_url: str, local_key: str) -> None:
    """The whole body, for the answers issue 7 changed outside the validators."""

    def post(path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return send(gateway_url, "POST", path, local_key, json.dumps(body).encode(), headers)

    cases = [
        (
            post("/v1/chat/completions", {**CHAT, "model": "no-such-model"}),
            404,
            exact(
                "The model `no-such-model` does not exist or you do not have access to it.",
                None,
                "model-discovery",
                gateway_url,
                "model_not_found",
            ),
        ),
        (
            post("/v1/chat/completions", {**CHAT, "functions": [{"name": "f"}]}),
            400,
            exact(
                "Model 'chat-plain' does not support 'functions': it needs a model labeled "
                "tool_use in the catalog.",
                "functions",
                "chat-completions-functions",
                gateway_url,
            ),
        ),
        (
            post("/v1/chat/completions/", CHAT),
            404,
            exact("Invalid URL (POST /v1/chat/completions/)", None, "endpoints", gateway_url),
        ),
        (
            post("/v1/chat/completions", CHAT, {"Content-Encoding": "br"}),
            415,
            exact(
                "Unsupported Content-Encoding 'br': send the request body uncompressed, or "
                "compressed with gzip or deflate.",
                None,
                "request-encoding",
                gateway_url,
            ),
        ),
    ]
    for response, status, body in cases:
        assert (response.status_code, response.json()) == (status, body)
