"""Chat completions: the reply (echo, tool call or JSON) and its complete or chunked form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reference_engine.requests import completion_limit, ignores_eos
from reference_engine.schema_examples import example_object
from reference_engine.text import (
    fill_words,
    stable_id,
    stream_pieces,
    truncate_words,
    usage,
    word_count,
)
from reference_engine.wire import ENCODER, JSON, EngineError, with_usage_chunk

TOOL_ARGUMENT_SLICE = 8


@dataclass(frozen=True)
class Reply:
    """One assistant turn: text content or a single tool call, never both."""

    content: str | None
    tool_call: JSON | None
    finish_reason: str
    completion_tokens: int


def message_text(content: Any) -> str:
    """Text of a message's content: a string or the text parts of a content array."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p.get("text") for p in content if isinstance(p, dict))
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def chat_messages(payload: JSON) -> list[JSON]:
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise EngineError(400, "messages must be a non-empty array", param="messages")
    if not all(isinstance(m, dict) for m in messages):
        raise EngineError(400, "each message must be an object", param="messages")
    return messages


def last_user_text(messages: list[JSON]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return message_text(users[-1].get("content")) if users else ""


def chat_prompt_tokens(messages: list[JSON]) -> int:
    return sum(word_count(message_text(m.get("content"))) for m in messages)


def chosen_tool(payload: JSON) -> JSON | None:
    """The function to call: the one tool_choice names, else the first; None when off."""
    tools = payload.get("tools")
    choice = payload.get("tool_choice", "auto")
    if not isinstance(tools, list) or choice == "none":
        return None
    functions: list[JSON] = [
        t["function"]
        for t in tools
        if isinstance(t, dict)
        and t.get("type") == "function"
        and isinstance(t.get("function"), dict)
    ]
    if not functions:
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        return named_function(functions, choice)
    return functions[0]


def named_function(functions: list[JSON], choice: JSON) -> JSON:
    spec = choice.get("function")
    wanted = spec.get("name") if isinstance(spec, dict) else None
    for function in functions:
        if function.get("name") == wanted:
            return function
    raise EngineError(400, f"tool_choice names unknown function {wanted!r}", param="tool_choice")


def tool_call_reply(function: JSON, body: bytes) -> Reply:
    arguments = ENCODER.encode(example_object(function.get("parameters"))).decode()
    name = str(function.get("name", ""))
    call = {
        "id": stable_id("call_", body + name.encode()),
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return Reply(None, call, "tool_calls", max(1, word_count(arguments)))


def formatted_content(payload: JSON, text: str) -> str | None:
    """JSON content for response_format json_object / json_schema; None means plain text."""
    response_format = payload.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        return ENCODER.encode({"echo": " ".join(text.split())}).decode()
    if kind == "json_schema" and isinstance(response_format, dict):
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return ENCODER.encode(example_object(schema)).decode()
    return None


def chat_reply(payload: JSON, messages: list[JSON], body: bytes) -> Reply:
    function = chosen_tool(payload)
    if function is not None:
        return tool_call_reply(function, body)
    text = last_user_text(messages)
    formatted = formatted_content(payload, text)
    if formatted is not None:
        # JSON replies are never truncated: a cut object would not parse.
        return Reply(formatted, None, "stop", max(1, word_count(formatted)))
    limit = completion_limit(payload)
    if limit is not None and ignores_eos(payload):
        return Reply(fill_words(f"Echo: {text}", limit), None, "length", limit)
    content, cut = truncate_words(f"Echo: {text}", limit)
    return Reply(content, None, "length" if cut else "stop", word_count(content))


def assistant_message(reply: Reply) -> JSON:
    message: JSON = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_call is not None:
        message["tool_calls"] = [reply.tool_call]
    return message


def chat_completion(base: JSON, reply: Reply, prompt_tokens: int) -> JSON:
    choice = {
        "index": 0,
        "message": assistant_message(reply),
        "finish_reason": reply.finish_reason,
        "logprobs": None,
    }
    return {**base, "choices": [choice], "usage": usage(prompt_tokens, reply.completion_tokens)}


def content_deltas(content: str) -> list[JSON]:
    pieces = [{"content": piece} for piece in stream_pieces(content)]
    return [{"role": "assistant", "content": ""}, *pieces]


def tool_call_deltas(call: JSON) -> list[JSON]:
    """OpenAI's shape: the call's id and name first, then argument fragments by index."""
    header = {"index": 0, **call, "function": {"name": call["function"]["name"], "arguments": ""}}
    arguments: str = call["function"]["arguments"]
    fragments = [
        {
            "tool_calls": [
                {"index": 0, "function": {"arguments": arguments[i : i + TOOL_ARGUMENT_SLICE]}}
            ]
        }
        for i in range(0, len(arguments), TOOL_ARGUMENT_SLICE)
    ]
    return [{"role": "assistant", "content": None, "tool_calls": [header]}, *fragments]


def chat_chunk(base: JSON, delta: JSON, finish_reason: str | None) -> JSON:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {**base, "choices": [choice]}


def chat_chunks(base: JSON, reply: Reply, prompt_tokens: int, include_usage: bool) -> list[JSON]:
    if reply.tool_call is not None:
        deltas = tool_call_deltas(reply.tool_call)
    else:
        deltas = content_deltas(reply.content or "")
    chunks = [chat_chunk(base, delta, None) for delta in deltas]
    chunks.append(chat_chunk(base, {}, reply.finish_reason))
    return with_usage_chunk(
        chunks, base, usage(prompt_tokens, reply.completion_tokens), include_usage
    )
