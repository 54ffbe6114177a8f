"""What can go wrong between the gateway and an engine, as the client raises it.

A stalled engine raises the built-in `TimeoutError`; everything else is an
`UpstreamError`, so `gateway.upstream.client` maps each kind to its envelope
(refused -> 503, timeout -> 504, the rest -> 502).
"""

from __future__ import annotations


class UpstreamError(Exception):
    """The engine could not be reached, or its answer could not be read."""


class ConnectFailed(UpstreamError):
    """No connection could be opened: refused, unreachable, or a name that does not resolve."""


class BadResponse(UpstreamError):
    """The engine's bytes are not an HTTP/1.1 answer this client accepts."""


class ConnectionLost(UpstreamError):
    """The connection ended before the answer was complete."""

    def __init__(self, message: str, *, before_answer: bool) -> None:
        super().__init__(message)
        # No byte of the answer had arrived: on a reused connection, the keep-alive race.
        self.before_answer = before_answer


class Aborted(UpstreamError):
    """The gateway itself ended the exchange (the shutdown's drain expired)."""
