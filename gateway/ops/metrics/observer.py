"""Prometheus metrics of the gateway, counted from each request's outcome (gateway.observe).

`GatewayMetrics` is an observer: it runs on the event loop once per answered
request, so it only increments label children it has cached. Every label value
is bounded by the configuration, never by what a client sends: `model` is a
catalog id or `""`, `key_id` a keys-file id or `""`, `param` a place of the
endpoint's schema (gateway.ops.metrics.labels). Engine health comes from the
health monitor's checks; other gauges (the ledger's backlog) are sampled from a
callable every `SAMPLE_INTERVAL_S`, since multiprocess mode cannot read a
gauge's function at scrape time.

Under `python -m gateway.serve` each worker writes its values to files of
prometheus_client's multiprocess mode; one listener reads them all
(gateway.ops.metrics.exposure). The metric names and labels are in the README.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway.observe import RequestOutcome, Usage
from gateway.ops.metrics import pid
from gateway.ops.metrics.labels import ParamLabels
from generated.validators import BY_ENDPOINT

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 1.0
UNRESOLVED = ""  # the label of a model or key the request never got to (or not configured)
LIMIT_KINDS = frozenset(("requests", "tokens"))  # a 429's error type names the limit

# LLM answers take seconds to minutes: the default buckets stop at 10 s.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
FIRST_CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

GaugeMode = Literal["livesum", "livemax", "livemin", "livemostrecent"]


pid.install()  # as prometheus_client is first used: no metric of this process exists yet


def gateway_metrics(models: Iterable[str], keys: Iterable[str]) -> GatewayMetrics:
    """The metrics of a gateway serving `models` (catalog ids) to `keys` (key ids), its
    refusals' params placed in the generated validators' schemas."""
    params = ParamLabels({endpoint: v.schema for endpoint, v in BY_ENDPOINT.items()})
    return GatewayMetrics(models, keys, params)


class _Children(dict[tuple[Any, ...], Any]):
    """A metric's label children by label values, made once: `labels()` costs a lock and
    a string conversion per call, a dict hit does not (an int status is its own key)."""

    def __init__(self, metric: Counter | Histogram) -> None:
        super().__init__()
        self._metric = metric

    def __missing__(self, values: tuple[Any, ...]) -> Any:
        child = self[values] = self._metric.labels(*values)
        return child


class _Batch:
    """One event-loop turn's counts, written with one locked write per child and bucket."""

    def __init__(self) -> None:
        self.counts: dict[Any, float] = {}
        self.observations: dict[Any, list[float]] = {}

    def inc(self, child: Any, amount: float = 1) -> None:
        self.counts[child] = self.counts.get(child, 0) + amount

    def observe(self, child: Any, value: float) -> None:
        self.observations.setdefault(child, []).append(value)

    def write(self) -> None:
        for counter, amount in self.counts.items():
            counter.inc(amount)
        for histogram, values in self.observations.items():
            observe_all(histogram, values)


def observe_all(histogram: Any, values: list[float]) -> None:
    """`histogram.observe(v)` for each of `values`, with one write per bucket touched.

    prometheus_client has no batch observe; this writes its child's `_sum` and
    `_buckets` (as its `observe` does, a value falls in the first bucket whose
    upper bound is >= it). tests/test_metrics.py pins that the exposition is
    the same as one `observe` per value, for the pinned release.
    """
    if len(values) == 1:
        histogram.observe(values[0])
        return
    per_bucket: dict[int, int] = {}
    for value in values:
        index = bisect.bisect_left(histogram._upper_bounds, value)
        per_bucket[index] = per_bucket.get(index, 0) + 1
    histogram._sum.inc(sum(values))
    for index, count in per_bucket.items():
        histogram._buckets[index].inc(count)


