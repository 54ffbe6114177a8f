"""The bounded shutdown: finish what is open for `drain_s`, then end it with an error.

On SIGTERM uvicorn stops accepting connections and waits for open requests.
`DRAIN.begin(drain_s)` (called by `gateway.http.guard` when uvicorn starts
its shutdown) arms one timer; when it fires, `expire` ends the rest:

- each open stream's engine response is failed, so the relay ends the stream
  with an OpenAI-style `data: {"error": …}` event saying the gateway is
  shutting down (its headers were sent long ago);
- each request still waiting for an engine's whole answer is answered 503
  in the envelope.

uvicorn's own `timeout_graceful_shutdown` (set a little longer by
`gateway.serve`) remains the backstop for anything else. One `Drain` per
process: each uvicorn worker drains its own requests.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from gateway import deadlines
from gateway.errors import ApiError
from gateway.upstream.http1 import StreamedResponse


class Drain:
    def __init__(self) -> None:
        self.expired = False
        self._timer: asyncio.TimerHandle | None = None
        self._streams: set[StreamedResponse] = set()
        self._waits: set[deadlines.Timeout] = set()

    def begin(self, drain_s: float) -> None:
        """Start the drain period (once; every connection's shutdown calls this)."""
        if self._timer is None and not self.expired:
            self._timer = asyncio.get_running_loop().call_later(drain_s, self.expire)

    @property
    def begun(self) -> bool:
        """Whether the shutdown has started (readiness then fails: gateway.ops.probes)."""
        return self._timer is not None or self.expired

    def expire(self) -> None:
        self.expired = True
        for response in list(self._streams):
            response.abort("gateway shutting down")
        now = asyncio.get_running_loop().time()
        for wait in list(self._waits):
            wait.reschedule(now)

    def track_stream(self, response: StreamedResponse) -> None:
        self._streams.add(response)

    def forget_stream(self, response: StreamedResponse) -> None:
        self._streams.discard(response)

    def bounded(self) -> BoundedWait:
        """An `async with` around a wait for an engine that `expire` cuts short (503)."""
        return BoundedWait(self)

    @property
    def open_work(self) -> int:
        return len(self._streams) + len(self._waits)


class BoundedWait:
    """A timeout without a deadline (gateway.deadlines) registered with the drain; its expiry
    becomes a 503."""

    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        self._timeout = deadlines.timeout(None)

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()
        self._drain._waits.add(self._timeout)
        if self._drain.expired:
            self._timeout.reschedule(asyncio.get_running_loop().time())

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._drain._waits.discard(self._timeout)
        try:
            await self._timeout.__aexit__(kind, error, traceback)
        except TimeoutError:
            raise shutting_down() from None


def shutting_down() -> ApiError:
    return ApiError(
        503,
        "The gateway is shutting down and could not finish this request in time. Please retry.",
        type="server_error",
        headers={"retry-after": "1"},
    )


DRAIN = Drain()
