"""uvicorn's httptools protocol with the limits a public endpoint needs.

uvicorn bounds idle keep-alive connections but not a client that is slow to
send its headers (slowloris), and it does not cap open connections. This
subclass adds, per process:

- a header deadline (`timeouts.header_read_s`): a request whose line and
  headers are not complete in time is answered 408 in OpenAI's envelope and
  the connection closed (the body's own deadline is the app's, in
  `Gateway.body`);
- a connection cap (`max_connections`): a connection over it is answered 503
  in the envelope at once and closed, so it holds its descriptor for
  microseconds, not for the client's patience;
- malformed HTTP answered 400 in the envelope (uvicorn's is plain text);
- one write per turn of the event loop (`gateway.http.coalesce`): a response's
  head goes out with its body, not in a system call of its own;
- the start of the shutdown drain (see `gateway.http.drain`): uvicorn asks every
  connection to shut down when it gets SIGTERM, in each worker process.

Used as `uvicorn.Config(http="gateway.http.guard:GuardedHttpToolsProtocol")`;
the settings come from the gateway's configuration, loaded once per process.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway import deadlines
from gateway.config import config_path, load_config
from gateway.errors import ApiError
from gateway.http.coalesce import CoalescingTransport
from gateway.http.drain import DRAIN
from gateway.observe import new_request_id

log = logging.getLogger("gateway.http")


@dataclass(frozen=True)
class GuardSettings:
    header_read_s: float
    max_connections: int
    drain_s: float
    docs_url: str


@functools.cache
def guard_settings() -> GuardSettings:
    config = load_config(config_path())
    return GuardSettings(
        config.timeouts.header_read_s,
        config.max_connections,
        config.timeouts.drain_s,
        config.docs_url,
    )


def error_bytes(error: ApiError, docs_url: str) -> bytes:
    """A complete HTTP/1.1 response for `error` that closes the connection.

    It never reaches the app, so its `x-request-id` is made here (gateway.ops.request_ids)."""
    body = msgspec.json.encode(error.envelope(docs_url))
    head = [STATUS_LINE[error.status], b"content-type: application/json\r\n"]
    head.append(f"x-request-id: {new_request_id()}\r\n".encode())
    head += [f"{name}: {value}\r\n".encode("latin-1") for name, value in error.headers.items()]
    head += [f"content-length: {len(body)}\r\n".encode(), b"connection: close\r\n\r\n"]
    return b"".join(head) + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a header deadline, a connection cap and envelope errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard_settings()
        self.header_timer: deadlines.Deadline | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))
        if len(self.connections) > self.guard.max_connections:
            log.warning("connection refused: %d connections are open", self.guard.max_connections)
            self.refuse(too_many_connections())
            return
        self.arm_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_timer is None:  # the next request on a kept-alive connection
            self.arm_header_timer()

    def on_headers_complete(self) -> None:
        self.cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.refuse(ApiError(400, f"{msg} The request could not be parsed as HTTP/1.1."))

    def shutdown(self) -> None:
        DRAIN.begin(self.guard.drain_s)
        super().shutdown()

    def arm_header_timer(self) -> None:
        wheel = deadlines.for_running_loop()
        self.header_timer = wheel.call_later(self.guard.header_read_s, self.headers_too_slow)

    def cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def headers_too_slow(self) -> None:
        self.header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; its headers were complete
        log.warning("request headers not received within %g s", self.guard.header_read_s)
        self.refuse(
            ApiError(
                408,
                f"Request headers were not received within {self.guard.header_read_s:g} s.",
            )
        )

    def refuse(self, error: ApiError) -> None:
        if not self.transport.is_closing():
            self.transport.write(error_bytes(error, self.guard.docs_url))
            self.transport.close()


def too_many_connections() -> ApiError:
    return ApiError(
        503,
        "The gateway has too many open connections. Please retry shortly.",
        type="server_error",
        headers={"retry-after": "1"},
    )
