"""Embeddings: deterministic unit vectors seeded by a sha256 of each input."""

from __future__ import annotations

import hashlib
import math
import struct
from functools import lru_cache

from reference_engine.prompts import parse_prompts
from reference_engine.requests import optional_positive_int
from reference_engine.wire import JSON, EngineError

DEFAULT_EMBEDDING_DIMENSIONS = 1024
MAX_EMBEDDING_DIMENSIONS = 8192


@lru_cache(maxsize=256)
def unit_vector(digest: bytes, dimensions: int) -> tuple[float, ...]:
    """Deterministic L2-normalised vector: the digest seeds a SHAKE stream of int16s."""
    raw = hashlib.shake_256(digest).digest(2 * dimensions)
    values = struct.unpack(f"<{dimensions}h", raw)
    norm = math.sqrt(math.fsum(v * v for v in values)) or 1.0
    return tuple(v / norm for v in values)


def embedding_dimensions(payload: JSON) -> int:
    dimensions = optional_positive_int(payload, "dimensions")
    if dimensions is None:
        return DEFAULT_EMBEDDING_DIMENSIONS
    if dimensions > MAX_EMBEDDING_DIMENSIONS:
        raise EngineError(
            400, f"dimensions must be <= {MAX_EMBEDDING_DIMENSIONS}", param="dimensions"
        )
    return dimensions


def embeddings(payload: JSON, model: str) -> JSON:
    # encoding_format is deliberately ignored: like many real engines this one always
    # answers float lists, and converting to base64 is the gateway's job.
    prompts = parse_prompts(payload.get("input"), "input")
    dimensions = embedding_dimensions(payload)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": unit_vector(hashlib.sha256(p.key).digest(), dimensions),
        }
        for i, p in enumerate(prompts)
    ]
    tokens = sum(p.tokens for p in prompts)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
