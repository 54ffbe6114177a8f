"""End to end: what the engine receives is the client's body, byte for byte, but `model`.

A real gateway forwards to the real reference engine, which keeps the last
bodies it received (`GET /debug/received`). Each forwarded top-level value
must arrive as the exact bytes the client sent: unknown fields, number
spellings (`1.0`, `1e2`, `-0`), key order inside and between values, unicode
escapes and whitespace inside values. Only `model` (the catalog's upstream
name) and what a matrix rule rewrites differ.
"""

from __future__ import annotations

import base64
import json

import httpx
import msgspec
import pytest

pytestmark = pytest.mark.e2e

Pairs = list[tuple[str, bytes]]
_top_level = msgspec.json.Decoder(dict[str, msgspec.Raw])

# Values written the way no encoder would write them: each must arrive as written.
CHAT = (
    b'{"messages" : [ {"content":"caf\\u00e9 \\ud83d\\ude42  two  spaces", "role" : "user"} ],'
    b' "temperature": 1.0, "top_p":1e-1, "seed": -0, "frequency_penalty": -0.0,'
    b' "model": "chat-full",'
    b' "x_vendor": {"z": 1E2, "a": [ 1.50, true, null ], "\\u0041": "\\/"},'
    b' "metadata": {"b": "2", "a": "1"}, "logit_bias": {"50256": -100, "1": -0},'
    b' "tools": [{"function": {"parameters": {"type": "object", "properties": {}},'
    b' "name": "f"}, "type": "function"}], "user": "u\\t1"}'
)
COMPLETION = (
    b'{"prompt": [1, 2, 3], "model": "chat-full", "max_tokens": 5,'
    b' "echo": false, "suffix": "\\u00e9", "x_unknown": [1e2, -0, 0.10]}'
)
EMBEDDING = (
    b'{"input" : ["a\\u00e9", "b"], "dimensions": 8, "model": "embed-model",'
    b' "encoding_format": "float", "x_extra": {"b": 1, "a": [1.0, 2e3]}}'
)
JSON_SCHEMA_FORMAT = (
    b'{"type": "json_schema", "json_schema": {"name": "city", "strict": true,'
    b' "schema": {"type": "object", "properties": {"city": {"type": "string"}}}}}'
)


def pairs(body: bytes) -> Pairs:
    """Top-level keys in order, each with its value's raw bytes as they were sent."""
    return [(key, bytes(raw)) for key, raw in _top_level.decode(body).items()]


def with_model(body: bytes, model: str) -> Pairs:
    """The client's pairs with only `model`'s value replaced, in place."""
    encoded = json.dumps(model).encode()
    return [(key, encoded if key == "model" else raw) for key, raw in pairs(body)]


def post(gateway_url: str, key: str, path: str, body: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return httpx.post(f"{gateway_url}{path}", content=body, headers=headers, timeout=30)


def last_received(engine_url: str, path: str) -> bytes:
    """The body of the engine's most recent POST, which must have gone to `path`."""
    received = httpx.get(f"{engine_url}/debug/received", timeout=5).json()
    assert received, "the engine received nothing"
    assert received[-1]["path"] == path
    return base64.b64decode(received[-1]["body_base64"])


@pytest.mark.parametrize(
    ("path", "body", "upstream"),
    [
        ("/v1/chat/completions", CHAT, "upstream-full"),
        (
            "/v1/chat/completions",
            CHAT.replace(b' "user": ', b' "stream": true, "user": '),
            "upstream-full",
        ),
        ("/v1/completions", COMPLETION, "upstream-full"),
        ("/v1/embeddings", EMBEDDING, "upstream-embed"),
    ],
    ids=["chat", "chat-streamed", "completions", "embeddings"],
)
def test_engine_receives_every_value_as_the_client_wrote_it_with_only_model_replaced(
    path: str, body: bytes, upstream: str, gateway_url: str, e2e_engine_url: str, local_key: str
) -> None:
    response = post(gateway_url, local_key, path, body)
    assert response.status_code == 200, response.text
    forwarded = last_received(e2e_engine_url, path)
    expected = with_model(body, upstream)
    if b'"stream": true' in body:  # a stream always asks for usage (gateway.http.stream_usage)
        expected.append(("stream_options", b'{"include_usage":true}'))
    assert pairs(forwarded) == expected


def test_repeated_key_is_forwarded_once_with_its_last_value_as_the_validator_reads_it(
    gateway_url: str, e2e_engine_url: str, local_key: str
) -> None:
    messages = b'[{"role": "user", "content": "x"}]'
    body = b'{"model": "chat-full", "seed": 1, "messages": ' + messages + b', "seed": 2.50e0}'
    # seed 2.5 is not an integer: the last occurrence is the one validated...
    refused = post(gateway_url, local_key, "/v1/chat/completions", body)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "seed"
    # ...and, when valid, the one forwarded, in the first occurrence's place.
    body = body.replace(b"2.50e0", b"-0")
    assert post(gateway_url, local_key, "/v1/chat/completions", body).status_code == 200
    assert last_received(e2e_engine_url, "/v1/chat/completions") == (
        b'{"model":"upstream-full","seed":-0,"messages":' + messages + b"}"
    )


def test_json_schema_fallback_rewrites_only_response_format_and_prepends_one_system_message(
    gateway_url: str, e2e_engine_url: str, local_key: str
) -> None:
    messages = b'[ {"role":"user", "content":"caf\\u00e9"} ]'
    body = (
        b'{"model": "chat-plain", "messages": ' + messages + b', "temperature": 1.0,'
        b' "response_format": ' + JSON_SCHEMA_FORMAT + b', "x_vendor": {"b": 1e2, "a": -0}}'
    )
    response = post(gateway_url, local_key, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-fallback"] == "response_format=json_object"
    forwarded = dict(pairs(last_received(e2e_engine_url, "/v1/chat/completions")))
    sent = dict(pairs(body))
    assert list(forwarded) == list(sent)
    assert forwarded["model"] == b'"upstream-plain"'
    assert json.loads(forwarded["response_format"]) == {"type": "json_object"}
    # The client's messages follow the added system message as sent, from the first item on.
    assert forwarded["messages"].startswith(b'[{"role":"system","content":')
    assert forwarded["messages"].endswith(b"," + messages[1:])
    assert [m["role"] for m in json.loads(forwarded["messages"])] == ["system", "user"]
    untouched = {k: v for k, v in sent.items() if k not in ("model", "response_format", "messages")}
    assert {k: forwarded[k] for k in untouched} == untouched
