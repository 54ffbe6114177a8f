"""Exact error bodies for the cases in the field guide's table of real API answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import RequestValidationError
from gateway.validation.wording import PARSE_ERROR
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
            "check-chat-completions-single-choice",
        ),
    ),
    (
        "n above OpenAI's own maximum: the schema stage",
        "chat.completions",
        chat(n=129),
        envelope(
            "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 "
            "instead.",
            "n",
            "chat-completions-n",
        ),
    ),
    (
        "top_logprobs without logprobs",
        "chat.completions",
        chat(top_logprobs=2),
        envelope(
            "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            "top_logprobs",
            "check-chat-completions-top-logprobs-needs-logprobs",
        ),
    ),
    (
        "top_logprobs with logprobs false",
        "chat.completions",
        chat(top_logprobs=2, logprobs=False),
        envelope(
            "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            "top_logprobs",
            "check-chat-completions-top-logprobs-needs-logprobs",
        ),
    ),
    (
        "logprobs null does not enable top_logprobs",
        "chat.completions",
        chat(top_logprobs=2, logprobs=None),
        envelope(
            "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            "top_logprobs",
            "check-chat-completions-top-logprobs-needs-logprobs",
        ),
    ),
    (
        "stream_options without stream",
        "chat.completions",
        chat(stream_options={"include_usage": True}),
        envelope(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "check-chat-completions-stream-options-need-stream",
        ),
    ),
    (
        "stream_options with stream false",
        "chat.completions",
        chat(stream_options={"include_usage": True}, stream=False),
        envelope(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "check-chat-completions-stream-options-need-stream",
        ),
    ),
    (
        "stream_options without stream on legacy completions",
        "completions",
        json.dumps({"model": "m", "prompt": "hi", "stream_options": {}}).encode(),
        envelope(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "check-completions-stream-options-need-stream",
        ),
    ),
    (
        "parallel_tool_calls without tools",
        "chat.completions",
        chat(parallel_tool_calls=False),
        envelope(
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
            "when 'tools' are specified.",
            "parallel_tool_calls",
            "check-chat-completions-parallel-tool-calls-need-tools",
        ),
    ),
    (
        "tool_choice without tools",
        "chat.completions",
        chat(tool_choice="required"),
        envelope(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
            "check-chat-completions-tool-choice-needs-tools",
        ),
    ),
    (
        "tool_choice none without tools: refused too",
        "chat.completions",
        chat(tool_choice="none"),
        envelope(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
            "check-chat-completions-tool-choice-needs-tools",
        ),
    ),
    (
        "logit_bias value out of range: param is the field, the value a decimal",
        "chat.completions",
        chat(logit_bias={"12345": 10000}),
        envelope(
            "Logit bias value 10000.0 is invalid or outside of range [-100, 100]",
            "logit_bias",
            "check-chat-completions-logit-bias-values",
        ),
    ),
    (
        "logit_bias value out of range on legacy completions",
        "completions",
        json.dumps({"model": "m", "prompt": "hi", "logit_bias": {"50256": -101}}).encode(),
        envelope(
            "Logit bias value -101.0 is invalid or outside of range [-100, 100]",
            "logit_bias",
            "check-completions-logit-bias-values",
        ),
    ),
    (
        "top_logprobs above 20, with logprobs",
        "chat.completions",
        chat(top_logprobs=21, logprobs=True),
        envelope(
            "Invalid 'top_logprobs': integer above maximum value. Expected a value <= 20, but "
            "got 21 instead.",
            "top_logprobs",
            "check-chat-completions-top-logprobs-at-most-20",
        ),
    ),
    # The recorded order of checks (issue 7): which rule a body breaking several names.
    (
        "order: top_logprobs -1 without logprobs is the schema stage's range error",
        "chat.completions",
        chat(top_logprobs=-1),
        envelope(
            "Invalid 'top_logprobs': integer below minimum value. Expected a value >= 0, but "
            "got -1 instead.",
            "top_logprobs",
            "chat-completions-top-logprobs",
        ),
    ),
    (
        "order: top_logprobs 1000000000 without logprobs is the cross-field rule",
        "chat.completions",
        chat(top_logprobs=1000000000),
        envelope(
            "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            "top_logprobs",
            "check-chat-completions-top-logprobs-needs-logprobs",
        ),
    ),
    (
        "order: stop of the wrong type before stream_options",
        "chat.completions",
        chat(stop=123, stream_options={"include_usage": True}),
        envelope(
            "Invalid type for 'stop': expected one of a string or array of strings, but got an "
            "integer instead.",
            "stop",
            "chat-completions-stop",
        ),
    ),
    (
        "order: stream_options before logit_bias values",
        "chat.completions",
        chat(logit_bias={"12345": 10000}, stream_options={"include_usage": True}),
        envelope(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "check-chat-completions-stream-options-need-stream",
        ),
    ),
    (
        "order: stream_options before the gateway's n",
        "chat.completions",
        chat(n=2, stream_options={"include_usage": True}),
        envelope(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
            "check-chat-completions-stream-options-need-stream",
        ),
    ),
    (
        "order: top_logprobs before stream_options",
        "chat.completions",
        chat(stream_options={"include_usage": True}, top_logprobs=3),
        envelope(
            "The 'top_logprobs' parameter is only allowed when 'logprobs' is enabled.",
            "top_logprobs",
            "check-chat-completions-top-logprobs-needs-logprobs",
        ),
    ),
    (
        "order: parallel_tool_calls before tool_choice",
        "chat.completions",
        chat(tool_choice="auto", parallel_tool_calls=True),
        envelope(
            "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
            "when 'tools' are specified.",
            "parallel_tool_calls",
            "check-chat-completions-parallel-tool-calls-need-tools",
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
        "embeddings input empty array: the real API's words, param null",
        "embeddings",
        b'{"model": "bge-m3", "input": []}',
        envelope(
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
            None,
            "endpoint-embeddings",
        ),
    ),
    (
        "embeddings input of more than 2048 items",
        "embeddings",
        json.dumps({"model": "bge-m3", "input": ["x"] * 2049}).encode(),
        envelope(
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
            None,
            "endpoint-embeddings",
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


ACCEPTED = [
    ("stop: [] (the real API accepts it)", chat(stop=[])),
    ("explicit nulls count as not sent", chat(top_logprobs=None, stream_options=None)),
    ("tool_choice none with tools", chat(tool_choice="none", tools=[TOOL])),
    ("top_logprobs with logprobs", chat(top_logprobs=20, logprobs=True)),
    ("stream_options with stream", chat(stream_options={"include_usage": True}, stream=True)),
    (
        "tool_choice and parallel_tool_calls with tools",
        chat(tools=[TOOL], tool_choice="auto", parallel_tool_calls=False),
    ),
    ("logit_bias at its bounds", chat(logit_bias={"1": -100, "2": 100})),
]


@pytest.mark.parametrize("body", [pytest.param(b, id=case) for case, b in ACCEPTED])
def test_body_the_real_api_accepts_is_accepted(body: bytes) -> None:
    assert BY_ENDPOINT["chat.completions"].problem(body) is None


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
