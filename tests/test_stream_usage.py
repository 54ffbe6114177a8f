"""Streams always ask the engine for usage; the client sees only what api.openai.com sends it.

Unit tests of gateway.http.stream_usage, then through a real gateway and engine: the engine
receives `stream_options.include_usage: true`, the client that did not ask gets neither the
usage chunk nor a `usage` key, and the outcome (what the ledger gets) has the engine's usage.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import msgspec
import openai
import pytest

from gateway.http.handlers import forward_body
from gateway.http.stream_usage import asking_for_usage, withheld

JSON = dict[str, Any]
_top_level = msgspec.json.Decoder(dict[str, msgspec.Raw])


def test_a_stream_without_stream_options_is_forwarded_asking_for_usage_keeping_other_bytes() -> (
    None
):
    body = b'{"model": "m", "stream": true,  "messages": [ {"role":"user","content":"1.0"} ]}'
    forwarded = _top_level.decode(forward_body(body, "up", ask_usage=True))
    assert bytes(forwarded["stream_options"]) == b'{"include_usage":true}'
    assert bytes(forwarded["messages"]) == b'[ {"role":"user","content":"1.0"} ]'
    assert bytes(forwarded["stream"]) == b"true"


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        (b"null", {"include_usage": True}),
        (b'{"include_usage": false}', {"include_usage": True}),
        (
            b'{"include_obfuscation": false, "continuous_usage_stats": true}',
            {"include_obfuscation": False, "continuous_usage_stats": True, "include_usage": True},
        ),
    ],
)
def test_explicit_stream_options_get_include_usage_and_keep_their_other_keys(
    sent: bytes, forwarded: JSON
) -> None:
    assert json.loads(bytes(asking_for_usage(msgspec.Raw(sent)))) == forwarded


def test_the_usage_only_chunk_is_withheld_and_other_chunks_lose_their_usage_key() -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert withheld({"choices": [], "usage": usage})
    content: JSON = {"choices": [{"index": 0, "delta": {"content": "a"}}], "usage": None}
    assert not withheld(content) and "usage" not in content
    continuous: JSON = {"choices": [{"index": 0, "delta": {}}], "usage": usage}  # vLLM's
    assert not withheld(continuous) and "usage" not in continuous
    plain: JSON = {"choices": [{"index": 0, "delta": {"content": "b"}}]}
    assert not withheld(plain) and plain == {"choices": [{"index": 0, "delta": {"content": "b"}}]}


# ---------------------------------------------------------------- through a real gateway


def engine_last_body(engine_url: str) -> JSON:
    received = httpx.get(f"{engine_url}/debug/received", timeout=5).json()
    body: JSON = json.loads(base64.b64decode(received[-1]["body_base64"]))
    return body


def data_lines(response: Any) -> list[str]:
    """The `data:` payloads of an httpx or openai streamed response."""
    return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "a b c"}]}),
        ("/v1/completions", {"prompt": "a b c"}),
    ],
    ids=["chat", "completions"],
)
def test_a_client_that_did_not_ask_gets_no_usage_while_the_engine_was_asked(
    observed_gateway: Any, e2e_engine_url: str, local_key: str, path: str, body: JSON
) -> None:
    before = len(observed_gateway.record.read_text().splitlines())
    with httpx.stream(
        "POST",
        f"{observed_gateway.server.url}{path}",
        json={"model": "chat-full", "stream": True, **body},
        headers={"Authorization": f"Bearer {local_key}"},
        timeout=20,
    ) as response:
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        lines = data_lines(response)
    assert engine_last_body(e2e_engine_url)["stream_options"] == {"include_usage": True}
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert chunks and all("usage" not in chunk and chunk["choices"] for chunk in chunks)
    outcome = wait_for_outcome(observed_gateway, before, request_id)
    assert outcome["stream_end"] == "done"
    assert outcome["usage"]["prompt_tokens"] == 3
    assert outcome["usage"]["completion_tokens"] > 0


@pytest.mark.e2e
def test_a_client_that_asked_gets_the_usage_chunk_and_the_same_counts_are_observed(
    observed_gateway: Any, local_key: str
) -> None:
    before = len(observed_gateway.record.read_text().splitlines())
    client = openai.OpenAI(base_url=f"{observed_gateway.server.url}/v1", api_key=local_key)
    with (
        client,
        client.chat.completions.with_streaming_response.create(
            model="chat-plain",
            messages=[{"role": "user", "content": "one two"}],
            stream=True,
            stream_options={"include_usage": True, "include_obfuscation": False},
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        chunks = [json.loads(line) for line in data_lines(response)[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 2
    assert all(chunk["usage"] is None for chunk in chunks[:-1])  # as api.openai.com sends them
    outcome = wait_for_outcome(observed_gateway, before, request_id)
    usage = chunks[-1]["usage"]
    assert outcome["usage"]["prompt_tokens"] == usage["prompt_tokens"]
    assert outcome["usage"]["completion_tokens"] == usage["completion_tokens"]


def wait_for_outcome(observed_gateway: Any, before: int, request_id: str) -> JSON:
    """The one outcome the observed gateway recorded for `request_id`."""
    deadline = time.monotonic() + 15
    while True:
        lines = observed_gateway.record.read_text().splitlines()[before:]
        found = [json.loads(line) for line in lines if request_id in line]
        if found:
            assert len(found) == 1, found
            outcome: JSON = found[0]
            return outcome
        assert time.monotonic() < deadline, f"no outcome for {request_id}: {lines}"
        time.sleep(0.02)
