"""Text helpers: whitespace-split token counts, truncation, stream pieces, ids, usage."""

from __future__ import annotations

import hashlib
import re

from reference_engine.wire import JSON

# Prompts at least this long report half their tokens as cached, so the gateway's
# cache accounting sees non-zero `cached_tokens` without a real prefix cache.
CACHE_MIN_PROMPT_TOKENS = 8

_PIECE = re.compile(r"\s*\S+")


def word_count(text: str) -> int:
    return len(text.split())


def truncate_words(text: str, limit: int | None) -> tuple[str, bool]:
    """Normalised single-spaced text, cut to `limit` words; True when it was cut."""
    words = text.split()
    if limit is not None and len(words) > limit:
        return " ".join(words[:limit]), True
    return " ".join(words), False


def fill_words(text: str, limit: int) -> str:
    """Exactly `limit` words: `text`'s words repeated in turn (vLLM's `ignore_eos` length)."""
    words = text.split() or ["echo"]
    return " ".join(words[i % len(words)] for i in range(limit))


def stream_pieces(text: str) -> list[str]:
    """Word-sized deltas whose concatenation is exactly `text` (minus trailing space)."""
    return _PIECE.findall(text)


def stable_id(prefix: str, body: bytes) -> str:
    return prefix + hashlib.sha256(body).hexdigest()[:24]


def usage(prompt_tokens: int, completion_tokens: int) -> JSON:
    cached = prompt_tokens // 2 if prompt_tokens >= CACHE_MIN_PROMPT_TOKENS else 0
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
