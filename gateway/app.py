"""The deployed Starlette app: generated routes around the hand-written handlers.

`create_app(config_path)` loads and checks the configuration (a bad one stops
start-up with a clear message), then mounts `generated.routes.build_routes`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from gateway.catalog import IndexedCatalog, load_catalog
from gateway.collector import tuned_for_serving
from gateway.config import Config, config_path, load_config
from gateway.errors import ApiError
from gateway.http.auth import KeyStore
from gateway.http.crash import crash_error
from gateway.http.edge import Edge
from gateway.http.handlers import Gateway
from gateway.http.lean import lean_routes
from gateway.limits.bodies import BodyBudget
from gateway.limits.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from gateway.observe import Observer, Observers
from gateway.ops.access_log import AccessLog
from gateway.ops.ledger.setup import ledger_of
from gateway.ops.ledger.writer import LedgerWriter
from gateway.ops.probes import Readiness, probe_routes, shutdown_check
from gateway.ops.request_ids import RESPONSE_HEADER, scope_request_id
from gateway.upstream.client import Upstream
from gateway.upstream.health import HealthMonitor
from generated.routes import build_routes

if TYPE_CHECKING:
    from gateway.ops.metrics.observer import GatewayMetrics

log = logging.getLogger("gateway")


def create_app(path: Path | None = None, observers: Iterable[Observer] = ()) -> Starlette:
    path = path or config_path()
    config = load_config(path)
    base = path.parent
    catalog = load_catalog(config.path(config.catalog, base))
    keys = KeyStore.from_file(
        config.path(config.keys, base),
        config.limits.requests_per_minute,
        config.limits.tokens_per_minute,
    )
    return build_app(config, catalog, keys, observers, ledger=ledger_of(config, base, catalog))


def _limiter(config: Config) -> RateLimiter:
    if config.redis_url:
        return RedisRateLimiter(config.redis_url, timeout_s=config.timeouts.redis_s)
    return MemoryRateLimiter()


def build_app(
    config: Config,
    catalog: IndexedCatalog,
    keys: KeyStore,
    observers: Iterable[Observer] = (),
    ledger: LedgerWriter | None = None,
) -> Starlette:
    """The app; `observers` get each forwarded request's outcome (gateway.observe), and
    so do the access log (unless `logging.access` is off), the metrics (unless off) and
    `ledger` (create_app makes the configuration's), written while the app runs.
    `app.state.readiness` holds the checks of `/readyz` (gateway.ops.probes), the
    ledger's writability among them; more can be added before start."""
    observers = [*observers, ledger] if ledger is not None else observers
    upstream = Upstream(config.timeouts.connect_s, config.timeouts.upstream_s)
    engines = {name: e.base_url.rstrip("/") for name, e in catalog.catalog.engines.items()}
    health = HealthMonitor(upstream, engines, config.timeouts.health_interval_s)
    bodies = BodyBudget(config.max_inflight_body_bytes)
    access: list[Observer] = [AccessLog()] if config.logging.access == "json" else []
    metrics = _metrics(config, catalog, keys, health)
    if metrics is not None:
        observers = [*observers, metrics]
    gateway = Gateway(
        catalog,
        keys,
        _limiter(config),
        upstream,
        health,
        config.max_body_bytes,
        config.docs_url,
        bodies,
        config.timeouts.body_read_s,
        observers=Observers([*observers, *access]),
    )
    readiness = _readiness(gateway)
    if ledger is not None:
        _attach_ledger(ledger, readiness, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await upstream.start()
        await health.start()
        if metrics is not None:
            await metrics.start()
        if ledger is not None:
            await ledger.start()
        try:
            with tuned_for_serving():  # gateway.collector: measured, says why
                yield
        finally:
            gateway.observers.flush()  # the last turn's outcomes, before their observers stop
            if metrics is not None:
                await metrics.stop()
            await health.stop()
            await gateway.limiter.close()
            await upstream.close()
            if ledger is not None:  # last: after the drain, every outcome has been observed
                await ledger.stop()

    routes = [*probe_routes(readiness), *build_routes(gateway)]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=_middleware(config, bodies, lean_routes(routes)),
        exception_handlers={
            ApiError: _api_error_handler(config),
            HTTPException: _http_error_handler(config),
            Exception: _crash_handler(config),
        },
    )
    # api.openai.com answers a path as sent; a trailing slash is not redirected (routes.py).
    app.router.redirect_slashes = False
    app.state.gateway = gateway
    app.state.readiness = readiness
    app.state.metrics = metrics
    app.state.ledger = ledger  # backlog(), spilled, dropped, problem(): metrics and /readyz
    return app


def _readiness(gateway: Gateway) -> Readiness:
    """What /readyz checks: an engine serving, Redis if the limits use it, no shutdown."""
    readiness = Readiness()
    health, drain = gateway.health, gateway.drain

    async def engines() -> str | None:
        return None if health.serving else "no engine is serving (gateway.upstream.health)"

    readiness.add("engines", engines, cached=False)  # the monitor's last view: free to read
    if isinstance(gateway.limiter, RedisRateLimiter):
        readiness.add("redis", gateway.limiter.problem)
    readiness.add("shutdown", shutdown_check(drain), cached=False)
    return readiness


def _attach_ledger(
    ledger: LedgerWriter, readiness: Readiness, metrics: GatewayMetrics | None
) -> None:
    """The ledger in /readyz (writable) and in the metrics (backlog, spooled, dropped)."""
    readiness.add("ledger", ledger.problem)
    if metrics is not None:
        metrics.ledger_backlog(ledger.backlog)
        metrics.ledger_losses(lambda: ledger.spilled, lambda: ledger.dropped)


def _metrics(
    config: Config, catalog: IndexedCatalog, keys: KeyStore, health: HealthMonitor
) -> GatewayMetrics | None:
    """The metrics observer, told every health check; None when `metrics.port` is null."""
    if not config.metrics.enabled:
        return None
    # Imported only now: under gateway.serve, prometheus_client must be imported after
    # the multiprocess directory is set (gateway.ops.metrics.directory), so `import gateway.app`
    # must not import it.
    from gateway.ops.metrics.observer import gateway_metrics

    metrics = gateway_metrics(catalog.models, keys.ids)
    health.listen(metrics.engine_health)
    return metrics


def _middleware(
    config: Config, bodies: BodyBudget, lean: Mapping[str, ASGIApp]
) -> list[Middleware]:
    """One layer (gateway.http.edge), outermost first: the request ids (every answer below
    carries `x-request-id`), the public origin, then CORS (none by default: the API is for
    server-to-server calls), then the release of each request's body reservation and the
    crash guard (gateway.http.crash), so a crash's 500 gets CORS headers too; under it the
    forwarded endpoints' lean handlers (gateway.http.lean), or Starlette's router."""
    edge = Middleware(
        Edge, config.docs_url, config.base_url, bodies, config.cors_allow_origins, lean
    )
    return [edge]


def error_response(error: ApiError, config: Config, request: Request) -> Response:
    return JSONResponse(error.envelope(config.docs_url), error.status, headers=error.headers)


def _api_error_handler(config: Config) -> Any:
    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return error_response(error, config, request)

    return handle


# The router's misses: no route for the path (404) or not for this method (405).
# api.openai.com answers both as 404 Invalid URL (a GET on POST /v1/embeddings too).
_ROUTING_MISSES = (404, 405)


def _http_error_handler(config: Config) -> Any:
    """Routing misses answer like api.openai.com: 404 Invalid URL, with the router's
    headers kept (a 405's `Allow` says which method the path serves). Any other
    HTTPException keeps its status, headers and detail, in OpenAI's envelope."""

    async def handle(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        headers = dict(error.headers or {})
        if error.status_code in _ROUTING_MISSES:
            message = f"Invalid URL ({request.method} {request.url.path})"
            answer = ApiError(404, message, anchor="endpoints", headers=headers)
        else:
            answer = ApiError(error.status_code, error.detail, headers=headers)
        return error_response(answer, config, request)

    return handle


def _crash_handler(config: Config) -> Any:
    """A crash outside the edge's guard (gateway.http.edge, in its own code): a 500 in
    the envelope; Starlette re-raises it for the server to log."""

    async def handle(request: Request, error: Exception) -> Response:
        response = error_response(crash_error(), config, request)
        # Answered outside the edge (Starlette's outermost ServerErrorMiddleware).
        response.headers[RESPONSE_HEADER.decode()] = scope_request_id(request.scope)
        return response

    return handle
