"""Keep-alive connections per engine origin, bounded, reused only when they are clean.

A connection goes back to the pool only when its last answer was read to the
end and did not say `Connection: close` (`Connection.reusable`); the most
recently used one is taken first (warm). An idle connection older than
`idle_s` is closed instead of reused: engines close theirs after 5 s (uvicorn's
and vLLM's default), and a request written into a connection the engine is
closing is the keep-alive race (the client retries that once: see `Http1Client`).
At `max_per_origin` open connections a request waits for one to come back.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass, field

from gateway.upstream.http1.connection import Connection
from gateway.upstream.http1.errors import ConnectFailed

Origin = tuple[str, str, int]  # scheme, host, port


@dataclass(slots=True)
class _Slots:
    """One origin's connections: the idle ones (most recent last), and how many are open."""

    idle: list[Connection] = field(default_factory=list)
    open: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


class Pool:
    def __init__(
        self, connect_timeout_s: float, max_per_origin: int = 512, idle_s: float = 4.0
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._max = max_per_origin
        self._idle_s = idle_s
        self._origins: dict[Origin, _Slots] = {}
        self._tls: ssl.SSLContext | None = None
        self._closed = False

    def open_connections(self, origin: Origin) -> int:
        slots = self._origins.get(origin)
        return 0 if slots is None else slots.open

    def idle(self, origin: Origin) -> Connection | None:
        """An idle connection to `origin`, ready for its next request, if one is at hand."""
        slots = self._origins.get(origin)
        return None if slots is None else self._idle_one(slots)

    async def acquire(self, origin: Origin, *, fresh: bool = False) -> Connection:
        """An idle connection to `origin` (unless `fresh`), else a new one once under the bound."""
        slots = self._origins.get(origin)
        if slots is None:
            slots = self._origins[origin] = _Slots()
        while True:
            if not fresh and (connection := self._idle_one(slots)) is not None:
                return connection
            if slots.open < self._max:
                return await self._connect(origin, slots)
            waiter = asyncio.get_running_loop().create_future()
            slots.waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    _wake_one(slots)  # woken, then cancelled: the slot goes to the next one
                raise
            finally:
                if waiter in slots.waiting:
                    slots.waiting.remove(waiter)

    def release(self, origin: Origin, connection: Connection) -> None:
        """Back to the pool if its answer ended cleanly; closed otherwise."""
        if self._closed or not connection.reusable():
            connection.close()
            return
        slots = self._origins[origin]
        connection.idle_since = connection.loop.time()
        slots.idle.append(connection)
        _wake_one(slots)

    async def close(self) -> None:
        self._closed = True
        for slots in self._origins.values():
            for connection in list(slots.idle):
                connection.close()

    def _idle_one(self, slots: _Slots) -> Connection | None:
        while slots.idle:
            connection = slots.idle.pop()
            if connection.closed:
                continue
            if connection.loop.time() - connection.idle_since > self._idle_s:
                connection.close()
                continue
            connection.reset()
            return connection
        return None

    async def _connect(self, origin: Origin, slots: _Slots) -> Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        slots.open += 1  # counted while connecting: the bound holds for connections being opened
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _, connection = await loop.create_connection(
                    lambda: Connection(loop), host, port, ssl=tls
                )
        except OSError as error:
            self._forget(slots, None)
            raise ConnectFailed(f"cannot connect to {host}:{port}: {error}") from error
        except BaseException:
            self._forget(slots, None)
            raise
        connection.on_gone = lambda gone: self._forget(slots, gone)
        return connection

    def _forget(self, slots: _Slots, connection: Connection | None) -> None:
        """A connection ended (or never opened): its slot is free for a waiting request."""
        slots.open -= 1
        if connection is not None and connection in slots.idle:
            slots.idle.remove(connection)
        _wake_one(slots)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


def _wake_one(slots: _Slots) -> None:
    while slots.waiting:
        waiter = slots.waiting.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return
