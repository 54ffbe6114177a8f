"""Exact error bodies for the cases in the field guide's table of real API answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import RequestValidationError
from gateway.wording import PARSE_ERROR
from generated.validators import BY_ENDPOINT

DOCS = "https://gateway.example/docs/compatibility"
USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "f"}}


def chat(**fields: Any) -> bytes:
    return json.dumps({"model": "m", "messages": [USER], **fields}).encode()


def error_body(endpoint: str, body: bytes) -> dict[str, Any]:
    with pytest.raises(RequestValidationError) as failure:
        BY_ENDPOINT[endpoint].validate(body)
    return failure.value.envelope(DOCS)


def envelope(message: str, param: str | None, anchor: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": None,
            "doc_url": f"{DOCS}#{anchor}",
        }
    }


GOLDENS: list[tuple[str, str, bytes, dict[str, Any]]] = [
    (
        "wrong type",
        "chat.completions",
        json.dumps({"model": "m", "messages": [USER, {"role": "user", "content": 5}]}).encode(),
        envelope(
            "Invalid type for 'messages[1].content': expected one of a string or array of "
            "objects, but got an integer instead.",
            "messages[1].content",
            "chat-completions-messages",
        ),
    ),
    (
        "missing top-level",
        "chat.completions",
        b'{"model": "m"}',
        envelope(
            "Missing required parameter: 'messages'.", "messages", "chat-completions-messages"
        ),
    ),
    (
        "missing model: the real API's own words, before any other problem",
        "chat.completions",
        b'{"messages": []}',
        envelope("you must provide a model parameter", None, "endpoint-chat-completions"),
    ),
    (
        "missing nested",
        "chat.completions",
        b'{"model": "m", "messages": [{"content": "hi"}]}',
        envelope(
            "Missing required parameter: 'messages[0].role'.",
            "messages[0].role",
            "chat-completions-messages",
        ),
    ),
    (
        "enum",
        "chat.completions",
        chat(tool_choice="other"),
        envelope(
            "Invalid value: 'other'. Supported values are: 'none', 'auto', and 'required'.",
            "tool_choice",
            "chat-completions-tool-choice",
        ),
    ),
    (
        "enum with two values",
        "embeddings",
        b'{"model": "bge-m3", "input": "x", "encoding_format": "hex"}',
        envelope(
            "Invalid value: 'hex'. Supported values are: 'float' and 'base64'.",
            "encoding_format",
            "embeddings-encoding-format",
        ),
    ),
    (
        "above maximum",
        "chat.completions",
        chat(temperature=5),
        envelope(
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, "
            "but got 5 instead.",
            "temperature",
            "chat-completions-temperature",
        ),
    ),
    (
        "below minimum",
        "chat.completions",
        chat(n=0),
        envelope(
            "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            "n",
            "chat-completions-n",
        ),
    ),
    (
        "gateway's single choice",
        "chat.completions",
        chat(n=2),
        envelope(
            "Invalid 'n': integer above maximum value. Expected a value <= 1, but got 2 instead.",
            "n",
            "chat-completions-n",
        ),
    ),
    (
        "empty array",
        "chat.completions",
        b'{"model": "m", "messages": []}',
        envelope(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "messages",
            "chat-completions-messages",
        ),
    ),
    (
        "empty tools",
        "chat.completions",
        chat(tools=[]),
        envelope(
            "Invalid 'tools': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "tools",
            "chat-completions-tools",
        ),
    ),
    (
        "too long",
        "chat.completions",
        chat(tools=[TOOL] * 150),
        envelope(
            "Invalid 'tools': array too long. Expected an array with maximum length 128, "
            "but got an array with length 150 instead.",
            "tools",
            "chat-completions-tools",
        ),
    ),
    (
        "explicit null where the SDK has no Optional",
        "embeddings",
        b'{"model": "bge-m3", "input": "x", "encoding_format": null}',
        envelope(
            "Invalid type for 'encoding_format': expected a string, but got null instead.",
            "encoding_format",
            "embeddings-encoding-format",
        ),
    ),
    (
        "bad JSON",
        "chat.completions",
        b'{"model": "m", "messages": [',
        envelope(PARSE_ERROR, None, "endpoint-chat-completions"),
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "body", "expected"),
    [pytest.param(e, b, x, id=case) for case, e, b, x in GOLDENS],
)
def test_error_body_matches_the_real_api_wording(
    endpoint: str, body: bytes, expected: dict[str, Any]
) -> None:
    assert error_body(endpoint, body) == expected


def test_stream_options_param_uses_dots_for_keys() -> None:
    body = chat(stream_options={"include_usage": "yes"})
    assert error_body("chat.completions", body)["error"]["param"] == "stream_options.include_usage"


def test_absurdly_deep_body_is_a_400_not_a_crash() -> None:
    deep = b'{"model": "m", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert error_body("chat.completions", deep)["error"]["param"] is None


def test_body_that_is_not_an_object_is_a_400() -> None:
    body = error_body("completions", b"[1, 2]")
    assert body["error"]["message"] == (
        "Invalid type for request body: expected an object, but got an array instead."
    )
