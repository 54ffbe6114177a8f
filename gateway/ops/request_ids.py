"""Every answer's `x-request-id`: the client's `X-Client-Request-Id`, or a fresh one.

api.openai.com documents `X-Client-Request-Id` as the client's own id for a
request: "it must contain only ASCII characters and be no more than 512
characters long; otherwise, the request will fail with a 400 error". This
gateway does the same: a value it cannot use is a 400 in OpenAI's envelope
(with a generated `x-request-id`), not silently replaced, so the client learns
at once that the id it logged will not be found anywhere. A usable one becomes
the request's id; an absent (or empty) one means a generated `req_` + 32 hex.

The app's outer layer (gateway.http.edge) does this first, so every answer
the app gives carries the header: successes, every error, routing misses, the documents,
the probes and the crash guard's 500. The id goes in the ASGI scope
(`scope_request_id`, read by the handlers' `Trace` and sent to the engine as
`X-Request-Id`) and in a contextvar that `RequestIdFilter` adds to every log
record written while the request runs (`%(request_id)s`; "-" outside one).
"""

from __future__ import annotations

import contextvars
import logging

from starlette.types import Scope

from gateway.errors import ApiError
from gateway.observe import new_request_id

CLIENT_HEADER = b"x-client-request-id"
RESPONSE_HEADER = b"x-request-id"
MAX_CLIENT_ID_CHARS = 512  # api.openai.com's documented limit
SCOPE_KEY = "gateway.request_id"
NO_REQUEST = "-"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default=NO_REQUEST)


def current_request_id() -> str:
    """The id of the request being handled in this context, or "-" outside one."""
    return _current.get()


def enter_request(request_id: str) -> contextvars.Token[str]:
    """`request_id` is the current one in this context until `leave_request`."""
    return _current.set(request_id)


def leave_request(token: contextvars.Token[str]) -> None:
    _current.reset(token)


def scope_request_id(scope: Scope) -> str:
    """The request's id as the edge put it in the scope (a fresh one if it did not run)."""
    found = scope.get(SCOPE_KEY)
    return found if isinstance(found, str) else new_request_id()


def client_request_id(value: bytes) -> str | None:
    """The client's id if usable: 1..512 printable ASCII characters; None if it is not."""
    if not 0 < len(value) <= MAX_CLIENT_ID_CHARS:
        return None
    if not all(0x20 <= byte < 0x7F for byte in value):
        return None
    return value.decode("ascii")


def invalid_client_id(value: bytes) -> ApiError:
    return ApiError(
        400,
        "Invalid 'X-Client-Request-Id' header: it must contain only printable ASCII characters "
        f"and be at most {MAX_CLIENT_ID_CHARS} characters long, but got {len(value)} bytes"
        f"{'' if value.isascii() else ' with non-ASCII ones'}.",
    )


def request_id_of(scope: Scope) -> tuple[str | None, bytes]:
    """The request's id (None if the client's is unusable), and the client's as sent."""
    sent = b""
    for name, value in scope["headers"]:
        if name == CLIENT_HEADER:
            sent = bytes(value)
            break
    return (client_request_id(sent) if sent else new_request_id()), sent


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to each record: the id of the request it was logged during."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return True
