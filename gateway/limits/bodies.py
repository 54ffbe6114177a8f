"""Bounds on request bodies held in memory, across the whole process.

`max_body_bytes` bounds one body; `BodyBudget` bounds the sum of the bodies
that requests in flight hold (`max_inflight_body_bytes`), so a burst of large
bodies is refused with a 503 (retry-after 1; the SDKs retry it) instead of
exhausting memory. A request reserves its declared Content-Length before
reading, and what it actually reads beyond that as it arrives; the app's outer
layer (gateway.http.edge) gives the reservation back when the response is complete.
"""

from __future__ import annotations

from starlette.types import Scope

from gateway.errors import ApiError

_HELD = "gateway.body_bytes"  # the scope key of a request's reservation


class BodyBudget:
    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.held_bytes = 0

    def reserve(self, scope: Scope, total: int) -> None:
        """Hold `total` bytes for this request (only the increase over what it holds)."""
        held = scope.get(_HELD, 0)
        more = total - held
        if more <= 0:
            return
        if self.held_bytes + more > self.limit_bytes:
            raise _busy()
        self.held_bytes += more
        scope[_HELD] = total

    def release(self, scope: Scope) -> None:
        self.held_bytes -= scope.pop(_HELD, 0)


def _busy() -> ApiError:
    return ApiError(
        503,
        "The gateway is holding too many large request bodies at once. Please retry shortly.",
        type="server_error",
        headers={"retry-after": "1"},
    )


def body_too_slow(timeout_s: float) -> ApiError:
    return ApiError(
        408,
        f"The request body was not received within {timeout_s:g} s.",
        headers={"connection": "close"},
    )
