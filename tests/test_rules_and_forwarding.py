"""The matrix's runtime rules on typed requests, and the body forwarded to the engine."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from gateway.catalog import Model
from gateway.errors import ApiError
from gateway.http.handlers import forward_body
from gateway.validation.rules import apply_rules
from generated.routes import RULES_CHAT_COMPLETIONS
from generated.validators import chat_completions

PLAIN = Model(id="plain", category="text", engine="e", upstream_model="up-plain")
TOOLS = Model(
    id="tools",
    category="text",
    engine="e",
    upstream_model="up",
    capabilities=frozenset({"tool_use"}),
)
USER = {"role": "user", "content": "hi"}
CITY = {
    "type": "json_schema",
    "json_schema": {
        "name": "city",
        "strict": True,
        "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "m", "messages": [USER], **fields}).encode()


def typed(raw: bytes) -> Any:
    return chat_completions.validator.validate(raw)


@pytest.mark.parametrize(
    "fields",
    [
        {"functions": [{"name": "f", "parameters": {}}]},
        {"function_call": "auto", "functions": [{"name": "f"}]},
        {"function_call": {"name": "f"}},
    ],
)
def test_legacy_functions_need_a_tool_use_model_like_tools(fields: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as refused:
        apply_rules(typed(body(**fields)), PLAIN, RULES_CHAT_COMPLETIONS)
    assert refused.value.status == 400
    assert refused.value.param in ("functions", "function_call")
    assert "tool_use" in refused.value.message
    assert apply_rules(typed(body(**fields)), TOOLS, RULES_CHAT_COMPLETIONS).rewrites == []


def test_function_call_none_asks_for_no_tool_and_goes_through_on_any_model() -> None:
    applied = apply_rules(typed(body(function_call="none")), PLAIN, RULES_CHAT_COMPLETIONS)
    assert applied.rewrites == []


def test_tool_choice_with_tools_on_a_plain_model_is_refused_on_tools() -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    with pytest.raises(ApiError) as refused:
        apply_rules(typed(body(tools=[tool], tool_choice="none")), PLAIN, RULES_CHAT_COMPLETIONS)
    assert refused.value.param == "tools"


def test_json_schema_fallback_names_itself_in_a_header_and_hands_the_engine_the_schema() -> None:
    raw = body(response_format=CITY)
    applied = apply_rules(typed(raw), PLAIN, RULES_CHAT_COMPLETIONS)
    assert applied.headers == {"x-gateway-fallback": "response_format=json_object"}
    forwarded = msgspec.json.decode(forward_body(raw, "up-plain", applied))
    assert forwarded["response_format"] == {"type": "json_object"}
    system, *rest = forwarded["messages"]
    assert rest == [USER]
    assert system["role"] == "system"
    assert "city" in system["content"] and "JSON" in system["content"]
    schema_text = system["content"][system["content"].index("{") :]
    assert json.loads(schema_text) == CITY["json_schema"]["schema"]  # type: ignore[index]


def test_no_fallback_on_a_structured_output_model_or_for_json_object() -> None:
    full = Model(
        id="full",
        category="text",
        engine="e",
        upstream_model="up",
        capabilities=frozenset({"structured_output"}),
    )
    raw = body(response_format=CITY)
    assert apply_rules(typed(raw), full, RULES_CHAT_COMPLETIONS).headers == {}
    plain_json = body(response_format={"type": "json_object"})
    applied = apply_rules(typed(plain_json), PLAIN, RULES_CHAT_COMPLETIONS)
    assert (applied.headers, applied.system_messages, applied.rewrites) == ({}, [], [])


def test_forwarded_messages_keep_the_clients_bytes_after_the_added_system_message() -> None:
    raw = b'{"model": "m", "messages":  [ {"role":"user",  "content":"h\\u00e9"} ] , "x": 1}'
    applied = apply_rules(typed(raw), PLAIN, RULES_CHAT_COMPLETIONS)
    assert (
        forward_body(raw, "up", applied)
        == b'{"model":"up","messages":[ {"role":"user",  "content":"h\\u00e9"} ],"x":1}'
    )
    applied.system_messages.append("S")
    assert (
        b'"messages":[{"role":"system","content":"S"}, {"role":"user",  "content":"h\\u00e9"} ]'
        in (forward_body(raw, "up", applied))
    )
