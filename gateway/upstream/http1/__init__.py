"""An HTTP/1.1 client for the engines: httptools parses, asyncio carries, a pool reuses.

Hand-written because nothing maintained came close inside the gateway (README,
"The hop near its limit (issue 11)"): aiohttp's Python was ~29 % of the
gateway's CPU, and pyreqwest, rnet, httpcore and a tuned aiohttp did not move it.

- `request`: one whole answer within `timeout_s` (connecting included);
- `open`: a streamed answer; its head within `timeout_s`, then each next read
  of its body within `timeout_s` (`StreamedResponse.read_some`);
- a request on a reused connection that fails before any byte of its answer
  arrived is sent once more on a fresh connection (the engine closed the idle
  connection as we wrote: the keep-alive race); never once the answer started;
- `Accept-Encoding: identity` is sent; an engine that compresses anyway with
  gzip or deflate is decoded, any other encoding is a `BadResponse`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from gateway.upstream.http1.connection import Connection
from gateway.upstream.http1.errors import (
    Aborted,
    BadResponse,
    ConnectFailed,
    ConnectionLost,
    UpstreamError,
)
from gateway.upstream.http1.pool import Origin, Pool

__all__ = [
    "Aborted",
    "Answer",
    "BadResponse",
    "ConnectFailed",
    "ConnectionLost",
    "Http1Client",
    "StreamedResponse",
    "UpstreamError",
]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Target:
    """A URL as the client writes it: where to connect, its Host header, its request target."""

    origin: Origin
    host: bytes
    path: bytes


@lru_cache(maxsize=1024)  # the engines' few URLs, parsed once
def target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc.rpartition("@")[2]
    return Target((parts.scheme, parts.hostname, port), host.encode("ascii"), path.encode("ascii"))


def request_head(method: bytes, where: Target, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        b"%s %s HTTP/1.1\r\nHost: %s\r\nAccept-Encoding: identity\r\n"
        % (method, where.path, where.host)
    ]
    if body or method == b"POST":
        lines.append(b"Content-Length: %d\r\n" % len(body))
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            raise ValueError(f"header {name} holds a line break")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(b"\r\n")
    return b"".join(lines)


LINGER_S = 1.0


class StreamedResponse:
    """An answer whose head arrived; its body is read as it comes, then `close()`d.

    `close()` before the end closes the connection (an engine stops generating
    when its client leaves); `abort(reason)` makes the next read raise
    `Aborted` (the shutdown's drain, gateway.http.drain).
    """

    def __init__(self, pool: Pool, where: Target, connection: Connection, timeout_s: float):
        self.status = connection.status
        self._pool = pool
        self._origin = where.origin
        self._connection: Connection | None = connection
        self._timeout_s = timeout_s

    async def read_some(self) -> bytes:
        """What arrived since the last read (at least one byte); b"" at the end of the body."""
        if self._connection is None:
            return b""
        return await self._connection.read_some(self._timeout_s)

    async def read_all(self) -> bytes:
        if self._connection is None:
            return b""
        loop = self._connection.loop
        return await self._connection.read_all(loop.time() + self._timeout_s)

    def abort(self, reason: str) -> None:
        if self._connection is not None:
            self._connection.body.clear()
            self._connection.fail(Aborted(reason))

    def close(self, *, finished: bool = False) -> None:
        """Done with the answer. `finished`: its last event was read, so the connection is
        kept for the end of the body (the chunked terminator an engine writes after its
        last event) for up to `LINGER_S`, then goes back to the pool; else it is closed."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if not finished or connection.complete or connection.closed:
            self._pool.release(self._origin, connection)
            return
        timer = connection.loop.call_later(LINGER_S, connection.close)
        origin, pool = self._origin, self._pool

        def release() -> None:
            timer.cancel()  # the connection may serve another request before the timer's end
            pool.release(origin, connection)

        connection.on_complete = release


class Http1Client:
    def __init__(
        self, connect_timeout_s: float, max_per_origin: int = 512, idle_s: float = 4.0
    ) -> None:
        self.pool = Pool(connect_timeout_s, max_per_origin, idle_s)

    async def request(
        self, method: bytes, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> Answer:
        """The engine's whole answer, within `timeout_s` from now."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        where = target(url)
        head = request_head(method, where, body, headers)
        connection = await self._answered(where, head, body, deadline, whole=True)
        try:
            return Answer(connection.status, await connection.read_all(deadline))
        finally:
            self.pool.release(where.origin, connection)

    async def open(
        self, method: bytes, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> StreamedResponse:
        """The engine's answer once its head arrived (within `timeout_s`); the caller closes it."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        where = target(url)
        head = request_head(method, where, body, headers)
        connection = await self._answered(where, head, body, deadline, whole=False)
        return StreamedResponse(self.pool, where, connection, timeout_s)

    async def close(self) -> None:
        await self.pool.close()

    async def _answered(
        self, where: Target, head: bytes, body: bytes, deadline: float, *, whole: bool
    ) -> Connection:
        """A connection that got the answer (its head, or all of it if `whole`).

        Sent once more on a fresh connection when a reused one ended before any
        byte of the answer came (the keep-alive race); never twice, never after
        the answer started."""
        connection = await self._connection(where.origin, deadline, fresh=False)
        try:
            return await _sent(connection, head, body, deadline, whole)
        except ConnectionLost as lost:
            if not (lost.before_answer and connection.served > 0):
                raise
        connection = await self._connection(where.origin, deadline, fresh=True)
        return await _sent(connection, head, body, deadline, whole)

    async def _connection(self, origin: Origin, deadline: float, *, fresh: bool) -> Connection:
        idle = None if fresh else self.pool.idle(origin)
        if idle is not None:
            return idle  # the common case: no timer for a connection at hand
        async with asyncio.timeout_at(deadline):  # connecting, or waiting for a free slot
            return await self.pool.acquire(origin, fresh=fresh)


async def _sent(
    connection: Connection, head: bytes, body: bytes, deadline: float, whole: bool
) -> Connection:
    try:
        connection.send(head, body)
        if whole:
            await connection.wait_complete(deadline)
        else:
            await connection.wait_head(deadline)
    except BaseException:
        connection.close()  # failed, timed out or cancelled half way: never reused
        raise
    return connection
