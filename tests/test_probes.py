"""`/healthz` and `/readyz` (gateway.ops.probes): the checks alone, through `build_app`'s
stack, and through real gateway processes (engines serving, Redis gone)."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning
from test_observers import sentinel_outcome

from gateway.app import build_app
from gateway.catalog import Catalog, IndexedCatalog
from gateway.config import Config
from gateway.http.auth import KeyStore
from gateway.http.drain import Drain
from gateway.ops.probes import Readiness, shutdown_check

with warnings.catch_warnings(action="ignore", category=StarletteDeprecationWarning):
    from starlette.testclient import TestClient


def test_a_cached_check_runs_once_per_cache_period_however_many_probes_ask() -> None:
    calls = 0

    async def counted() -> str | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return None

    async def scenario() -> None:
        readiness = Readiness(cache_s=0.2)
        readiness.add("counted", counted)
        answers = await asyncio.gather(*(readiness.problems() for _ in range(20)))
        assert answers == [{"counted": None}] * 20 and calls == 1
        await asyncio.sleep(0.25)
        await readiness.problems()
        assert calls == 2

    asyncio.run(scenario())


def test_a_slow_or_broken_check_is_a_named_problem_not_a_hung_or_crashed_probe() -> None:
    async def slow() -> str | None:
        await asyncio.sleep(10)
        return None

    async def broken() -> str | None:
        raise RuntimeError("no ledger")

    async def fine() -> str | None:
        return None

    async def scenario() -> dict[str, str | None]:
        readiness = Readiness(timeout_s=0.1)
        readiness.add("slow", slow)
        readiness.add("broken", broken, cached=False)
        readiness.add("fine", fine)
        return await readiness.problems()

    started = time.monotonic()
    problems = asyncio.run(scenario())
    assert time.monotonic() - started < 2
    assert problems == {
        "slow": "no answer within 0.1 s",
        "broken": "check failed: RuntimeError('no ledger')",
        "fine": None,
    }


def test_a_check_name_is_registered_once() -> None:
    async def fine() -> str | None:
        return None

    readiness = Readiness()
    readiness.add("ledger", fine)
    with pytest.raises(ValueError, match="already registered"):
        readiness.add("ledger", fine)


def test_readiness_fails_once_the_shutdown_drain_has_begun() -> None:
    async def scenario() -> tuple[str | None, str | None]:
        drain = Drain()
        check = shutdown_check(drain)
        before = await check()
        drain.begin(60)
        return before, await check()

    assert asyncio.run(scenario()) == (None, "the gateway is shutting down")


def test_without_a_serving_engine_readyz_is_503_naming_it_and_healthz_stays_200() -> None:
    config = Config(catalog="c.yaml", keys="k.yaml")
    app = build_app(config, IndexedCatalog(Catalog(engines={}, models=[])), KeyStore({}))
    with TestClient(app) as client:
        ready = client.get("/readyz")
        alive = client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "checks": {"engines": "no engine is serving (gateway.upstream.health)", "shutdown": "ok"},
    }
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})


def test_a_check_added_to_the_apps_readiness_is_part_of_readyz() -> None:
    async def ledger() -> str | None:
        return "ledger not writable: disk full"

    config = Config(catalog="c.yaml", keys="k.yaml")
    app = build_app(config, IndexedCatalog(Catalog(engines={}, models=[])), KeyStore({}))
    app.state.readiness.add("ledger", ledger)
    with TestClient(app) as client:
        checks = client.get("/readyz").json()["checks"]
    assert checks["ledger"] == "ledger not writable: disk full"


# ---------------------------------------------------------------- through real gateways


@pytest.mark.e2e
def test_probes_answer_unauthenticated_without_rate_limit_headers(gateway_url: str) -> None:
    alive = httpx.get(f"{gateway_url}/healthz", timeout=10)
    ready = httpx.get(f"{gateway_url}/readyz", timeout=10)
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {"engines": "ok", "shutdown": "ok", "ledger": "ok"},  # the config's SQLite
    }
    for response in (alive, ready):
        assert not [name for name in response.headers if name.startswith("x-ratelimit")]


@pytest.mark.e2e
def test_probes_are_never_rate_limited(gateway_url: str) -> None:
    answers = [httpx.get(f"{gateway_url}/readyz", timeout=10).status_code for _ in range(50)]
    assert answers == [200] * 50


@pytest.mark.e2e
def test_with_redis_unreachable_readyz_is_503_naming_redis(
    start_gateway: Any, unused_port: Callable[[], int]
) -> None:
    nowhere = f"redis://127.0.0.1:{unused_port()}/0"
    with start_gateway({"GATEWAY_REDIS_URL": nowhere}) as url:
        ready = httpx.get(f"{url}/readyz", timeout=10)
        alive = httpx.get(f"{url}/healthz", timeout=10)
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["engines"] == "ok"
    assert body["checks"]["redis"].startswith("Redis unreachable: ")
    assert alive.status_code == 200


@pytest.mark.e2e
def test_with_redis_up_readyz_checks_it_and_is_200(
    start_gateway: Any, start_redis: Any, unused_port: Callable[[], int]
) -> None:
    with (
        start_redis(unused_port()) as redis_url,
        start_gateway({"GATEWAY_REDIS_URL": redis_url}) as url,
    ):
        ready = httpx.get(f"{url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {
        "engines": "ok",
        "redis": "ok",
        "shutdown": "ok",
        "ledger": "ok",
    }


@pytest.mark.e2e
def test_probes_are_not_observed_as_api_requests(observed_gateway: Any) -> None:
    url = observed_gateway.server.url
    probe_ids = []
    for path in ("/healthz", "/readyz", "/healthz"):
        probe = httpx.get(f"{url}{path}", timeout=10)
        assert probe.status_code == 200
        probe_ids.append(probe.headers["x-request-id"])
    # Outcomes are delivered in order, after their answers: once a later request's is
    # recorded, a probe's would have been too. (An earlier test's may still arrive late,
    # so outcomes are told apart by their request ids, not counted.)
    recorded = sentinel_outcome(observed_gateway)
    assert not set(probe_ids) & {outcome["request_id"] for outcome in recorded}
