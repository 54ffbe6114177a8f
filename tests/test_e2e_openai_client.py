"""End to end: the official openai client (the pinned release) against a real gateway process.

The gateway runs under uvicorn with a test catalog on a real reference engine
(see conftest.py); the client is changed only in base_url, api_key and model.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
RATE_LIMIT_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
)
NINE_WORDS = "one two three four five six seven eight nine"
# The engine reports half of a prompt of at least 8 words as cached.
NINE_WORDS_CACHED = 4
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CITY_SCHEMA: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def assert_rate_limit_headers(headers: Mapping[str, str]) -> None:
    """Headers of an httpx response, or of httpx2's (the SDK's own client from openai 3.x)."""
    missing = [name for name in RATE_LIMIT_HEADERS if name not in headers]
    assert not missing, f"missing {missing} in {dict(headers)}"


def assert_envelope(error: Any, gateway_url: str) -> JSON:
    """An error body in OpenAI's envelope plus doc_url into the compatibility page."""
    assert isinstance(error, dict)
    assert {"message", "type", "param", "code", "doc_url"} <= set(error)
    assert isinstance(error["message"], str) and error["message"]
    assert error["doc_url"].startswith(f"{gateway_url}/docs/compatibility#")
    return error


def assert_status_error(error: openai.APIStatusError, gateway_url: str) -> JSON:
    """The SDK error's body is the envelope; the response carries the rate-limit headers."""
    assert_rate_limit_headers(error.response.headers)
    return assert_envelope(error.body, gateway_url)


def raw_get(gateway_url: str, path: str, key: str, method: str = "GET") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, f"{gateway_url}{path}", headers=headers, timeout=10)


# ---------------------------------------------------------------- chat, non-streaming


def test_chat_completion_reports_cache_usage_and_no_system_fingerprint(
    gateway_client: openai.OpenAI, gateway_url: str
) -> None:
    raw = gateway_client.chat.completions.with_raw_response.create(
        model="chat-full", messages=user(NINE_WORDS)
    )
    body = raw.http_response.json()
    completion = raw.parse()
    assert completion.choices[0].message.content == f"Echo: {NINE_WORDS}"
    assert "system_fingerprint" not in body
    assert body["usage"]["cache_read_input_tokens"] == NINE_WORDS_CACHED
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == NINE_WORDS_CACHED
    assert body["usage"]["cache_creation_input_tokens"] == 0
    assert_rate_limit_headers(raw.headers)


def test_chat_cache_usage_is_zero_on_a_model_without_prompt_caching(
    gateway_client: openai.OpenAI,
) -> None:
    raw = gateway_client.chat.completions.with_raw_response.create(
        model="chat-plain", messages=user(NINE_WORDS)
    )
    usage = raw.http_response.json()["usage"]
    assert (usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]) == (0, 0)
    assert "system_fingerprint" not in raw.http_response.json()
    parsed = raw.parse().usage
    assert parsed is not None and parsed.model_extra is not None
    assert parsed.model_extra["cache_read_input_tokens"] == 0


# ---------------------------------------------------------------- chat, streaming


def test_stream_with_include_usage_ends_with_a_usage_chunk(gateway_client: openai.OpenAI) -> None:
    stream = gateway_client.chat.completions.create(
        model="chat-full",
        messages=user(NINE_WORDS),
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        chunks: list[ChatCompletionChunk] = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Echo: {NINE_WORDS}"
    assert len(chunks) > 3
    assert all("system_fingerprint" not in c.model_fields_set for c in chunks)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.model_extra == {
        "cache_read_input_tokens": NINE_WORDS_CACHED,
        "cache_creation_input_tokens": 0,
    }
    assert [c.choices[0].finish_reason for c in chunks[:-1]][-1] == "stop"


def test_raw_stream_chunks_have_no_system_fingerprint_and_end_with_done(
    gateway_client: openai.OpenAI,
) -> None:
    with gateway_client.chat.completions.with_streaming_response.create(
        model="chat-plain",
        messages=user("hello stream"),
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert_rate_limit_headers(response.headers)
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in data[:-1]]
    assert all("system_fingerprint" not in chunk for chunk in chunks)
    assert chunks[-1]["usage"]["cache_read_input_tokens"] == 0
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}


