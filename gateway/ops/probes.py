"""Kubernetes-style probes: `GET /healthz` (alive) and `GET /readyz` (ready for traffic).

`/healthz` answers 200 `{"status": "ok"}` whenever the process can answer at
all: a liveness probe that fails means "restart me", which nothing short of
a dead event loop deserves. `/readyz` answers 200 when every readiness check
passes and 503 otherwise, the body naming each check and its problem:

    {"status": "unavailable", "checks": {"engines": "no engine is serving", "redis": "ok"}}

A check is a named `async () -> str | None`: None when fine, else the
problem in words. The app registers `engines` (at least one engine serving,
as gateway.upstream.health last saw it), `redis` when `redis_url` is set (a
PING, bounded by `timeouts.redis_s`) and `shutdown` (failing from SIGTERM on,
so the load balancer stops sending while open requests drain); more (the
ledger's `problem`) are added with `Readiness.add`. Each check's answer is
kept for `CACHE_S` and bounded by `CHECK_TIMEOUT_S`, so a probe every second
from many kubelets costs at most one PING a second. Both probes are
unauthenticated, not rate-limited, and not observed as API requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.http.drain import Drain

Check = Callable[[], Awaitable[str | None]]

CACHE_S = 1.0
CHECK_TIMEOUT_S = 2.0
OK = "ok"


@dataclass
class _Cached:
    expires: float
    answer: asyncio.Future[str | None]


class Readiness:
    """The named readiness checks; `problems()` runs them (cached) and says which fail."""

    def __init__(self, cache_s: float = CACHE_S, timeout_s: float = CHECK_TIMEOUT_S) -> None:
        self._checks: dict[str, tuple[Check, bool]] = {}
        self._cached: dict[str, _Cached] = {}
        self._cache_s = cache_s
        self._timeout_s = timeout_s

    def add(self, name: str, check: Check, *, cached: bool = True) -> None:
        """Register `check` under `name`; `cached=False` for one that costs nothing."""
        if name in self._checks:
            raise ValueError(f"readiness check {name!r} is already registered")
        self._checks[name] = (check, cached)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._checks)

    async def problems(self) -> dict[str, str | None]:
        """Each check's problem (None when it passes), in registration order."""
        names = list(self._checks)
        answers = await asyncio.gather(*(self._answer(name) for name in names))
        return dict(zip(names, answers, strict=True))

    async def _answer(self, name: str) -> str | None:
        check, cached = self._checks[name]
        if not cached:
            return await self._bounded(check)
        now = time.monotonic()
        entry = self._cached.get(name)
        if entry is None or entry.expires <= now:
            answer = asyncio.ensure_future(self._bounded(check))
            entry = self._cached[name] = _Cached(now + self._cache_s, answer)
        return await asyncio.shield(entry.answer)  # a probe that gives up leaves it to others

    async def _bounded(self, check: Check) -> str | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await check()
        except TimeoutError:
            return f"no answer within {self._timeout_s:g} s"
        except Exception as error:  # a broken check means not ready, never a crashed probe
            return f"check failed: {error!r}"


def shutdown_check(drain: Drain) -> Check:
    """Fails from the start of the shutdown's drain (SIGTERM) on."""

    async def check() -> str | None:
        return "the gateway is shutting down" if drain.begun else None

    return check


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def readyz(readiness: Readiness) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        problems = await readiness.problems()
        checks = {name: problem or OK for name, problem in problems.items()}
        failing = any(problem is not None for problem in problems.values())
        status = "unavailable" if failing else "ready"
        headers = {"Cache-Control": "no-store"}
        return JSONResponse({"status": status, "checks": checks}, 503 if failing else 200, headers)

    return handle


def probe_routes(readiness: Readiness) -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz(readiness), methods=["GET", "HEAD"]),
    ]
