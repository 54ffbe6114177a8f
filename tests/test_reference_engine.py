"""The bundled reference engine: OpenAI response shapes, determinism, failure injection,
and (e2e) a real uvicorn process driven by the official openai client."""

from __future__ import annotations

import base64
import json
import math
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
import openai
import pytest
from openai.types import Completion, CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from starlette.exceptions import StarletteDeprecationWarning

from reference_engine import create_app
from reference_engine.engine import RECEIVED_KEPT

with warnings.catch_warnings(action="ignore", category=StarletteDeprecationWarning):
    # starlette 1.10 warns on import when only httpx (not httpx2) is installed, and
    # pytest turns warnings into errors; the TestClient works the same with either.
    from starlette.testclient import TestClient

JSON = dict[str, Any]
REPO_ROOT = Path(__file__).resolve().parents[1]
SERVED = ["ref-a", "ref-b"]
E2E_STREAM_DELAY_S = 0.05
USER_HELLO = [{"role": "user", "content": "hello   there world"}]
WEATHER_TOOL: JSON = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "celsius": {"type": "boolean"},
                "extra": {"type": "array"},
            },
        },
    },
}
TIME_TOOL: JSON = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"properties": {"zone": {"type": "string"}}}},
}


# --- helpers ---------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def served_client() -> Iterator[TestClient]:
    with TestClient(create_app(models=SERVED)) as test_client:
        yield test_client


class Answer(Protocol):
    """A TestClient response: httpx's, or httpx2's when the SDK brings httpx2 (openai 3.x)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def content(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


def chat(client: TestClient, **fields: Any) -> Answer:
    body = {"model": "any-model", "messages": USER_HELLO, **fields}
    response: Answer = client.post("/v1/chat/completions", json=body)
    return response


def sse_data(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, checking every event is one data line."""
    events = [event for event in text.split("\n\n") if event]
    assert all(event.startswith("data: ") and "\n" not in event for event in events)
    return [event.removeprefix("data: ") for event in events]


def sse_chunks(text: str) -> list[JSON]:
    payloads = sse_data(text)
    assert payloads[-1] == "[DONE]"
    return [json.loads(payload) for payload in payloads[:-1]]


def tool_request(**fields: Any) -> JSON:
    return {"tools": [WEATHER_TOOL, TIME_TOOL], **fields}


# --- health, models, request errors -------------------------------------------------


def test_health_answers_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert (response.status_code, response.text) == (200, "ok")


def test_models_lists_configured_ids_in_openai_list_shape(served_client: TestClient) -> None:
    body = served_client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == SERVED
    assert all(set(m) == {"id", "object", "created", "owned_by"} for m in body["data"])
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in body["data"])


def test_without_configured_models_any_name_is_served_and_none_listed(client: TestClient) -> None:
    assert client.get("/v1/models").json() == {"object": "list", "data": []}
    assert chat(client, model="whatever-you-like").status_code == 200


def test_unconfigured_model_is_404_model_not_found(served_client: TestClient) -> None:
    response = chat(served_client, model="not-served")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"
    assert chat(served_client, model="ref-b").status_code == 200


def test_non_json_body_is_400_in_openai_error_envelope(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", content=b"{nope")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "m", "messages": [{"role": "user", "content": "hi", "x": "\xff"}]}',
        b'{"model": "m", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["not-utf8", "nested-deep"],
)
def test_body_json_cannot_decode_is_400_not_a_crash(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/chat/completions", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Request body is not valid JSON")


def test_missing_messages_is_400_naming_the_param(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", json={"model": "m"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages"


# --- chat completions --------------------------------------------------------------


def test_chat_echoes_last_user_message_in_chat_completion_shape(client: TestClient) -> None:
    messages = [*USER_HELLO, {"role": "assistant", "content": "hi"}, USER_HELLO[0]]
    body = chat(client, model="my-model", messages=messages).json()
    ChatCompletion.model_validate(body)
    assert set(body) == {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "usage",
        "system_fingerprint",
    }
    assert body["id"].startswith("chatcmpl-")
    assert (body["object"], body["model"]) == ("chat.completion", "my-model")
    assert body["system_fingerprint"] == "fp_reference"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Echo: hello there world",
                "refusal": None,
            },
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]