# ---------------------------------------------------------------- tools and formats


def test_tools_on_a_tool_use_model_return_tool_calls(gateway_client: openai.OpenAI) -> None:
    completion = gateway_client.chat.completions.create(
        model="chat-full", messages=user("weather?"), tools=[WEATHER_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "example"}


def test_tools_on_a_model_without_tool_use_are_bad_request_param_tools(
    gateway_client: openai.OpenAI, gateway_url: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        gateway_client.chat.completions.create(
            model="chat-plain", messages=user("weather?"), tools=[WEATHER_TOOL]
        )
    assert raised.value.param == "tools"
    assert raised.value.status_code == 400
    assert_status_error(raised.value, gateway_url)


def test_json_object_format_reaches_the_engine_as_json_object(
    gateway_client: openai.OpenAI,
) -> None:
    completion = gateway_client.chat.completions.create(
        model="chat-plain", messages=user("a  b"), response_format={"type": "json_object"}
    )
    assert json.loads(completion.choices[0].message.content or "") == {"echo": "a b"}


def test_json_schema_reaches_a_structured_output_model_unchanged(
    gateway_client: openai.OpenAI,
) -> None:
    completion = gateway_client.chat.completions.create(
        model="chat-full", messages=user("where"), response_format=CITY_SCHEMA
    )
    # The engine answers json_schema with an example object of the schema.
    assert json.loads(completion.choices[0].message.content or "") == {"city": "example"}


def test_json_schema_on_a_model_without_structured_output_falls_back_to_json_object(
    gateway_client: openai.OpenAI,
) -> None:
    completion = gateway_client.chat.completions.create(
        model="chat-plain", messages=user("where"), response_format=CITY_SCHEMA
    )
    # The engine answers json_object with {"echo": ...}: the gateway rewrote the format.
    assert json.loads(completion.choices[0].message.content or "") == {"echo": "where"}


# ---------------------------------------------------------------- vision


IMAGE_MESSAGE: Any = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    }
]


def test_image_content_on_a_text_model_is_bad_request_naming_the_part(
    gateway_client: openai.OpenAI, gateway_url: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        gateway_client.chat.completions.create(model="chat-full", messages=IMAGE_MESSAGE)
    assert raised.value.param == "messages[0].content[1]"
    assert "image_url" in assert_status_error(raised.value, gateway_url)["message"]


def test_image_content_on_a_vision_model_is_answered(gateway_client: openai.OpenAI) -> None:
    completion = gateway_client.chat.completions.create(
        model="vision-model", messages=IMAGE_MESSAGE
    )
    assert completion.choices[0].message.content == "Echo: what is this"


# ---------------------------------------------------------------- embeddings


def test_default_base64_embeddings_decode_to_the_float_vectors(
    gateway_client: openai.OpenAI,
) -> None:
    floats = gateway_client.embeddings.create(
        model="embed-model", input=["alpha", "beta gamma"], encoding_format="float"
    )
    raw = gateway_client.embeddings.with_raw_response.create(
        model="embed-model", input=["alpha", "beta gamma"]
    )
    # The client asked for base64 itself and decodes it; the wire carried strings.
    wire = raw.http_response.json()["data"]
    assert all(isinstance(item["embedding"], str) for item in wire)
    decoded = raw.parse()
    assert [len(item.embedding) for item in floats.data] == [1024, 1024]
    for as_float, as_base64 in zip(floats.data, decoded.data, strict=True):
        vector = as_float.embedding
        float32 = list(struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector)))
        assert as_base64.embedding == float32
    assert floats.usage.prompt_tokens == 3