class GatewayMetrics:
    """The gateway's metrics on `registry`, and the observer that counts them."""

    def __init__(
        self,
        models: Iterable[str],
        keys: Iterable[str],
        params: ParamLabels,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._models = frozenset(models)
        self._keys = frozenset(keys)
        self._params = params
        self._sampled: list[tuple[str, Gauge, Callable[[], float]]] = []
        self._task: asyncio.Task[None] | None = None
        self._define(self.registry)

    def _define(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...]) -> _Children:
            return _Children(Counter(name, doc, labels, registry=registry))

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: Any) -> _Children:
            return _Children(Histogram(name, doc, labels, registry=registry, buckets=buckets))

        self.requests = counter(
            "gateway_requests_total",
            "Answered requests of the matrix's endpoints.",
            ("endpoint", "model", "status"),
        )
        self.validation_refusals = counter(
            "gateway_validation_refusals_total",
            "400 invalid_request_error answers, by the param they named (indices as []).",
            ("endpoint", "param"),
        )
        self.rate_limit_refusals = counter(
            "gateway_rate_limit_refusals_total",
            "429 answers of the per-key limits, by the limit that refused.",
            ("key_id", "limit"),
        )
        self.stream_ends = counter(
            "gateway_stream_ends_total",
            "Streams by how they ended.",
            ("endpoint", "model", "end"),
        )
        self.prompt_tokens = counter(
            "gateway_prompt_tokens_total",
            "Prompt tokens as the engines reported them.",
            ("key_id", "model"),
        )
        self.completion_tokens = counter(
            "gateway_completion_tokens_total",
            "Completion tokens as the engines reported them.",
            ("key_id", "model"),
        )
        self.cached_tokens = counter(
            "gateway_cached_prompt_tokens_total",
            "Prompt tokens the engines served from cache (part of the prompt tokens).",
            ("key_id", "model"),
        )
        self.duration = histogram(
            "gateway_request_duration_seconds",
            "From a request's arrival to its answer (a stream: to its end).",
            ("endpoint", "model", "stream"),
            DURATION_BUCKETS,
        )
        self.upstream = histogram(
            "gateway_upstream_duration_seconds",
            "Waiting for the engine: its whole answer, or a stream's response headers.",
            ("endpoint", "model"),
            DURATION_BUCKETS,
        )
        self.first_chunk = histogram(
            "gateway_stream_first_chunk_seconds",
            "From a stream's arrival to its first chunk sent (time to first token).",
            ("endpoint", "model"),
            FIRST_CHUNK_BUCKETS,
        )
        # The latest check of any worker says whether an engine is serving.
        self.engine_serving = Gauge(
            "gateway_engine_serving",
            "1 when the engine passed its latest health check, else 0.",
            ("engine",),
            registry=registry,
            multiprocess_mode="livemostrecent",
        )

    # ------------------------------------------------------------ the observer

    def __call__(self, outcome: RequestOutcome, /) -> None:
        self.observe_batch((outcome,))

    def observe_batch(self, outcomes: Sequence[RequestOutcome], /) -> None:
        """Counts one event-loop turn's outcomes (gateway.observe.Observers) together.

        One locked write per label child and bucket instead of one per outcome and
        value (multiprocess mode writes each to its file); a scrape never sees a
        turn half counted.
        """
        batch = _Batch()
        for outcome in outcomes:
            self._count(outcome, batch)
        batch.write()

    def _count(self, outcome: RequestOutcome, batch: _Batch) -> None:
        endpoint = outcome.endpoint
        model = outcome.model if outcome.model in self._models else UNRESOLVED
        batch.inc(self.requests[endpoint, model, outcome.status])
        stream = "true" if outcome.stream else "false"
        batch.observe(self.duration[endpoint, model, stream], outcome.latency_s)
        if outcome.upstream_s is not None:
            batch.observe(self.upstream[endpoint, model], outcome.upstream_s)
        if outcome.first_chunk_s is not None:
            batch.observe(self.first_chunk[endpoint, model], outcome.first_chunk_s)
        if outcome.stream_end is not None:
            batch.inc(self.stream_ends[endpoint, model, outcome.stream_end])
        key = outcome.key_id if outcome.key_id in self._keys else UNRESOLVED
        if outcome.usage is not None:
            self._count_tokens(key, model, outcome.usage, batch)
        if outcome.error is not None and outcome.status in (400, 429):
            self._count_refusal(outcome, key, batch)

    def _count_tokens(self, key: str, model: str, usage: Usage, batch: _Batch) -> None:
        if usage.prompt_tokens:
            batch.inc(self.prompt_tokens[key, model], usage.prompt_tokens)
        if usage.completion_tokens:
            batch.inc(self.completion_tokens[key, model], usage.completion_tokens)
        if usage.cached_tokens:
            batch.inc(self.cached_tokens[key, model], usage.cached_tokens)

    def _count_refusal(self, outcome: RequestOutcome, key: str, batch: _Batch) -> None:
        error = outcome.error
        assert error is not None
        if outcome.status == 400 and error.type == "invalid_request_error":
            param = self._params.label(outcome.endpoint, error.param)
            batch.inc(self.validation_refusals[outcome.endpoint, param])
        elif outcome.status == 429 and error.code == "rate_limit_exceeded":
            limit = error.type if error.type in LIMIT_KINDS else "other"
            batch.inc(self.rate_limit_refusals[key, limit])

    # ------------------------------------------------------------ gauges

    def engine_health(self, states: Mapping[str, bool]) -> None:
        """A health listener (gateway.upstream.health): each engine's latest check."""
        for engine, serving in states.items():
            self.engine_serving.labels(engine).set(1 if serving else 0)

    def sampled_gauge(
        self, name: str, documentation: str, read: Callable[[], float], mode: GaugeMode
    ) -> Gauge:
        """A gauge set from `read()` every SAMPLE_INTERVAL_S; `mode` says how the workers'
        values combine (e.g. `livesum` for a per-process backlog)."""
        gauge = Gauge(name, documentation, registry=self.registry, multiprocess_mode=mode)
        self._sampled.append((name, gauge, read))
        return gauge

    def ledger_backlog(self, backlog: Callable[[], int]) -> Gauge:
        """The usage ledger's records not yet written, summed over the workers."""
        return self.sampled_gauge(
            "gateway_ledger_backlog_records",
            "Usage records accepted but not yet written to the ledger's database.",
            backlog,
            "livesum",
        )

    def ledger_losses(self, spilled: Callable[[], int], dropped: Callable[[], int]) -> None:
        """The ledger's rows spooled to disk and lost since each worker started, summed."""
        self.sampled_gauge(
            "gateway_ledger_spilled_records",
            "Usage records the ledger spooled to its local file (database down or memory full).",
            spilled,
            "livesum",
        )
        self.sampled_gauge(
            "gateway_ledger_dropped_records",
            "Usage records lost: the ledger's spool file was full or not writable.",
            dropped,
            "livesum",
        )

    def sample(self) -> None:
        """Reads every sampled gauge once; a failing reader is logged, the others still read."""
        for name, gauge, read in self._sampled:
            try:
                gauge.set(read())
            except Exception:
                log.exception("metrics: reading %s failed", name)

    async def start(self) -> None:
        self.sample()
        self._task = asyncio.create_task(self._sample_forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()  # the last values, as the process stops

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_INTERVAL_S)
            self.sample()
