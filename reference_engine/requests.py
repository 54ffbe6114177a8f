"""Request parsing: the body as a JSON object and the parameters every endpoint reads."""

from __future__ import annotations

import msgspec

from reference_engine.wire import JSON, EngineError

_DECODER = msgspec.json.Decoder()


def decode_object(body: bytes) -> JSON:
    try:
        payload = _DECODER.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        # Bytes that are not UTF-8 are not JSON either: a 400, as from any strict engine.
        raise EngineError(400, f"Request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise EngineError(400, "Request body must be a JSON object.")
    return payload


def require_model(payload: JSON) -> str:
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise EngineError(400, "you must provide a model parameter", param="model")
    return model


def optional_positive_int(payload: JSON, key: str) -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise EngineError(400, f"{key} must be a positive integer", param=key)
    return value


def completion_limit(payload: JSON) -> int | None:
    """`max_completion_tokens` supersedes the deprecated `max_tokens`, as in OpenAI's API."""
    limit = optional_positive_int(payload, "max_completion_tokens")
    return limit if limit is not None else optional_positive_int(payload, "max_tokens")


def wants_stream(payload: JSON) -> bool:
    return payload.get("stream") is True


def wants_usage_chunk(payload: JSON) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def ignores_eos(payload: JSON) -> bool:
    """vLLM's `ignore_eos` sampling parameter: generate until the token limit, no earlier.

    With a limit (`max_completion_tokens` / `max_tokens`) the reply is exactly that
    many words, so a benchmark can ask for a stream of N small chunks.
    """
    return payload.get("ignore_eos") is True