def test_embeddings_encoding_format_null_is_bad_request_param_encoding_format(
    gateway_client: openai.OpenAI, gateway_url: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        gateway_client.embeddings.create(
            model="embed-model", input="x", extra_body={"encoding_format": None}
        )
    assert raised.value.param == "encoding_format"
    assert_status_error(raised.value, gateway_url)


# ---------------------------------------------------------------- models, legacy completions


def test_models_list_has_serving_catalog_ids_with_category(
    gateway_client: openai.OpenAI, catalog_models: dict[str, str]
) -> None:
    ids = [model.id for model in gateway_client.models.list()]
    serving = {model_id for model_id in catalog_models if model_id != "offline-model"}
    assert sorted(ids) == sorted(serving)
    raw = gateway_client.models.with_raw_response.list()
    data = raw.http_response.json()["data"]
    assert {m["id"]: m["category"] for m in data} == {i: catalog_models[i] for i in serving}
    assert_rate_limit_headers(raw.headers)


def test_models_retrieve_answers_one_model_or_model_not_found(
    gateway_client: openai.OpenAI, catalog_models: dict[str, str]
) -> None:
    model = gateway_client.models.retrieve("embed-model")
    assert (model.id, model.object) == ("embed-model", "model")
    assert model.model_extra == {"category": catalog_models["embed-model"]}
    with pytest.raises(openai.NotFoundError) as failure:
        gateway_client.models.retrieve("no-such-model")
    assert failure.value.code == "model_not_found"


def test_legacy_completion_is_answered(gateway_client: openai.OpenAI) -> None:
    raw = gateway_client.completions.with_raw_response.create(model="chat-plain", prompt="hi there")
    completion = raw.parse()
    assert completion.choices[0].text == "Echo: hi there"
    assert "system_fingerprint" not in raw.http_response.json()
    assert raw.http_response.json()["usage"]["cache_read_input_tokens"] == 0


# ---------------------------------------------------------------- async client


def test_async_client_chats_streams_embeds_and_lists_concurrently(
    gateway_url: str, local_key: str
) -> None:
    async def scenario() -> tuple[list[str], str, int, int]:
        async with openai.AsyncOpenAI(base_url=f"{gateway_url}/v1", api_key=local_key) as client:
            chats = await asyncio.gather(
                *(
                    client.chat.completions.create(model="chat-full", messages=user(f"n{i}"))
                    for i in range(5)
                )
            )
            stream = await client.chat.completions.create(
                model="chat-plain",
                messages=user("async stream"),
                stream=True,
                stream_options={"include_usage": True},
            )
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            embedding = await client.embeddings.create(model="embed-model", input="x")
            models = [m async for m in client.models.list()]
            texts = [c.choices[0].message.content or "" for c in chats]
            return texts, "".join(pieces), len(embedding.data[0].embedding), len(models)

    texts, streamed, dimensions, model_count = asyncio.run(scenario())
    assert texts == [f"Echo: n{i}" for i in range(5)]
    assert streamed == "Echo: async stream"
    assert dimensions == 1024
    assert model_count > 0


# ---------------------------------------------------------------- typed errors


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"n": 2}, "n"), ({"temperature": 5}, "temperature"), ({"top_p": 1.5}, "top_p")],
)
def test_out_of_range_fields_are_bad_request_naming_the_param(
    gateway_client: openai.OpenAI, gateway_url: str, fields: JSON, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        gateway_client.chat.completions.create(model="chat-full", messages=user("x"), **fields)
    assert raised.value.param == param
    assert raised.value.type == "invalid_request_error"
    assert_status_error(raised.value, gateway_url)


def test_wrong_key_is_authentication_error_with_the_key_masked(gateway_url: str) -> None:
    wrong = "sk-wrong-abcdefghijklmnopqrstuvwxyz"
    with (
        openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=wrong) as client,
        pytest.raises(openai.AuthenticationError) as raised,
    ):
        client.chat.completions.create(model="chat-full", messages=user("x"))
    error = assert_envelope(raised.value.body, gateway_url)
    assert raised.value.code == "invalid_api_key"
    assert "sk-wr***wxyz" in error["message"]
    assert wrong not in error["message"] and wrong not in raised.value.response.text