def test_chat_usage_counts_whitespace_words(client: TestClient) -> None:
    usage = chat(client).json()["usage"]
    assert usage == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_chat_reports_half_the_prompt_cached_from_eight_words(client: TestClient) -> None:
    messages = [{"role": "user", "content": "one two three four five six seven eight nine"}]
    usage = chat(client, messages=messages).json()["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 4}


def test_chat_id_is_stable_for_identical_requests(client: TestClient) -> None:
    assert chat(client).json()["id"] == chat(client).json()["id"]
    assert chat(client).json()["id"] != chat(client, temperature=0.5).json()["id"]


@pytest.mark.parametrize("limit_field", ["max_tokens", "max_completion_tokens"])
def test_chat_cuts_reply_to_the_token_limit_with_finish_length(
    client: TestClient, limit_field: str
) -> None:
    body = chat(client, **{limit_field: 2}).json()
    assert body["choices"][0]["message"]["content"] == "Echo: hello"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 2


def test_chat_reads_text_parts_of_a_content_array(client: TestClient) -> None:
    content = [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x"}}]
    body = chat(client, messages=[{"role": "user", "content": content}]).json()
    assert body["choices"][0]["message"]["content"] == "Echo: look"


def test_chat_calls_first_function_tool_with_example_arguments(client: TestClient) -> None:
    body = chat(client, **tool_request()).json()
    ChatCompletion.model_validate(body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    arguments = json.loads(call["function"]["arguments"])
    assert arguments == {"city": "example", "days": 1, "celsius": True, "extra": []}


def test_chat_calls_the_tool_named_by_tool_choice(client: TestClient) -> None:
    choice = {"type": "function", "function": {"name": "get_time"}}
    body = chat(client, **tool_request(tool_choice=choice)).json()
    call = body["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_time", "arguments": '{"zone":"example"}'}


def test_chat_tool_choice_none_answers_text(client: TestClient) -> None:
    body = chat(client, **tool_request(tool_choice="none")).json()
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Echo: hello there world",
        "refusal": None,
    }


def test_chat_tool_choice_naming_an_unknown_tool_is_400(client: TestClient) -> None:
    choice = {"type": "function", "function": {"name": "nope"}}
    response = chat(client, **tool_request(tool_choice=choice))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tool_choice"


def test_chat_json_object_format_answers_an_echo_object(client: TestClient) -> None:
    body = chat(client, response_format={"type": "json_object"}).json()
    content = body["choices"][0]["message"]["content"]
    assert json.loads(content) == {"echo": "hello there world"}


def test_chat_json_schema_format_answers_an_object_of_the_schema(client: TestClient) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "score": {"type": "number"},
            "mood": {"type": "string", "enum": ["happy", "sad"]},
            "where": {"type": "object", "properties": {"lat": {"type": ["number", "null"]}}},
            "note": {"type": "null"},
        },
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    body = chat(client, response_format=response_format).json()
    assert json.loads(body["choices"][0]["message"]["content"]) == {
        "name": "example",
        "score": 1,
        "mood": "happy",
        "where": {"lat": 1},
        "note": None,
    }


# --- chat streaming ----------------------------------------------------------------


def test_chat_stream_sends_role_then_word_deltas_then_finish_then_done(
    client: TestClient,
) -> None:
    response = chat(client, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(response.text)
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["system_fingerprint"] == "fp_reference"
        assert "usage" not in chunk
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert [d["content"] for d in deltas[1:-1]] == ["Echo:", " hello", " there", " world"]
    assert deltas[-1] == {}
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 5 + ["stop"]
    assert len({c["id"] for c in chunks}) == 1


def test_chat_stream_with_ignore_eos_sends_exactly_max_tokens_word_deltas(
    client: TestClient,
) -> None:
    response = chat(client, stream=True, max_tokens=500, ignore_eos=True)
    chunks = sse_chunks(response.text)
    words = [chunk["choices"][0]["delta"].get("content") for chunk in chunks[1:-1]]
    assert len(words) == 500
    assert "".join(words).split()[:5] == ["Echo:", "hello", "there", "world", "Echo:"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_chat_with_ignore_eos_but_no_limit_ends_where_the_echo_ends(client: TestClient) -> None:
    body = chat(client, ignore_eos=True).json()
    assert body["choices"][0]["message"]["content"] == "Echo: hello there world"
    assert body["usage"]["completion_tokens"] == 4


def test_chat_stream_include_usage_adds_a_choiceless_usage_chunk(client: TestClient) -> None:
    response = chat(client, stream=True, stream_options={"include_usage": True})
    chunks = sse_chunks(response.text)
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 7
    ChatCompletionChunk.model_validate(chunks[-1])


def test_chat_stream_tool_call_uses_openai_tool_calls_delta_shape(client: TestClient) -> None:
    chunks = sse_chunks(chat(client, stream=True, **tool_request()).text)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    header = deltas[0]["tool_calls"][0]
    assert deltas[0]["role"] == "assistant" and deltas[0]["content"] is None
    assert header["index"] == 0 and header["id"].startswith("call_")
    assert header["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [d["tool_calls"][0]["function"]["arguments"] for d in deltas[1:-1]]
    assert len(fragments) > 1
    assert json.loads("".join(fragments))["city"] == "example"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_debug_stats_count_started_and_completed_streams(client: TestClient) -> None:
    chat(client, stream=True)
    chat(client)
    stats = client.get("/debug/stats").json()
    assert stats == {"streams_started": 1, "streams_completed": 1, "streams_cancelled": 0}


def test_debug_received_shows_the_last_bodies_byte_for_byte_and_keeps_a_bounded_number(
    client: TestClient,
) -> None:
    raw = b'{"model": "ref-a",  "messages": [{"role":"user","content":"h\\u00e9"}], "x": 1.0}'
    for _ in range(RECEIVED_KEPT + 3):
        assert client.post("/v1/chat/completions", content=raw).status_code == 200
    client.post("/v1/embeddings", content=b'{"model":"ref-a","input":"x"}')
    received = client.get("/debug/received").json()
    assert len(received) == RECEIVED_KEPT
    assert base64.b64decode(received[-2]["body_base64"]) == raw
    assert received[-2]["path"] == "/v1/chat/completions"
    assert received[-1] == {
        "path": "/v1/embeddings",
        "body_base64": base64.b64encode(b'{"model":"ref-a","input":"x"}').decode(),
    }


# --- legacy completions ------------------------------------------------------------


def completions(client: TestClient, **fields: Any) -> Answer:
    response: Answer = client.post("/v1/completions", json={"model": "m", **fields})
    return response


def test_completions_answer_one_choice_per_string_prompt(client: TestClient) -> None:
    body = completions(client, prompt=["a b", "c d e f"], max_tokens=3).json()
    Completion.model_validate(body)
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    assert body["system_fingerprint"] == "fp_reference"
    assert body["choices"] == [
        {"text": "Echo: a b", "index": 0, "logprobs": None, "finish_reason": "stop"},
        {"text": "Echo: c d", "index": 1, "logprobs": None, "finish_reason": "length"},
    ]
    assert body["usage"]["prompt_tokens"] == 6
    assert body["usage"]["completion_tokens"] == 6


@pytest.mark.parametrize(
    ("prompt", "texts"),
    [
        ("just text", ["Echo: just text"]),
        ([5, 6, 7], ["Echo: 5 6 7"]),
        ([[1, 2], [3]], ["Echo: 1 2", "Echo: 3"]),
    ],
)
def test_completions_accept_a_string_token_array_or_token_arrays(
    client: TestClient, prompt: Any, texts: list[str]
) -> None:
    body = completions(client, prompt=prompt).json()
    assert [choice["text"] for choice in body["choices"]] == texts


def test_completions_reject_a_prompt_of_mixed_types(client: TestClient) -> None:
    response = completions(client, prompt=["text", 1])
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "prompt"


def test_completions_stream_text_completion_chunks_then_usage_then_done(
    client: TestClient,
) -> None:
    response = completions(
        client, prompt="one two", stream=True, stream_options={"include_usage": True}
    )
    chunks = sse_chunks(response.text)
    # The SDK types finish_reason as non-null, so only the last two chunks validate.
    for chunk in chunks[-2:]:
        Completion.model_validate(chunk)
    for chunk in chunks:
        assert chunk["object"] == "text_completion"
        assert chunk["system_fingerprint"] == "fp_reference"
    texts = [c["choices"][0]["text"] for c in chunks[:-1]]
    assert "".join(texts) == "Echo: one two"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 5


# --- embeddings --------------------------------------------------------------------


def embed(client: TestClient, **fields: Any) -> JSON:
    response = client.post("/v1/embeddings", json={"model": "emb", **fields})
    assert response.status_code == 200
    body: JSON = response.json()
    return body


def test_embeddings_are_deterministic_unit_vectors_of_1024_floats(client: TestClient) -> None:
    body = embed(client, input=["alpha beta", "gamma"])
    CreateEmbeddingResponse.model_validate(body)
    assert (body["object"], body["model"]) == ("list", "emb")
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    first, second = (item["embedding"] for item in body["data"])
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert all(item["object"] == "embedding" for item in body["data"])
    assert len(first) == 1024 and all(isinstance(x, float) for x in first)
    assert math.isclose(math.fsum(x * x for x in first), 1.0)
    assert first != second
    assert embed(client, input="alpha beta")["data"][0]["embedding"] == first


def test_embeddings_honour_dimensions_and_answer_floats_even_for_base64(
    client: TestClient,
) -> None:
    body = embed(client, input="x", dimensions=8, encoding_format="base64")
    vector = body["data"][0]["embedding"]
    assert len(vector) == 8 and all(isinstance(x, float) for x in vector)
    assert math.isclose(math.fsum(x * x for x in vector), 1.0)


def test_embeddings_accept_token_arrays(client: TestClient) -> None:
    body = embed(client, input=[[1, 2, 3], [4]])
    assert len(body["data"]) == 2
    assert body["usage"]["prompt_tokens"] == 4


# --- failure injection --------------------------------------------------------------

ENDPOINT_BODIES: list[tuple[str, JSON]] = [
    ("/v1/chat/completions", {"messages": USER_HELLO}),
    ("/v1/completions", {"prompt": "hi"}),
    ("/v1/embeddings", {"input": "hi"}),
]


@pytest.mark.parametrize(("path", "body"), ENDPOINT_BODIES)
def test_ref_error_500_answers_500_server_error(
    served_client: TestClient, path: str, body: JSON
) -> None:
    response = served_client.post(path, json={"model": "ref-error-500", **body})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"


@pytest.mark.parametrize(("path", "body"), ENDPOINT_BODIES)
def test_ref_error_400_answers_engine_says_no(
    served_client: TestClient, path: str, body: JSON
) -> None:
    response = served_client.post(path, json={"model": "ref-error-400", **body})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "engine says no",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": None,
        }
    }


@pytest.mark.parametrize("stream", [False, True])
def test_ref_garbage_answers_200_with_a_body_that_is_not_json(
    client: TestClient, stream: bool
) -> None:
    response = chat(client, model="ref-garbage", stream=stream)
    assert response.status_code == 200
    payload = sse_data(response.text)[0] if stream else response.text
    with pytest.raises(json.JSONDecodeError):
        json.loads(payload)


def test_ref_disconnect_sends_less_body_than_promised(client: TestClient) -> None:
    # In-process the truncation is visible; over TCP the socket is closed (see e2e test).
    response = chat(client, model="ref-disconnect")
    assert response.status_code == 200
    assert len(response.content) < int(response.headers["content-length"])


def test_ref_slow_answers_normally_after_slow_s() -> None:
    with TestClient(create_app(models=SERVED, slow_s=0.3)) as slow_client:
        started = time.monotonic()
        response = chat(slow_client, model="ref-slow")
        elapsed = time.monotonic() - started
    assert elapsed >= 0.3
    assert response.json()["choices"][0]["message"]["content"] == "Echo: hello there world"


# --- e2e: a real uvicorn process and the official openai client ----------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"engine exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"engine not healthy within 20 s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("reference_engine") / "engine.log"
    command = [
        *(sys.executable, "-m", "reference_engine"),
        *("--host", "127.0.0.1", "--port", str(port), "--models", ",".join(SERVED)),
        *("--stream-delay", str(E2E_STREAM_DELAY_S), "--slow", "5"),
    ]
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log_file, stderr=log_file)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_healthy(url, process, log)
            yield url
        finally:
            stop(process)


@pytest.fixture
def openai_client(engine_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{engine_url}/v1", api_key="x", max_retries=0, timeout=10
    ) as sdk_client:
        yield sdk_client


def engine_stats(url: str) -> JSON:
    stats: JSON = httpx.get(f"{url}/debug/stats", timeout=5).json()
    return stats


@pytest.mark.e2e
def test_openai_client_gets_a_chat_completion(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model="ref-a", messages=[{"role": "user", "content": "hi engine"}]
    )
    assert completion.choices[0].message.content == "Echo: hi engine"
    assert completion.system_fingerprint == "fp_reference"
    assert completion.usage is not None and completion.usage.total_tokens == 5


@pytest.mark.e2e
def test_openai_client_streams_chat_with_usage_chunk(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model="ref-a",
        messages=[{"role": "user", "content": "hi engine"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    with stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hi engine"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


@pytest.mark.e2e
def test_openai_client_gets_float_embeddings(openai_client: openai.OpenAI) -> None:
    result = openai_client.embeddings.create(
        model="ref-b", input=["a", "b c"], encoding_format="float"
    )
    assert [len(item.embedding) for item in result.data] == [1024, 1024]
    assert result.usage.prompt_tokens == 3


@pytest.mark.e2e
def test_openai_client_lists_the_served_models(openai_client: openai.OpenAI) -> None:
    assert [model.id for model in openai_client.models.list()] == SERVED


@pytest.mark.e2e
def test_openai_client_maps_ref_error_400_to_bad_request(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.chat.completions.create(
            model="ref-error-400", messages=[{"role": "user", "content": "x"}]
        )
    assert raised.value.param == "temperature"


@pytest.mark.e2e
def test_ref_slow_outlasts_a_short_client_timeout(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.APITimeoutError):
        openai_client.with_options(timeout=0.3).chat.completions.create(
            model="ref-slow", messages=[{"role": "user", "content": "x"}]
        )


@pytest.mark.e2e
@pytest.mark.parametrize("stream", [False, True])
def test_ref_disconnect_closes_the_connection_mid_body(engine_url: str, stream: bool) -> None:
    body = {"model": "ref-disconnect", "messages": USER_HELLO, "stream": stream}
    with (
        httpx.Client(timeout=5) as http,
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", f"{engine_url}/v1/chat/completions", json=body) as response,
    ):
        response.read()


@pytest.mark.e2e
def test_stream_chunks_arrive_incrementally(engine_url: str) -> None:
    words = " ".join(f"w{i}" for i in range(20))
    body = {"model": "ref-a", "messages": [{"role": "user", "content": words}], "stream": True}
    arrivals: list[float] = []
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", f"{engine_url}/v1/chat/completions", json=body) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic())
    # 24 events with 0.05 s between chunks: a buffered reply would arrive all at once.
    assert len(arrivals) == 24
    assert arrivals[-1] - arrivals[0] >= 0.5


@pytest.mark.e2e
def test_engine_counts_a_client_disconnect_as_a_cancelled_stream(engine_url: str) -> None:
    before = engine_stats(engine_url)
    words = " ".join(f"w{i}" for i in range(100))
    body = {"model": "ref-a", "messages": [{"role": "user", "content": words}], "stream": True}
    with (
        httpx.Client(timeout=10) as http,
        http.stream("POST", f"{engine_url}/v1/chat/completions", json=body) as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    # Leaving the block closes the socket mid-stream; the engine must notice.
    deadline = time.monotonic() + 5
    while engine_stats(engine_url)["streams_cancelled"] == before["streams_cancelled"]:
        assert time.monotonic() < deadline, "engine never noticed the disconnect"
        time.sleep(0.05)
    after = engine_stats(engine_url)
    assert after["streams_started"] == before["streams_started"] + 1
    assert after["streams_completed"] == before["streams_completed"]
