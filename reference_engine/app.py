"""The app factory: the engine's routes on a Starlette app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from reference_engine.engine import Handler, ReferenceEngine
from reference_engine.wire import json_response

DEFAULT_SLOW_S = 30.0


def post_route(path: str, engine: ReferenceEngine, handler: Handler) -> Route:
    async def endpoint(request: Request) -> Response:
        return await engine.serve(request, handler)

    return Route(path, endpoint, methods=["POST"])


def get_route(path: str, answer: Callable[[], Response]) -> Route:
    async def endpoint(request: Request) -> Response:
        return answer()

    return Route(path, endpoint, methods=["GET"])


def create_app(
    models: Sequence[str] = (),
    stream_delay_s: float = 0.0,
    slow_s: float = DEFAULT_SLOW_S,
) -> Starlette:
    """The engine app; `app.state.engine` is its `ReferenceEngine` (config and stats).

    `models` empty means any model name is served (and /v1/models lists none).
    """
    engine = ReferenceEngine(models, stream_delay_s, slow_s)
    routes = [
        get_route("/health", lambda: PlainTextResponse("ok")),
        get_route("/v1/models", lambda: json_response(engine.model_list())),
        get_route("/debug/stats", lambda: json_response(asdict(engine.stats))),
        get_route("/debug/received", lambda: json_response(engine.received_list())),
        post_route("/v1/chat/completions", engine, engine.chat),
        post_route("/v1/completions", engine, engine.completions),
        post_route("/v1/embeddings", engine, engine.embeddings),
    ]
    app = Starlette(routes=routes)
    app.state.engine = engine
    return app
