"""The wire format every endpoint shares.

JSON encoding, OpenAI's error envelope, the fields that open each response object
and the usage chunk that closes a stream.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.responses import Response

JSON = dict[str, Any]

SYSTEM_FINGERPRINT = "fp_reference"

ENCODER = msgspec.json.Encoder()


class EngineError(Exception):
    """An error answered in OpenAI's envelope, as a real engine would."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: JSON = {
            "error": {"message": message, "type": error_type, "param": param, "code": code}
        }

    def response(self) -> Response:
        return json_response(self.body, self.status)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(ENCODER.encode(body), status, media_type="application/json")


def response_base(object_name: str, response_id: str, model: str) -> JSON:
    return {
        "id": response_id,
        "object": object_name,
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def with_usage_chunk(chunks: list[JSON], base: JSON, totals: JSON, include: bool) -> list[JSON]:
    """OpenAI sends `usage: null` on every chunk, then one choice-less chunk with the totals."""
    if not include:
        return chunks
    for chunk in chunks:
        chunk["usage"] = None
    return [*chunks, {**base, "choices": [], "usage": totals}]