def test_unknown_model_is_not_found_with_code_model_not_found(
    gateway_client: openai.OpenAI, gateway_url: str
) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        gateway_client.chat.completions.create(model="no-such-model", messages=user("x"))
    assert raised.value.code == "model_not_found"
    assert raised.value.param is None  # as api.openai.com answers it
    assert_status_error(raised.value, gateway_url)


def test_key_over_its_limit_gets_rate_limit_error_with_retry_after(
    gateway_url: str, tiny_key: str
) -> None:
    with openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=tiny_key, max_retries=0) as client:
        client.chat.completions.create(model="chat-plain", messages=user("first"))
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="chat-plain", messages=user("second"))
    error = assert_status_error(raised.value, gateway_url)
    assert raised.value.code == "rate_limit_exceeded"
    assert "requests per min (RPM): Limit 1" in error["message"]
    headers = raised.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_default_retries_honour_retry_after_then_succeed(
    gateway_url: str, retry_key: tuple[str, int]
) -> None:
    key, rpm = retry_key
    refill_s = 60 / rpm
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
        # Empty the key's bucket: GET /v1/models costs one request and no tokens. The
        # bucket refills while this runs, so go on until the first refusal.
        for _ in range(3 * rpm):
            refused = http.get(f"{gateway_url}/v1/models")
            if refused.status_code != 200:
                break
    assert refused.status_code == 429
    wait_s = int(refused.headers["retry-after-ms"]) / 1000
    assert 0.5 < wait_s <= refill_s
    with openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key) as client:  # max_retries=2
        started = time.monotonic()
        raw = client.chat.completions.with_raw_response.create(
            model="chat-plain", messages=user("patience")
        )
        elapsed = time.monotonic() - started
    assert raw.parse().choices[0].message.content == "Echo: patience"
    # One wait of retry-after-ms was enough; the SDK's own backoff (0.5 s, then 1 s)
    # would have needed a second retry.
    assert raw.retries_taken == 1
    assert wait_s - 0.3 <= elapsed < wait_s + 3


def test_organization_and_project_headers_are_ignored(
    gateway_url: str, local_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-environment")
    with openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=local_key) as client:
        assert client.organization == "org-from-environment"
        completion = client.chat.completions.create(model="chat-plain", messages=user("org"))
    assert completion.choices[0].message.content == "Echo: org"
    with openai.OpenAI(
        base_url=f"{gateway_url}/v1",
        api_key=local_key,
        organization="org-explicit",
        project="proj-explicit",
    ) as client:
        assert [m.id for m in client.models.list()]


# ---------------------------------------------------------------- paths and endpoints


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nope"),
        ("POST", "/v1/nope"),
        ("DELETE", "/v1/chat/completions"),
        ("GET", "/v1/embeddings"),
        ("POST", "/v1/models"),
    ],
)
def test_unknown_path_or_wrong_method_is_404_invalid_url_envelope(
    gateway_url: str, local_key: str, method: str, path: str
) -> None:
    response = raw_get(gateway_url, path, local_key, method)
    assert response.status_code == 404
    error = assert_envelope(response.json()["error"], gateway_url)
    assert error["message"] == f"Invalid URL ({method} {path})"


def test_sdk_request_to_an_unknown_path_is_not_found_error(
    gateway_client: openai.OpenAI, gateway_url: str
) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        gateway_client.get("/responses/abc", cast_to=object)
    assert_envelope(raised.value.body, gateway_url)


