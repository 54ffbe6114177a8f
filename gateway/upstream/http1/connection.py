"""One keep-alive HTTP/1.1 connection to an engine: an asyncio Protocol fed to httptools.

httptools (llhttp, the parser of Node.js) parses the answer; this module keeps
what the gateway needs of it: the status, the body as it arrives, whether the
connection may carry another request. Reading waits on one future with a
deadline timer armed only when nothing is buffered, so a stream's chunks that
are already here cost no timer at all.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import Callable
from typing import cast

import httptools

from gateway import deadlines
from gateway.upstream.http1.errors import BadResponse, ConnectionLost

MAX_HEAD_BYTES = 64 * 1024  # an answer's status line and headers, together
HIGH_WATER = 256 * 1024  # body bytes buffered (the relay is slower) before reading pauses
_LENGTH_HEADERS = (b"content-length", b"transfer-encoding")


class Connection(asyncio.Protocol):
    """A connection and the answer it is receiving; `reset` before each request."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.served = 0  # answers completed: a reused connection may race the engine's close
        self.idle_since = 0.0
        self.on_gone: Callable[[Connection], None] | None = None  # the pool's; called once
        self.on_complete: Callable[[], None] | None = None  # a lingering stream's release
        self._waiter: asyncio.Future[None] | None = None
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.any_byte = False  # whether any byte of this answer arrived
        self.error: BaseException | None = None
        self.body: deque[bytes] = deque()
        self._buffered = 0
        self._head_bytes = 0  # bytes read while the head was incomplete
        self._header_bytes = 0  # the parsed headers' own size
        self._delimited = False  # Content-Length or chunked: else the body ends at EOF
        self._encoding = b""
        self._inflate: zlib._Decompress | None = None
        self._paused = False
        self._spoiled = False  # more bytes came than the one answer asked for
        self.on_complete = None

    # -------------------------------------------------------------- the protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.complete or self.error is not None:
            self.close()  # bytes nobody asked for: this connection can no longer be trusted
            return
        self.any_byte = True
        if not self.head_done:
            self._head_bytes += len(data)  # an upper bound: this read may hold body bytes too
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
            self.fail(BadResponse(f"unparseable answer: {error}"))
            return
        if not self.head_done and self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_done and not self.complete and not self._delimited and self.error is None:
            self.complete = True  # an answer without a length ends with its connection
        elif not self.complete:
            message = f"engine closed the connection ({exc!r})"
            self.fail(ConnectionLost(message, before_answer=not self.any_byte))
        self._gone()
        self._wake()

    # -------------------------------------------------------------- httptools' callbacks

    def on_message_begin(self) -> None:
        if self.complete:
            self._spoiled = True  # a second answer to one request: never reuse this connection

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        name = name.lower()
        if name in _LENGTH_HEADERS:
            self._delimited = True
        elif name == b"content-encoding":
            self._encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.head_done = True
        if self._header_bytes > MAX_HEAD_BYTES:
            self._head_too_large()
            return
        if self._encoding not in (b"", b"identity"):
            if self._encoding not in (b"gzip", b"x-gzip", b"deflate"):
                self.fail(BadResponse(f"unsupported Content-Encoding {self._encoding!r}"))
                return
            # Asked for identity, but an engine may compress anyway: gzip or zlib, told apart.
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.error is not None:
            return
        if self._inflate is not None:
            try:
                body = self._inflate.decompress(body)
            except zlib.error as error:
                self.fail(BadResponse(f"undecodable {self._encoding!r} body: {error}"))
                return
        self.body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.complete:
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self.served += 1
        self._wake()
        if self.on_complete is not None:
            self.on_complete()

    # -------------------------------------------------------------- the reader's side

    def send(self, head: bytes, body: bytes) -> None:
        if self.closed or self.transport is None:
            raise ConnectionLost("engine closed the idle connection", before_answer=True)
        if len(body) < 65536:
            self.transport.write(head + body)
        else:  # not copied into one buffer: a large body is written as it is
            self.transport.write(head)
            self.transport.write(body)

    async def wait_head(self, deadline: float) -> None:
        while not self.head_done and self.error is None:
            await self._wait(deadline)
        if self.error is not None:
            raise self.error

    async def wait_complete(self, deadline: float) -> None:
        while not self.complete and self.error is None:
            await self._wait(deadline)
        if self.error is not None:
            raise self.error

    async def read_all(self, deadline: float) -> bytes:
        await self.wait_complete(deadline)
        return self._take() if self.body else b""

    async def read_some(self, timeout_s: float) -> bytes:
        """What arrived of the body since the last read; b"" once it is complete."""
        while not self.body:
            if self.error is not None:
                raise self.error
            if self.complete:
                return b""
            await self._wait(self.loop.time() + timeout_s)
        return self._take()

    def reusable(self) -> bool:
        ended_well = self.complete and self.keep_alive and self.error is None
        return ended_well and not self._spoiled and not self.closed

    def fail(self, error: BaseException) -> None:
        """End the exchange with `error` (the first one stays) and the connection with it."""
        if self.error is None:
            self.error = error
        self.close()
        self._wake()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._gone()

    # -------------------------------------------------------------- internals

    def _take(self) -> bytes:
        data = self.body.popleft() if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def _wait(self, deadline: float) -> None:
        waiter = self._waiter = self.loop.create_future()
        timer = deadlines.for_running_loop().call_at(deadline, self._timed_out)
        try:
            await waiter
        finally:
            self._waiter = None
            timer.cancel()

    def _head_too_large(self) -> None:
        self.fail(BadResponse(f"answer's headers over {MAX_HEAD_BYTES} bytes"))

    def _timed_out(self) -> None:
        self.fail(TimeoutError("the engine did not answer in time"))

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _gone(self) -> None:
        if not self.closed:
            self.closed = True
            if self.on_gone is not None:
                self.on_gone(self)
