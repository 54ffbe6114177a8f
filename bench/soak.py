"""Soak: two gateway replicas on one Redis under mixed traffic, while things break.

Run as `python bench/soak.py` (or `make bench-soak`); `--clients`, `--seconds`.
This is a benchmark, not a test: it prints what happened and exits 0, or 1
when a gateway answered a 5xx that was not an engine fault (or the limiter
failing closed while Redis was paused), or when a replica died.

Started on loopback: one redis-server, one reference engine, two replicas
(`python -m gateway.serve`, sharing the Redis limit). `--clients` concurrent
clients then send, for `--seconds`, a mix of requests to both replicas:

  valid       non-streaming chat completion
  invalid     bad JSON or an off-spec body (a 400 is the right answer)
  stream      streamed chat completion, read to its end
  aborted     streamed, closed by the client after the first chunk
  limited     a chat completion with a key limited to LIMITED_RPM

Meanwhile: at 25% of the run Redis is paused (SIGSTOP) for PAUSE_S, then
resumed; at 55% the engine is killed (SIGKILL) and restarted on its port
after DOWN_S. Printed: answers by status, 5xx by cause (engine faults:
the gateway says "The engine serving model..." or "... is not serving right
now"; the limiter's 503 while Redis was paused, plus its bound; anything
else, which must be 0), streams
ended by an error event, requests of the limited key admitted vs what its
token bucket allows over the run, and each replica's RSS and open file
descriptors before (after a warm-up) and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.http.auth import hash_key  # noqa: E402 - after the repository is on sys.path

HOST = "127.0.0.1"
KEY = "sk-soak-main-00000000000000000000000000000"
LIMITED_KEY = "sk-soak-limited-0000000000000000000000000"
LIMITED_RPM = 120
PAUSE_S = 5.0
DOWN_S = 3.0
REDIS_BOUND_S = 0.5  # timeouts.redis_s: how late a 503 may come after the pause ends
READY_S = 30.0
MIX = (("valid", 40), ("invalid", 15), ("stream", 20), ("aborted", 10), ("limited", 15))
CHAT = {"model": "soak-chat", "messages": [{"role": "user", "content": "soak test words"}]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Process:
    name: str
    command: list[str]
    environment: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command, cwd=ROOT, env=self.environment, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.kill(self.pid, signal.SIGCONT)  # a paused process cannot exit
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)


def wait_http(url: str) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # answering (a 401 is an answer)
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {READY_S} s")


def write_config(directory: Path, engine_port: int, redis_port: int) -> Path:
    catalog = {
        "engines": {"reference": {"base_url": f"http://{HOST}:{engine_port}/v1"}},
        "models": [
            {"id": "soak-chat", "category": "text", "engine": "reference", "upstream_model": "m"}
        ],
    }
    keys = {
        "keys": [
            {"id": "soak", "sha256": hash_key(KEY)},
            {"id": "limited", "sha256": hash_key(LIMITED_KEY), "requests_per_minute": LIMITED_RPM},
        ]
    }
    config = {
        "catalog": "catalog.yaml",
        "keys": "keys.yaml",
        "redis_url": f"redis://{HOST}:{redis_port}/0",
        "limits": {"requests_per_minute": 10_000_000, "tokens_per_minute": 10_000_000_000},
        "timeouts": {"connect_s": 1, "upstream_s": 10, "health_interval_s": 1},
    }
    (directory / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    (directory / "keys.yaml").write_text(yaml.safe_dump(keys))
    (directory / "gateway.yaml").write_text(yaml.safe_dump(config))
    return directory / "gateway.yaml"


def environment(extra: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {**base, "PYTHONPATH": str(ROOT), **extra}


@dataclass
class Stack:
    redis: Process
    engine: Process
    engine_url: str
    gateways: list[tuple[Process, str]]


@contextmanager
def started(directory: Path) -> Iterator[Stack]:
    redis_port, engine_port = free_port(), free_port()
    redis = Process(
        "redis",
        ["redis-server", "--port", str(redis_port), "--bind", HOST, "--save", ""],
        environment({}),
        directory / "redis.log",
    )
    engine_command = [sys.executable, "-m", "reference_engine", "--host", HOST]
    engine_command += ["--port", str(engine_port), "--stream-delay", "0.01"]
    engine = Process("engine", engine_command, environment({}), directory / "engine.log")
    config = write_config(directory, engine_port, redis_port)
    gateways = []
    for index in range(2):
        port = free_port()
        settings = {
            "GATEWAY_CONFIG": str(config),
            "GATEWAY_PORT": str(port),
            "GATEWAY_METRICS_PORT": str(free_port()),  # each replica its own, as deployed
        }
        process = Process(
            f"gateway {index}",
            [sys.executable, "-m", "gateway.serve"],
            environment({**settings, "GATEWAY_LOG_LEVEL": "warning"}),
            directory / f"gateway{index}.log",
        )
        gateways.append((process, f"http://{HOST}:{port}"))
    everything = [redis, engine, *(process for process, _ in gateways)]
    try:
        for process in everything:
            process.start()
        engine_url = f"http://{HOST}:{engine_port}"
        wait_http(f"{engine_url}/health")
        for _, url in gateways:
            wait_http(f"{url}/v1/models")
        yield Stack(redis, engine, engine_url, gateways)
    finally:
        for process in reversed(everything):
            process.stop()


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    engine_5xx: int = 0
    paused_503: int = 0
    other_5xx: list[str] = field(default_factory=list)
    stream_errors: int = 0
    limited_admitted: int = 0
    client_errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Window:
    """When Redis was paused (monotonic seconds), for classifying the limiter's 503s."""

    start: float = float("inf")
    end: float = float("inf")

    def covers(self, sent: float, answered: float) -> bool:
        return sent < self.end + REDIS_BOUND_S and answered > self.start


