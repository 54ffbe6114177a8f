"""Lua scripts called by many requests in flight, sent to Redis together.

Every rate-limit check (and every correction by real usage) queued during one
turn of the event loop goes out in one pipeline on one pooled connection, and
its replies come back together. A burst of requests therefore costs Redis one
round trip (not one connection each: hundreds of new connections and their
handshakes at once were slower than the timeout on a busy machine), and no
request waits behind another's connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

Call = tuple[str, str, tuple[Any, ...], "asyncio.Future[Any]"]  # sha, key, args, reply

log = logging.getLogger(__name__)


class ScriptBatcher:
    def __init__(self, client: Redis, *sources: str) -> None:
        self._client = client
        self._sources = sources
        self._shas = [hashlib.sha1(source.encode()).hexdigest() for source in sources]
        self._pending: list[Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def call(self, key: str, *args: Any, script: int = 0) -> Any:
        """Script number `script`'s reply for one key; Redis errors are raised to the caller."""
        return await self._queue(key, args, script)

    def cast(self, key: str, *args: Any, script: int = 0) -> None:
        """Queue a call whose reply nobody waits for; a failure is logged as a warning."""
        self._queue(key, args, script).add_done_callback(_log_failure)

    def _queue(self, key: str, args: tuple[Any, ...], script: int) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((self._shas[script], key, args, future))
        return future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[Call]) -> None:
        try:
            replies = await self._run(batch)
            if any(isinstance(reply, NoScriptError) for reply in replies):
                for source in self._sources:  # Redis restarted or flushed
                    await self._client.script_load(source)
                replies = await self._run(batch)
        except Exception as error:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for (*_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # its request went away meanwhile
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _run(self, batch: list[Call]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for sha, key, args, _ in batch:
                pipe.evalsha(sha, 1, key, *args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
            return replies


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.warning("rate limiter: a correction by real usage was not applied: %r", error)
