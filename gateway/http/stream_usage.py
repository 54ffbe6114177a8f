"""Streams always ask the engine for usage; the client sees it only if it asked.

Billing (the ledger) and the token limits (TPM by real usage) need every
stream's token counts, and an OpenAI-compatible engine reports them only when
asked: `stream_options: {"include_usage": true}`. So a chat or legacy
completions stream that did not ask is forwarded asking (`asking_for_usage`:
an explicit `stream_options` object keeps its other keys), and the relay then
withholds what api.openai.com would not have sent that client (`withheld`):

- the usage-only chunk before `[DONE]` (`choices: []` with `usage`), and
- the `usage` key of every other chunk: OpenAI's and the reference engine's
  `usage: null`, vLLM's per-chunk usage under `continuous_usage_stats`.

A client that asked (`include_usage: true`) gets the stream as the engine sent it.
"""

from __future__ import annotations

from typing import Any

import msgspec

_decode = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode
_ONLY_USAGE = msgspec.Raw(b'{"include_usage":true}')


def client_asked(typed: Any) -> bool:
    """Whether the validated request set `stream_options.include_usage: true` itself."""
    options = getattr(typed, "stream_options", None)
    return getattr(options, "include_usage", None) is True


def asking_for_usage(options: msgspec.Raw | None) -> msgspec.Raw:
    """The forwarded `stream_options`: the client's object with `include_usage: true` set,
    or only that when it sent none (or null)."""
    if options is None:
        return _ONLY_USAGE
    value = _decode.decode(options)
    if not isinstance(value, dict):  # null: the validator allows nothing else
        return _ONLY_USAGE
    value["include_usage"] = True
    return msgspec.Raw(_encode(value))


def withheld(chunk: Any) -> bool:
    """True for the usage-only chunk (drop it); else removes the chunk's `usage` key."""
    if not isinstance(chunk, dict) or "usage" not in chunk:
        return False
    if chunk.get("choices") == [] and chunk["usage"] is not None:
        return True
    del chunk["usage"]
    return False
