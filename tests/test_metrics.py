"""The metrics observer, its bounded labels, its gauges and its configuration, in process.

End to end through `python -m gateway.serve` (one worker and two) is
tests/test_e2e_metrics.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.config import DEFAULT_CONFIG, load_config
from gateway.config_errors import ConfigError
from gateway.observe import RefusalInfo, RequestOutcome, StreamEnd, Usage
from gateway.ops.metrics.exposure import exited_processes
from gateway.ops.metrics.labels import ParamLabels
from gateway.ops.metrics.observer import (
    DURATION_BUCKETS,
    GatewayMetrics,
    gateway_metrics,
    observe_all,
)
from gateway.upstream.client import Upstream
from gateway.upstream.health import HealthMonitor
from generated.validators import BY_ENDPOINT

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS = ("chat-a", "embed-b")
KEYS = ("team-a", "team-b")


def outcome(
    endpoint: str = "chat.completions",
    model: str | None = "chat-a",
    status: int = 200,
    key_id: str | None = "team-a",
    usage: Usage | None = None,
    error: RefusalInfo | None = None,
    stream_end: StreamEnd | None = None,
    first_chunk_s: float | None = None,
    upstream_s: float | None = None,
) -> RequestOutcome:
    return RequestOutcome(
        outcome_id="o0",
        request_id="req_0",
        received_at=0.0,
        endpoint=endpoint,
        key_id=key_id,
        model=model,
        status=status,
        stream=stream_end is not None,
        usage=usage,
        latency_s=0.2,
        first_chunk_s=first_chunk_s,
        error=error,
        stream_end=stream_end,
        upstream_s=upstream_s,
    )


def refusal(param: str | None) -> RefusalInfo:
    return RefusalInfo("invalid_request_error", param, None, "bad")


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float:
    sample = metrics.registry.get_sample_value(name, labels)
    return 0.0 if sample is None else sample


@pytest.fixture
def metrics() -> GatewayMetrics:
    return gateway_metrics(MODELS, KEYS)


def test_requests_are_counted_by_endpoint_model_and_status(metrics: GatewayMetrics) -> None:
    for _ in range(3):
        metrics(outcome())
    metrics(outcome(status=502))
    metrics(outcome(endpoint="models", model=None))
    assert value(metrics, "gateway_requests_total", endpoint="chat.completions",
                 model="chat-a", status="200") == 3  # fmt: skip
    assert value(metrics, "gateway_requests_total", endpoint="chat.completions",
                 model="chat-a", status="502") == 1  # fmt: skip
    assert value(metrics, "gateway_requests_total", endpoint="models", model="", status="200") == 1


def test_a_model_or_key_outside_the_configuration_is_never_a_label_value(
    metrics: GatewayMetrics,
) -> None:
    """Label cardinality is an attack surface: only catalog ids and key ids become labels."""
    for i in range(50):
        metrics(outcome(model=f"client-string-{i}", key_id=f"k{i}", usage=Usage(1, 1, None)))
    families = {f.name: f for f in text_string_to_metric_families(_exposition(metrics))}
    models = {s.labels["model"] for s in families["gateway_requests"].samples}
    keys = {s.labels["key_id"] for s in families["gateway_prompt_tokens"].samples}
    assert models == {""}
    assert keys == {""}
    assert value(metrics, "gateway_requests_total", endpoint="chat.completions",
                 model="", status="200") == 50  # fmt: skip


@pytest.mark.parametrize(
    ("param", "label"),
    [
        ("messages[3].content", "messages[].content"),
        ("messages[0].content[12].image_url.url", "messages[].content[].image_url.url"),
        ("tools[7].function.name", "tools[].function.name"),
        ("temperature", "temperature"),
        ("stream_options.include_usage", "stream_options.include_usage"),
        ("metadata.any key.the client.chose", "metadata.*"),
        ("logit_bias.50256", "logit_bias.*"),
        ("not_a_field_of_the_schema", "other"),
        ("messages[x].content", "other"),
        ("temperature.nested", "other"),
        (None, ""),
    ],
)
def test_refusal_params_are_placed_in_the_schema_indices_and_map_keys_folded(
    param: str | None, label: str
) -> None:
    params = ParamLabels({endpoint: v.schema for endpoint, v in BY_ENDPOINT.items()})
    assert params.label("chat.completions", param) == label


def test_validation_refusals_are_counted_by_their_bounded_param(metrics: GatewayMetrics) -> None:
    for index in range(20):
        metrics(outcome(status=400, error=refusal(f"messages[{index}].content")))
    metrics(outcome(endpoint="embeddings", status=400, error=refusal("input")))
    metrics(outcome(status=404, error=refusal("model")))  # not a validation refusal
    name = "gateway_validation_refusals_total"
    assert value(metrics, name, endpoint="chat.completions", param="messages[].content") == 20
    assert value(metrics, name, endpoint="embeddings", param="input") == 1
    assert value(metrics, name, endpoint="chat.completions", param="model") == 0


def test_rate_limit_refusals_are_counted_by_key_and_the_limit_that_refused(
    metrics: GatewayMetrics,
) -> None:
    def limited(kind: str) -> RefusalInfo:
        return RefusalInfo(kind, None, "rate_limit_exceeded", "Rate limit reached")

    metrics(outcome(status=429, error=limited("requests")))
    metrics(outcome(status=429, error=limited("tokens"), key_id="team-b"))
    metrics(outcome(status=429, error=limited("tokens"), key_id="team-b"))
    name = "gateway_rate_limit_refusals_total"
    assert value(metrics, name, key_id="team-a", limit="requests") == 1
    assert value(metrics, name, key_id="team-b", limit="tokens") == 2


def test_tokens_are_counted_by_key_and_model_as_the_engine_reported_them(
    metrics: GatewayMetrics,
) -> None:
    metrics(outcome(usage=Usage(prompt_tokens=10, completion_tokens=4, cached_tokens=8)))
    metrics(outcome(usage=Usage(prompt_tokens=5, completion_tokens=None, cached_tokens=None)))
    metrics(outcome(model="embed-b", key_id="team-b", usage=Usage(7, 0, None)))
    labels = {"key_id": "team-a", "model": "chat-a"}
    assert value(metrics, "gateway_prompt_tokens_total", **labels) == 15
    assert value(metrics, "gateway_completion_tokens_total", **labels) == 4
    assert value(metrics, "gateway_cached_prompt_tokens_total", **labels) == 8
    assert value(metrics, "gateway_prompt_tokens_total", key_id="team-b", model="embed-b") == 7


def test_latency_upstream_and_first_chunk_histograms_and_stream_ends(
    metrics: GatewayMetrics,
) -> None:
    metrics(outcome(upstream_s=0.03))
    metrics(outcome(stream_end="done", first_chunk_s=0.04, upstream_s=0.02))
    metrics(outcome(stream_end="client_gone", first_chunk_s=None, upstream_s=0.02))
    metrics(outcome(status=400, error=refusal("messages")))  # never reached an engine
    chat = {"endpoint": "chat.completions", "model": "chat-a"}
    duration = "gateway_request_duration_seconds_count"
    assert value(metrics, duration, **chat, stream="false") == 2
    assert value(metrics, duration, **chat, stream="true") == 2
    assert value(metrics, "gateway_upstream_duration_seconds_count", **chat) == 3
    assert value(metrics, "gateway_stream_first_chunk_seconds_count", **chat) == 1
    assert value(metrics, "gateway_stream_first_chunk_seconds_bucket", **chat, le="0.05") == 1
    assert value(metrics, "gateway_stream_first_chunk_seconds_bucket", **chat, le="0.025") == 0
    assert value(metrics, "gateway_stream_ends_total", **chat, end="done") == 1
    assert value(metrics, "gateway_stream_ends_total", **chat, end="client_gone") == 1


class StubUpstream:
    """What the health monitor asks of an Upstream: whether an engine answers."""

    def __init__(self, healthy: Mapping[str, bool]) -> None:
        self.answers = dict(healthy)

    async def healthy(self, base_url: str) -> bool:
        return self.answers[base_url]


def test_engine_gauge_follows_every_health_check(metrics: GatewayMetrics) -> None:
    stub = StubUpstream({"http://a/v1": True, "http://b/v1": False})
    engines = {"alpha": "http://a/v1", "beta": "http://b/v1"}
    monitor = HealthMonitor(cast(Upstream, stub), engines, interval_s=60)
    monitor.listen(metrics.engine_health)
    asyncio.run(monitor.check_once())
    assert value(metrics, "gateway_engine_serving", engine="alpha") == 1
    assert value(metrics, "gateway_engine_serving", engine="beta") == 0
    stub.answers["http://a/v1"] = False
    asyncio.run(monitor.check_once())
    assert value(metrics, "gateway_engine_serving", engine="alpha") == 0


def test_a_failing_health_listener_is_logged_and_the_checks_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(states: Mapping[str, bool]) -> None:
        raise RuntimeError("listener bug")

    monitor = HealthMonitor(cast(Upstream, StubUpstream({"http://a": True})), {"a": "http://a"}, 60)
    monitor.listen(broken)
    asyncio.run(monitor.check_once())
    assert monitor.serving == frozenset({"a"})
    assert "health listener" in caplog.text


def test_ledger_backlog_gauge_is_sampled_from_the_callable_it_was_given(
    metrics: GatewayMetrics,
) -> None:
    backlog = [3]
    metrics.ledger_backlog(lambda: backlog[0])

    async def run() -> list[float]:
        seen = []
        await metrics.start()  # samples at once, then every SAMPLE_INTERVAL_S
        seen.append(value(metrics, "gateway_ledger_backlog_records"))
        backlog[0] = 41
        await metrics.stop()  # samples a last time
        seen.append(value(metrics, "gateway_ledger_backlog_records"))
        return seen

    assert asyncio.run(run()) == [3, 41]


def test_a_failing_sampled_reader_is_logged_and_the_others_still_read(
    metrics: GatewayMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> float:
        raise RuntimeError("backlog unknown")

    metrics.sampled_gauge("gateway_broken_things", "A reader that fails.", broken, "livesum")
    metrics.ledger_backlog(lambda: 5)
    metrics.sample()
    assert value(metrics, "gateway_ledger_backlog_records") == 5
    assert "reading gateway_broken_things failed" in caplog.text


def test_metric_names_follow_prometheus_conventions(metrics: GatewayMetrics) -> None:
    metrics(outcome(stream_end="done", first_chunk_s=0.1, upstream_s=0.1, usage=Usage(1, 1, 1)))
    metrics(outcome(status=400, error=refusal("n")))
    metrics(outcome(status=429, error=RefusalInfo("tokens", None, "rate_limit_exceeded", "")))
    metrics.engine_health({"alpha": True})
    metrics.ledger_backlog(lambda: 0)
    metrics.sample()
    parsed = text_string_to_metric_families(_exposition(metrics))
    # In one process prometheus_client adds a `_created` gauge per counter and histogram.
    families = [f for f in parsed if not f.name.endswith("_created")]
    assert sorted(f.name for f in families) == [
        "gateway_cached_prompt_tokens",
        "gateway_completion_tokens",
        "gateway_engine_serving",
        "gateway_ledger_backlog_records",
        "gateway_prompt_tokens",
        "gateway_rate_limit_refusals",
        "gateway_request_duration_seconds",
        "gateway_requests",
        "gateway_stream_ends",
        "gateway_stream_first_chunk_seconds",
        "gateway_upstream_duration_seconds",
        "gateway_validation_refusals",
    ]
    for family in families:
        assert family.name.startswith("gateway_")
        if family.type == "counter":
            assert any(s.name == f"{family.name}_total" for s in family.samples)
        if family.type == "histogram":
            assert family.name.endswith("_seconds")


def _exposition(metrics: GatewayMetrics) -> str:
    return generate_latest(metrics.registry).decode()


# ---------------------------------------------------------------- configuration


def write_config(directory: Path, extra: Mapping[str, Any]) -> Path:
    import yaml

    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump({"catalog": "c.yaml", "keys": "k.yaml", **extra}))
    return path


def test_metrics_listen_on_loopback_9464_unless_configured(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {}), environ={})
    assert (config.metrics.host, config.metrics.port) == ("127.0.0.1", 9464)
    moved = load_config(write_config(tmp_path, {}), environ={"GATEWAY_METRICS_PORT": "9100"})
    assert moved.metrics.port == 9100


@pytest.mark.parametrize("switch", ["", "none", "off"])
def test_an_empty_or_none_metrics_port_switches_metrics_off(tmp_path: Path, switch: str) -> None:
    config = load_config(write_config(tmp_path, {}), environ={"GATEWAY_METRICS_PORT": switch})
    assert not config.metrics.enabled
    in_file = load_config(write_config(tmp_path, {"metrics": {"port": None}}), environ={})
    assert not in_file.metrics.enabled


@pytest.mark.parametrize(
    ("metrics", "fragment"),
    [
        ({"port": 8080}, "metrics.port must differ from port (8080)"),
        ({"port": 70000}, "metrics.port must be 1..65535 or null (off), got 70000"),
        ({"port": "x"}, "Expected `int | null`"),
        ({"bind": 1}, "unknown field `bind`"),
    ],
)
def test_a_bad_metrics_setting_stops_start_up_naming_it(
    tmp_path: Path, metrics: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(write_config(tmp_path, {"metrics": metrics}), environ={})
    assert fragment in str(refused.value)


def test_the_app_counts_into_metrics_unless_they_are_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GATEWAY_METRICS_PORT", raising=False)
    app = create_app(DEFAULT_CONFIG)
    metrics = app.state.metrics
    assert isinstance(metrics, GatewayMetrics)
    app.state.gateway.observers.notify(outcome(model="reference-chat"))  # as each request ends
    labels = {"endpoint": "chat.completions", "model": "reference-chat", "status": "200"}
    assert value(metrics, "gateway_requests_total", **labels) == 1
    monkeypatch.setenv("GATEWAY_METRICS_PORT", "")
    assert create_app(DEFAULT_CONFIG).state.metrics is None


# ---------------------------------------------------------------- multiprocess mode


def test_importing_the_entry_point_does_not_import_prometheus_client() -> None:
    """Multiprocess mode is chosen when prometheus_client is imported: gateway.serve sets
    PROMETHEUS_MULTIPROC_DIR first, so importing it must not import the library."""
    script = "import sys, gateway.serve; print('prometheus_client' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def test_processes_that_exited_are_found_by_their_live_gauge_files(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    dead_pid, live_pid = int(gone.stdout), os.getpid()
    for pid in (dead_pid, live_pid):
        (tmp_path / f"gauge_livemostrecent_{pid}.db").touch()
    (tmp_path / f"counter_{dead_pid}.db").touch()  # counters stay: not a live gauge
    assert exited_processes(tmp_path) == [dead_pid]


def test_a_batch_of_observations_exposes_exactly_what_one_observe_per_value_does() -> None:
    # Bounds themselves, values between them, below the first and past the last.
    values = [0.001, 0.005, 0.0051, 0.3, 0.5, 0.5, 7.0, 120, 300, 301, 1e6, 0.0]
    exposed = []
    for batched in (False, True):
        registry = CollectorRegistry()
        histogram = Histogram("h_seconds", "h", ("l",), registry=registry, buckets=DURATION_BUCKETS)
        child = histogram.labels("x")
        if batched:
            observe_all(child, values)
        else:
            for v in values:
                child.observe(v)
        exposed.append(
            [
                line
                for line in generate_latest(registry).decode().splitlines()
                if "_created" not in line
            ]
        )
    assert exposed[0] == exposed[1]


def test_outcomes_of_one_event_loop_turn_are_all_counted_by_its_end(
    metrics: GatewayMetrics,
) -> None:
    async def turn() -> None:
        for _ in range(4):
            metrics(outcome(upstream_s=0.02, usage=Usage(5, 2, None)))
        await asyncio.sleep(0)  # the turn ends: the queued outcomes are counted

    asyncio.run(turn())
    chat = {"endpoint": "chat.completions", "model": "chat-a"}
    assert value(metrics, "gateway_requests_total", **chat, status="200") == 4
    assert value(metrics, "gateway_upstream_duration_seconds_count", **chat) == 4
    assert value(metrics, "gateway_upstream_duration_seconds_bucket", **chat, le="0.025") == 4
    tokens = {"key_id": "team-a", "model": "chat-a"}
    assert value(metrics, "gateway_prompt_tokens_total", **tokens) == 20


def test_stopping_counts_what_is_still_queued(metrics: GatewayMetrics) -> None:
    chat = {"endpoint": "chat.completions", "model": "chat-a"}

    async def scenario() -> float:
        metrics(outcome())
        await metrics.stop()  # never started: nothing to await, so the turn has not ended
        return value(metrics, "gateway_requests_total", **chat, status="200")

    assert asyncio.run(scenario()) == 1
