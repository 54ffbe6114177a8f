"""Which engines are serving: checked in the background, never per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

from gateway.upstream.client import Upstream

log = logging.getLogger("gateway.upstream.health")

# Told after every check: engine name -> whether it is serving (e.g. the metrics' gauge).
HealthListener = Callable[[Mapping[str, bool]], None]


class HealthMonitor:
    def __init__(self, upstream: Upstream, engines: dict[str, str], interval_s: float) -> None:
        self._upstream = upstream
        self._engines = engines  # engine name -> base URL
        self._interval_s = interval_s
        self.serving: frozenset[str] = frozenset()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[HealthListener] = []

    @property
    def interval_s(self) -> float:
        """How long a failed engine can stay marked down after it is back."""
        return self._interval_s

    def listen(self, listener: HealthListener) -> None:
        """`listener` gets every check's result, from the next check on."""
        self._listeners.append(listener)

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
        self._tell({name: name in serving for name in names})

    def _tell(self, states: Mapping[str, bool]) -> None:
        for listener in self._listeners:
            try:
                listener(states)
            except Exception:  # a listener's bug must not stop the health checks
                log.exception("health listener %r failed", listener)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check_once()
