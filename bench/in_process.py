"""Benchmark: the gateway's own CPU per forwarded request, in one process, without sockets.

Run as `python bench/in_process.py` (`--rounds N`, `--requests N`). The
end-to-end benches (gateway_bench, latency_floor) measure through loopback,
where the machine's scheduler and its wake-ups move single runs by ±15 %;
this one measures only the Python work of one gateway process, so changes of
a few microseconds show. Three targets, each driven by its own guarded
protocol (gateway.http.guard, as deployed) fed one chat completion request at
a time through an in-memory transport, in alternating rounds, medians:

  guarded protocol   uvicorn's httptools protocol with the guard and an ASGI
                     app that reads the body and answers a fixed JSON body
                     with the gateway's headers: the server's part alone
  gateway, ops off   the app as deployed (edge, auth, limits, validation,
                     rules, rewrite, ids, observers) with no ledger, metrics
                     or access log
  gateway, ops on    the same with the SQLite ledger (its writer process's
                     CPU is not counted: it is another process) and the JSON
                     access log into a file

The engine is replaced by a canned answer (`Upstream.post_json` returns it,
decoded from bytes as an engine's would be): everything the gateway process
does per request is measured except its engine client's socket round trip,
which `make bench-floor`'s minimal hop measures. Metrics stay off: they need
their multiprocess directory before prometheus_client is imported, and
gateway_bench measures them. A benchmark, not a test: it exits 0 whatever it
measured.
"""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import msgspec
import uvicorn
import uvloop
from gateway_bench import BODY, PATH, positive_int, raw_request, write_gateway_config
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.lifespan.on import LifespanOn
from uvicorn.server import ServerState

from gateway.app import create_app
from gateway.http.guard import GuardedHttpToolsProtocol
from gateway.logs import dict_config
from gateway.ops.access_log import LOGGER as ACCESS_LOGGER
from gateway.upstream.client import Reply, Upstream

REQUEST = raw_request("POST", PATH, BODY)
ANSWER = msgspec.json.encode(
    {
        "id": "chatcmpl-0",
        "object": "chat.completion",
        "created": 1,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there, how can I help?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
    }
)
# The gateway's answer head, for the protocol-only target: its rate-limit headers and id.
ANSWER_HEADERS = [
    (b"content-length", str(len(ANSWER)).encode()),
    (b"content-type", b"application/json"),
    *[(f"x-ratelimit-{name}".encode(), b"1000") for name in ("a", "b", "c", "d", "e", "f")],
    (b"x-request-id", b"req_0123456789abcdef0123456789abcdef"),
]
PROTOCOL, OPS_OFF, OPS_ON = "guarded protocol", "gateway, ops off", "gateway, ops on"
WARMUP = 500


class Sink(asyncio.Transport):
    """A client connection's transport: what the server writes is counted, then dropped."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.last = b""

    def write(self, data: Any) -> None:
        self.writes += 1
        self.last = bytes(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def canned_answer(
    self: Upstream, url: str, body: bytes, model: str, request_id: str | None = None
) -> Reply:
    return Reply(200, msgspec.json.decode(ANSWER))


async def always_healthy(self: Upstream, base_url: str) -> bool:
    return True


async def protocol_only_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": ANSWER_HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})


class Target:
    """One app under its own guarded protocol and in-memory connection."""

    def __init__(self, app: ASGIApp | Callable[[], ASGIApp], factory: bool) -> None:
        self.config = uvicorn.Config(
            app,
            factory=factory,
            log_config=None,
            access_log=False,
            lifespan="on",
            proxy_headers=False,  # as gateway.serve runs it
        )
        self.config.load()
        self.lifespan = LifespanOn(self.config)
        self.sink = Sink()
        self.protocol: GuardedHttpToolsProtocol | None = None

    async def start(self) -> None:
        await self.lifespan.startup()
        self.protocol = GuardedHttpToolsProtocol(
            config=self.config, server_state=ServerState(), app_state=self.lifespan.state
        )
        self.protocol.connection_made(self.sink)

    async def one_request(self) -> None:
        assert self.protocol is not None
        writes = self.sink.writes
        self.protocol.data_received(REQUEST)
        for _ in range(100):  # bounded: the answer comes a few loop turns later
            if self.sink.writes != writes:
                break
            await asyncio.sleep(0)
        if not self.sink.last.startswith(b"HTTP/1.1 200 "):
            raise RuntimeError(f"unexpected answer: {self.sink.last[:200]!r}")

    async def stop(self) -> None:
        if self.protocol is not None:
            self.protocol.connection_lost(None)
        await self.lifespan.shutdown()


def gateway_app(environment: dict[str, str]) -> Callable[[], ASGIApp]:
    """create_app, with `environment`'s overrides in force while it reads the configuration."""

    def build() -> ASGIApp:
        with mock.patch.dict(os.environ, environment):
            return create_app()

    return build


def log_access_to(path: Path) -> None:
    """The process's logging as gateway.serve sets it, the access log into `path`."""
    logging.config.dictConfig(dict_config("warning", "%(levelname)s %(name)s: %(message)s"))
    for handler in logging.getLogger(ACCESS_LOGGER).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(path.open("a", encoding="utf-8"))


async def measure(targets: dict[str, Target], rounds: int, requests: int) -> dict[str, list[float]]:
    """Per target, each round's CPU per request (µs) of this process."""
    for target in targets.values():
        await target.start()
    try:
        for target in targets.values():
            for _ in range(WARMUP):
                await target.one_request()
        cpu: dict[str, list[float]] = {name: [] for name in targets}
        names = list(targets)
        for index in range(rounds):
            for name in names if index % 2 == 0 else names[::-1]:
                before = time.process_time()
                for _ in range(requests):
                    await targets[name].one_request()
                cpu[name].append((time.process_time() - before) / requests * 1e6)
        return cpu
    finally:
        for target in targets.values():
            await target.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=positive_int, default=7)
    parser.add_argument("--requests", type=positive_int, default=5000)
    args = parser.parse_args(argv)
    Upstream.post_json = canned_answer  # type: ignore[method-assign]
    Upstream.healthy = always_healthy  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="in-process-") as tmp:
        workdir = Path(tmp)
        os.environ["GATEWAY_CONFIG"] = str(write_gateway_config(workdir, 9))  # never dialled
        os.environ["GATEWAY_METRICS_PORT"] = ""
        log_access_to(workdir / "access.log")
        off = {"GATEWAY_LEDGER_URL": "", "GATEWAY_ACCESS_LOG": "off"}
        on = {
            "GATEWAY_LEDGER_URL": f"sqlite:///{workdir / 'usage.sqlite3'}",
            "GATEWAY_ACCESS_LOG": "json",
        }
        targets = {
            PROTOCOL: Target(protocol_only_app, factory=False),
            OPS_OFF: Target(gateway_app(off), factory=True),
            OPS_ON: Target(gateway_app(on), factory=True),
        }
        cpu = uvloop.run(measure(targets, args.rounds, args.requests))
    for name, values in cpu.items():
        rounds = ", ".join(f"{value:.1f}" for value in values)
        print(f"{name:17s} {statistics.median(values):6.1f} us CPU per request (rounds {rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