def test_batches_create_is_404_with_the_pages_note(
    gateway_client: openai.OpenAI, gateway_url: str
) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        gateway_client.batches.create(
            completion_window="24h", endpoint="/v1/chat/completions", input_file_id="file-x"
        )
    error = assert_status_error(raised.value, gateway_url)
    assert error["message"].startswith("POST /v1/batches is not supported by this gateway.")
    assert "use client-side fan-out instead" in error["message"]
    assert error["doc_url"].endswith("#endpoint-batches")


def create_assistant(client: openai.OpenAI) -> object:
    """openai 3.x marks the Assistants API deprecated: a warning (an error under the strict
    pytest settings) about the SDK, not the gateway, whose 404 the call must still get."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return client.beta.assistants.create(model="chat-full")


UNSUPPORTED_CALLS: dict[str, tuple[Callable[[openai.OpenAI], object], str]] = {
    "GET /v1/files": (lambda c: c.files.list(), "Use inline request payloads."),
    "DELETE /v1/files/{id}": (lambda c: c.files.delete("file-x"), "Use inline request payloads."),
    "POST /v1/fine_tuning/jobs": (
        lambda c: c.fine_tuning.jobs.create(model="chat-full", training_file="file-x"),
        "Use FlexAI Fine-Tuning instead.",
    ),
    "GET /v1/fine_tuning/jobs": (
        lambda c: c.fine_tuning.jobs.list(),
        "Use FlexAI Fine-Tuning instead.",
    ),
    "POST /v1/assistants": (create_assistant, "Not planned."),
    "POST /v1/threads": (lambda c: c.post("/threads", cast_to=object, body={}), "Not planned."),
}


@pytest.mark.parametrize("request_line", list(UNSUPPORTED_CALLS))
def test_unsupported_endpoints_answer_their_note_for_any_method(
    gateway_client: openai.OpenAI, gateway_url: str, request_line: str
) -> None:
    call, note = UNSUPPORTED_CALLS[request_line]
    with pytest.raises(openai.NotFoundError) as raised:
        call(gateway_client)
    error = assert_status_error(raised.value, gateway_url)
    method, path = request_line.split()
    path = path.replace("{id}", "file-x")
    assert error["message"] == f"{method} {path} is not supported by this gateway. {note}"


# ---------------------------------------------------------------- headers on every answer


AUTHENTICATED_REQUESTS: list[tuple[str, str, JSON | None, int]] = [
    ("GET", "/v1/models", None, 200),
    ("POST", "/v1/chat/completions", {"model": "chat-plain", "messages": user("h")}, 200),
    ("POST", "/v1/completions", {"model": "chat-plain", "prompt": "h"}, 200),
    ("POST", "/v1/embeddings", {"model": "embed-model", "input": "h"}, 200),
    ("POST", "/v1/chat/completions", {"model": "chat-plain"}, 400),
    ("POST", "/v1/chat/completions", {"model": "nope", "messages": user("h")}, 404),
    ("POST", "/v1/chat/completions", {"model": "fail-500", "messages": user("h")}, 502),
    ("POST", "/v1/chat/completions", {"model": "offline-model", "messages": user("h")}, 503),
    ("POST", "/v1/batches", {}, 404),
    ("GET", "/v1/files", None, 404),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), AUTHENTICATED_REQUESTS)
def test_every_authenticated_answer_has_the_six_rate_limit_headers(
    gateway_url: str, local_key: str, method: str, path: str, body: JSON | None, status: int
) -> None:
    response = httpx.request(
        method,
        f"{gateway_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {local_key}"},
        timeout=10,
    )
    assert response.status_code == status
    assert_rate_limit_headers(response.headers)
    if status >= 400:
        assert_envelope(response.json()["error"], gateway_url)


def test_unauthenticated_answer_is_401_envelope_without_rate_limit_headers(
    gateway_url: str,
) -> None:
    response = httpx.get(f"{gateway_url}/v1/models", timeout=10)
    assert response.status_code == 401
    error = assert_envelope(response.json()["error"], gateway_url)
    assert error["code"] == "invalid_api_key"
    assert not any(name in response.headers for name in RATE_LIMIT_HEADERS)
