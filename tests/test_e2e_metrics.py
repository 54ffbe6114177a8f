"""End to end: Prometheus metrics of `python -m gateway.serve`, one worker and two.

Real requests through the openai client, then the metrics port scraped and
parsed with prometheus_client's own parser: every counter moved by exactly
what was sent (requests, a validation refusal's param, a 429, the engine's
tokens, a stream's first chunk), summed over the workers; the API port does
not serve metrics. With two workers on Redis, both count into the one
listener, and a killed worker's counters stay while its live gauges go. A metrics
port in use stops start-up with a configuration error.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[1]
StartServer = Callable[..., AbstractContextManager[Any]]
WAIT_S = 30.0  # a worker's start on a machine shared with other suites
CHAT = "chat.completions"
STREAMED = "chat-full"
PLAIN = "chat-plain"


class Scrape:
    """One scrape of the metrics port, parsed by prometheus_client.parser."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[sample.name, frozenset(sample.labels.items())] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)


def scrape(metrics_url: str) -> Scrape:
    answer = httpx.get(f"{metrics_url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return Scrape(answer.text)


@dataclass
class Sent:
    """What the traffic was, as the client saw it: the expected movement of each counter."""

    plain_ok: dict[str, int] = field(default_factory=dict)  # key id -> answered requests
    tokens: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (kind, key, model)
    refused_param: int = 0
    limited: int = 0
    streams: int = 0

    def add_tokens(self, key: str, model: str, usage: Any) -> None:
        cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
        counts = {
            "prompt": usage.prompt_tokens,
            "completion": usage.completion_tokens,
            "cached_prompt": cached or 0,
        }
        for kind, count in counts.items():
            where = (kind, key, model)
            self.tokens[where] = self.tokens.get(where, 0) + count


def client(api_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api_url}/v1", api_key=key, max_retries=0, timeout=30)


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def send_plain(api_url: str, key: str, key_id: str, sent: Sent, count: int) -> None:
    """`count` chat completions at once, each on a connection of its own."""

    def one(index: int) -> Any:
        with client(api_url, key) as c:
            return c.chat.completions.create(model=PLAIN, messages=user(f"hello number {index}"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(count)))
    for answer in answers:
        sent.add_tokens(key_id, PLAIN, answer.usage)
    sent.plain_ok[key_id] = sent.plain_ok.get(key_id, 0) + count


def send_refusals_and_a_stream(api_url: str, local_key: str, tiny_key: str, sent: Sent) -> None:
    with client(api_url, local_key) as c:
        wrong_type: Any = {"role": "user", "content": 5}
        with pytest.raises(openai.BadRequestError) as refused:
            c.chat.completions.create(model=PLAIN, messages=[*user("hi"), wrong_type])
        assert refused.value.param == "messages[1].content"
        sent.refused_param += 1
        chunks = list(
            c.chat.completions.create(
                model=STREAMED,
                messages=user("stream these few words please"),
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        sent.add_tokens("local-dev", STREAMED, chunks[-1].usage)
        sent.streams += 1
    with client(api_url, tiny_key) as c:  # one request per minute: the second is a 429
        answer = c.chat.completions.create(model=PLAIN, messages=user("first"))
        sent.add_tokens("tiny", PLAIN, answer.usage)
        sent.plain_ok["tiny"] = sent.plain_ok.get("tiny", 0) + 1
        with pytest.raises(openai.RateLimitError):
            c.chat.completions.create(model=PLAIN, messages=user("second"))
        sent.limited += 1


def wait_for_stream_ends(metrics_url: str, before: Scrape, streams: int) -> Scrape:
    """The scrape once the streams' ends are counted (each is, just after its last chunk)."""
    labels = {"endpoint": CHAT, "model": STREAMED, "end": "done"}
    deadline = time.monotonic() + WAIT_S
    while True:
        after = scrape(metrics_url)
        moved = after.value("gateway_stream_ends_total", **labels) - before.value(
            "gateway_stream_ends_total", **labels
        )
        if moved >= streams or time.monotonic() > deadline:
            return after
        time.sleep(0.05)


def assert_moved_by_what_was_sent(before: Scrape, after: Scrape, sent: Sent) -> None:
    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    requests = "gateway_requests_total"
    plain_ok = sum(sent.plain_ok.values())
    assert moved(requests, endpoint=CHAT, model=PLAIN, status="200") == plain_ok
    assert moved(requests, endpoint=CHAT, model=STREAMED, status="200") == sent.streams
    assert moved(requests, endpoint=CHAT, model="", status="400") == sent.refused_param
    assert moved(requests, endpoint=CHAT, model="", status="429") == sent.limited
    refusals = "gateway_validation_refusals_total"
    assert moved(refusals, endpoint=CHAT, param="messages[].content") == sent.refused_param
    limited = "gateway_rate_limit_refusals_total"
    assert moved(limited, key_id="tiny", limit="requests") == sent.limited
    for (kind, key, model), count in sent.tokens.items():
        assert moved(f"gateway_{kind}_tokens_total", key_id=key, model=model) == count, kind
    assert sent.tokens["prompt", "local-dev", PLAIN] > 0
    streamed = {"endpoint": CHAT, "model": STREAMED}
    assert moved("gateway_stream_first_chunk_seconds_count", **streamed) == sent.streams
    assert moved("gateway_stream_ends_total", **streamed, end="done") == sent.streams
    upstream = "gateway_upstream_duration_seconds_count"
    assert moved(upstream, endpoint=CHAT, model=PLAIN) == plain_ok
    assert moved(upstream, endpoint=CHAT, model="") == 0  # refusals never reach an engine
    duration = "gateway_request_duration_seconds_count"
    assert moved(duration, endpoint=CHAT, model=PLAIN, stream="false") == plain_ok
    assert after.value("gateway_engine_serving", engine="reference") == 1
    assert after.value("gateway_engine_serving", engine="offline") == 0


def assert_api_port_does_not_serve_metrics(api_url: str) -> None:
    answer = httpx.get(f"{api_url}/metrics", timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "Invalid URL (GET /metrics)"


@contextmanager
def gateway_with_metrics(
    start: StartServer, port: int, overrides: dict[str, str], *args: str
) -> Iterator[tuple[Any, str]]:
    with start({"GATEWAY_METRICS_PORT": str(port), **overrides}, *args) as server:
        yield server, f"http://127.0.0.1:{port}"


def test_one_worker_counts_exactly_what_was_sent_on_its_own_port(
    start_gateway_server: StartServer,
    unused_port: Callable[[], int],
    local_key: str,
    tiny_key: str,
) -> None:
    with gateway_with_metrics(start_gateway_server, unused_port(), {}) as (server, metrics_url):
        before = scrape(metrics_url)
        sent = Sent()
        send_plain(server.url, local_key, "local-dev", sent, count=3)
        send_refusals_and_a_stream(server.url, local_key, tiny_key, sent)
        after = wait_for_stream_ends(metrics_url, before, sent.streams)
        assert_moved_by_what_was_sent(before, after, sent)
        assert_api_port_does_not_serve_metrics(server.url)


# ---------------------------------------------------------------- two workers


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def workers_and_directory(serve_pid: int) -> tuple[list[int], Path]:
    """uvicorn's workers of `serve_pid` and the run's multiprocess directory they inherited."""
    workers, directory = [], None
    for pid in children(serve_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"spawn_main" not in command:
            continue  # multiprocessing's resource tracker, not a worker
        for entry in environment:
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                workers.append(pid)
                directory = Path(entry.split(b"=", 1)[1].decode())
    assert directory is not None, "no worker has PROMETHEUS_MULTIPROC_DIR"
    return workers, directory


def counting_pids(directory: Path) -> set[int]:
    """The processes that have counted something: each writes its own counter file."""
    return {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("counter_*.db")}


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S} s: {what}"
        time.sleep(0.1)


def test_two_workers_are_summed_on_one_listener_and_a_killed_worker_keeps_its_counts(
    start_gateway_server: StartServer,
    start_redis: Callable[[int], AbstractContextManager[str]],
    unused_port: Callable[[], int],
    local_key: str,
    tiny_key: str,
) -> None:
    with (
        start_redis(unused_port()) as redis_url,
        gateway_with_metrics(
            start_gateway_server, unused_port(), {"GATEWAY_REDIS_URL": redis_url}, "--workers", "2"
        ) as (server, metrics_url),
    ):
        wait_until(lambda: len(workers_and_directory(server.process.pid)[0]) == 2, "2 workers")
        workers, directory = workers_and_directory(server.process.pid)
        before = scrape(metrics_url)
        sent = Sent()
        send_refusals_and_a_stream(server.url, local_key, tiny_key, sent)
        for _ in range(10):  # until both workers have answered some (the kernel picks)
            send_plain(server.url, local_key, "local-dev", sent, count=16)
            if set(workers) <= counting_pids(directory):
                break
        assert set(workers) <= counting_pids(directory), "one worker answered everything"
        after = wait_for_stream_ends(metrics_url, before, sent.streams)
        assert_moved_by_what_was_sent(before, after, sent)
        assert_api_port_does_not_serve_metrics(server.url)

        killed = workers[0]
        assert (directory / f"gauge_livemostrecent_{killed}.db").exists()
        os.kill(killed, signal.SIGKILL)  # uvicorn's supervisor starts another in its place
        wait_until(lambda: not Path(f"/proc/{killed}").exists(), "the killed worker reaped")
        again = scrape(metrics_url)
        assert not (directory / f"gauge_livemostrecent_{killed}.db").exists()
        assert_moved_by_what_was_sent(before, again, sent)  # its counts stay: counters never drop
        assert again.value("gateway_engine_serving", engine="reference") == 1  # the other's


def test_a_metrics_port_in_use_stops_start_up_with_a_configuration_error(
    gateway_config: Path, unused_port: Callable[[], int]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        environment |= {
            "GATEWAY_CONFIG": str(gateway_config),
            "GATEWAY_PORT": str(unused_port()),
            "GATEWAY_METRICS_PORT": str(busy),
        }
        started = subprocess.run(
            [sys.executable, "-m", "gateway.serve"],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert started.returncode == 2
    assert started.stderr.startswith("configuration error: ")
    assert f"metrics listener on 127.0.0.1:{busy}: Address already in use" in started.stderr
    assert "Traceback" not in started.stderr
