"""What the gateway changes in an engine's answer, and nothing else.

- `system_fingerprint` is removed (the page says it is not exposed), in streamed
  chunks too;
- `usage` gains `cache_read_input_tokens` and `cache_creation_input_tokens`:
  the engine's cached-prompt count on cache-capable models, else 0;
- embeddings are returned in the `encoding_format` the client asked for, even
  when the engine only produces float lists.
"""

from __future__ import annotations

import base64
import struct
from typing import Any, Literal

from gateway.catalog import Model

# Which rewrite an endpoint's answers get: the matrix declares it per endpoint (`response:`).
ResponseKind = Literal["completion", "embeddings"]


def completion(payload: dict[str, Any], model: Model) -> dict[str, Any]:
    """A chat or legacy completion (or one streamed chunk of one), rewritten."""
    payload.pop("system_fingerprint", None)
    usage = payload.get("usage")
    if isinstance(usage, dict):
        _add_cache_usage(usage, model)
    return payload


def _add_cache_usage(usage: dict[str, Any], model: Model) -> None:
    caching = "prompt_caching" in model.capabilities
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    read = usage.get("cache_read_input_tokens", cached)
    usage["cache_read_input_tokens"] = read if caching and isinstance(read, int) else 0
    created = usage.get("cache_creation_input_tokens")
    usage["cache_creation_input_tokens"] = created if caching and isinstance(created, int) else 0


def embeddings(payload: dict[str, Any], encoding_format: str) -> dict[str, Any]:
    """Embeddings in the requested encoding: OpenAI's base64 is little-endian float32."""
    for item in payload.get("data") or ():
        vector = item.get("embedding") if isinstance(item, dict) else None
        if encoding_format == "base64" and isinstance(vector, list):
            item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        elif encoding_format == "float" and isinstance(vector, str):
            raw = base64.b64decode(vector)
            item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    payload.pop("system_fingerprint", None)
    return payload