def classify(tally: Tally, status: int, text: str, sent: float, paused: Window) -> None:
    tally.statuses[status] += 1
    if status < 500:
        return
    # An engine fault: the failed call itself, or the health monitor having marked the
    # engine down since (gateway.upstream.serving), until its next check passes.
    if "The engine serving model" in text or "is not serving right now" in text:
        tally.engine_5xx += 1
    elif "Rate limiter unavailable" in text and paused.covers(sent, time.monotonic()):
        tally.paused_503 += 1
    else:
        tally.other_5xx.append(f"{status} {text[:160]}")


async def one_request(
    http: aiohttp.ClientSession, url: str, kind: str, tally: Tally, paused: Window
) -> None:
    key = LIMITED_KEY if kind == "limited" else KEY
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body: object = CHAT
    if kind == "invalid":
        body = random.choice(['{"model": "soak-chat", "messages": [', {**CHAT, "messages": 5}])
    elif kind in ("stream", "aborted"):
        body = {**CHAT, "stream": True}
    data = body if isinstance(body, str) else json.dumps(body)
    sent = time.monotonic()
    async with http.post(f"{url}/v1/chat/completions", data=data, headers=headers) as answer:
        if kind == "aborted" and answer.status == 200:
            await answer.content.readany()
            answer.close()
            tally.statuses[200] += 1
            return
        text = (await answer.read()).decode(errors="replace")
    classify(tally, answer.status, text, sent, paused)
    if kind == "stream" and answer.status == 200 and 'data: {"error"' in text:
        tally.stream_errors += 1
    if kind == "limited" and answer.status == 200:
        tally.limited_admitted += 1


async def client(urls: list[str], stop_at: float, tally: Tally, paused: Window, seed: int) -> None:
    chooser = random.Random(seed)
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while time.monotonic() < stop_at:
            kind = chooser.choices(kinds, weights)[0]
            tally.kinds[kind] += 1
            try:
                await one_request(http, chooser.choice(urls), kind, tally, paused)
            except (aiohttp.ClientError, TimeoutError) as error:
                tally.client_errors[type(error).__name__] += 1


