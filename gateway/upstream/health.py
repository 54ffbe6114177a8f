"""Which engines are serving: checked in the background, never per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from gateway.upstream.client import Upstream

log = logging.getLogger("gateway.upstream.health")


class HealthMonitor:
    def __init__(self, upstream: Upstream, engines: dict[str, str], interval_s: float) -> None:
        self._upstream = upstream
        self._engines = engines  # engine name -> base URL
        self._interval_s = interval_s
        self.serving: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None

    @property
    def interval_s(self) -> float:
        """How long a failed engine can stay marked down after it is back."""
        return self._interval_s

    async def start(self) -> None:
        await self.check_once()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def check_once(self) -> None:
        names = sorted(self._engines)
        results = await asyncio.gather(*(self._upstream.healthy(self._engines[n]) for n in names))
        serving = frozenset(n for n, ok in zip(names, results, strict=True) if ok)
        if serving != self.serving:
            log.info("engines serving: %s", ", ".join(sorted(serving)) or "none")
        self.serving = serving

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check_once()