async def chaos(stack: Stack, seconds: float, paused: Window) -> None:
    """Pause Redis at 25% of the run, kill the engine at 55% and restart it."""
    await asyncio.sleep(seconds * 0.25)
    os.kill(stack.redis.pid, signal.SIGSTOP)
    paused.start = time.monotonic()
    print(f"  t={seconds * 0.25:.0f}s redis paused for {PAUSE_S:g} s", flush=True)
    await asyncio.sleep(PAUSE_S)
    os.kill(stack.redis.pid, signal.SIGCONT)
    paused.end = time.monotonic()
    await asyncio.sleep(max(0.0, seconds * 0.3 - PAUSE_S))
    assert stack.engine.popen is not None
    stack.engine.popen.kill()
    stack.engine.popen.wait(timeout=10)
    print(f"  t={seconds * 0.55:.0f}s engine killed, restarted after {DOWN_S:g} s", flush=True)
    await asyncio.sleep(DOWN_S)
    stack.engine.start()


def rss_and_fds(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return rss_kib // 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def soak(stack: Stack, clients: int, seconds: float) -> Tally:
    tally, paused = Tally(), Window()
    urls = [url for _, url in stack.gateways]
    stop_at = time.monotonic() + seconds
    runs = [client(urls, stop_at, tally, paused, seed) for seed in range(clients)]
    await asyncio.gather(chaos(stack, seconds, paused), *runs)
    return tally


async def warm_up(urls: list[str]) -> None:
    async with aiohttp.ClientSession() as http:
        for url in urls * 20:
            headers = {"Authorization": f"Bearer {KEY}"}
            async with http.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers) as r:
                await r.read()


def report(
    tally: Tally, before: list[tuple[int, int]], after: list[tuple[int, int]], s: float
) -> bool:
    allowed = LIMITED_RPM + int(LIMITED_RPM * s / 60)
    total = sum(tally.statuses.values())
    print(f"requests: {total} ({', '.join(f'{k} {v}' for k, v in sorted(tally.kinds.items()))})")
    print(f"by status: {', '.join(f'{k}: {v}' for k, v in sorted(tally.statuses.items()))}")
    print(f"5xx engine faults (engine killed): {tally.engine_5xx}")
    print(f"503 rate limiter unavailable while Redis was paused: {tally.paused_503}")
    print(f"5xx not engine faults: {len(tally.other_5xx)} (must be 0)")
    for line in tally.other_5xx[:10]:
        print(f"    {line}")
    print(f"streams ended by an error event: {tally.stream_errors}")
    print(f"client-side errors: {dict(tally.client_errors) or 0}")
    print(
        f"limited key: {tally.limited_admitted} admitted; its bucket allows at most {allowed} "
        f"({LIMITED_RPM} rpm, full at start, over {s:g} s)"
    )
    for index, ((rss0, fds0), (rss1, fds1)) in enumerate(zip(before, after, strict=True)):
        print(f"gateway {index}: RSS {rss0} -> {rss1} MiB, open fds {fds0} -> {fds1}")
    return not tally.other_5xx and tally.limited_admitted <= allowed


def main() -> int:
    parser = argparse.ArgumentParser(prog="python bench/soak.py")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with ExitStack() as exits:
        directory = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        stack = exits.enter_context(started(directory))
        urls = [url for _, url in stack.gateways]
        asyncio.run(warm_up(urls))
        before = [rss_and_fds(process.pid) for process, _ in stack.gateways]
        print(f"soak: {args.clients} clients, {args.seconds:g} s, 2 replicas, 1 redis, 1 engine")
        tally = asyncio.run(soak(stack, args.clients, args.seconds))
        time.sleep(6)  # idle keep-alive connections closed (client 5 s, engine 4 s)
        alive = all(process.popen and process.popen.poll() is None for process, _ in stack.gateways)
        after = [rss_and_fds(process.pid) for process, _ in stack.gateways] if alive else before
        ok = report(tally, before, after, args.seconds)
        if not alive:
            print("a gateway replica exited during the run")
    return 0 if ok and alive else 1


if __name__ == "__main__":
    sys.exit(main())
