"""The gateway's configuration: one YAML file, then environment overrides.

A bad file or value stops start-up with the file name and what is wrong
(`ConfigError`), never a traceback from deep inside the app.

Environment overrides (each wins over the file):
  GATEWAY_CONFIG            path of the YAML file (default: config/gateway.yaml)
  GATEWAY_HOST, GATEWAY_PORT
  GATEWAY_CATALOG, GATEWAY_KEYS      paths of the model catalog and keys files
  GATEWAY_REDIS_URL         redis://host:port/db; unset or empty = in-memory limits
  GATEWAY_CORS_ALLOW_ORIGINS  comma-separated browser origins (default: none)
  GATEWAY_DOC_BASE_URL      where the compatibility page is published
  GATEWAY_MAX_BODY_BYTES    larger request bodies get a 413 (default 32 MiB)
  GATEWAY_RPM, GATEWAY_TPM  default per-key limits
  GATEWAY_UPSTREAM_TIMEOUT_S  longest wait for an engine's whole answer; for a stream, for
                            its start and then for each next chunk (not the whole stream)
  GATEWAY_CONNECT_TIMEOUT_S, GATEWAY_HEALTH_INTERVAL_S
  GATEWAY_PUBLIC_BASE_URL   this gateway's address as clients reach it (default http://host:port);
                            every absolute URL it answers is built from it, never from `Host`
  GATEWAY_HEADER_TIMEOUT_S  a client must send its request line and headers within this (10 s)
  GATEWAY_BODY_TIMEOUT_S    ... and its whole body within this (30 s); else a 408
  GATEWAY_DRAIN_S           on SIGTERM, how long open requests may finish (10 s) before each
                            open stream is ended with an error event
  GATEWAY_REDIS_TIMEOUT_S   the longest a rate-limit check may wait for Redis (0.5 s), then 503
  GATEWAY_MAX_CONNECTIONS   open client connections per process; more are answered 503 (1000)
  GATEWAY_MAX_INFLIGHT_BODY_BYTES  request bodies held at once per process; past it a 503 (128 MiB)
  GATEWAY_LOG_LEVEL, GATEWAY_LOG_FORMAT  the one log handler's level and format
  GATEWAY_ACCESS_LOG        json (one JSON line per request on stderr, the default) or off
  GATEWAY_ACCESS_LOG_LEVEL  the access log's own level (info; warning or above silences it)
  GATEWAY_METRICS_HOST, GATEWAY_METRICS_PORT  where Prometheus metrics are served, on a port
                            of their own (default 127.0.0.1:9464); an empty port (or `none`,
                            `off`) switches them off
  GATEWAY_LEDGER_URL        the usage ledger: sqlite:///file (relative to this file's directory)
                            or postgresql://...; empty = no ledger (gateway.ops.ledger.url)
  GATEWAY_LEDGER_SPOOL      the ledger's spill file when the database is down and memory full
                            (default: <sqlite file>.spool.jsonl, or var/ledger-spool.jsonl)
  GATEWAY_LEDGER_BUFFER_RECORDS, GATEWAY_LEDGER_FLUSH_INTERVAL_S, GATEWAY_LEDGER_SHUTDOWN_S
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from gateway.config_errors import ConfigError, read_yaml
from gateway.ops.ledger.url import parse_ledger_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "gateway.yaml"
DOCS_PATH = "/docs/compatibility"  # where the gateway serves its copy of the page


class Limits(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    requests_per_minute: int = 600
    tokens_per_minute: int = 1_000_000


class Timeouts(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    connect_s: float = 2.0
    upstream_s: float = 120.0
    health_interval_s: float = 5.0
    header_read_s: float = 10.0
    body_read_s: float = 30.0
    # Well under Kubernetes' default 30 s grace period, so the error events go out before SIGKILL.
    drain_s: float = 10.0
    redis_s: float = 0.5


class Logging(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    level: str = "info"
    format: str = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    access: Literal["json", "off"] = "json"  # the access log (gateway.ops.access_log)
    access_level: str = "info"


class Metrics(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Prometheus metrics, on a listener of their own: never on the API's port."""

    host: str = "127.0.0.1"  # loopback: scraped by a local agent, not reachable by API clients
    port: int | None = 9464  # None switches metrics off

    @property
    def enabled(self) -> bool:
        return self.port is not None


class Ledger(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The usage ledger writer's bounds (gateway.ops.ledger.writer says what happens past each)."""

    buffer_records: int = 100_000  # rows held in memory while the database is down
    batch_records: int = 500  # rows per insert transaction
    flush_interval_s: float = 0.5  # a partial batch waits at most this long
    shutdown_s: float = 5.0  # at shutdown, time to write what is queued; the rest is spooled
    spool_max_bytes: int = 1024**3  # the spill file's bound; past it rows are dropped (logged)


class Config(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    catalog: str
    keys: str
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    cors_allow_origins: list[str] = []
    doc_base_url: str | None = None
    public_base_url: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    max_inflight_body_bytes: int = 128 * 1024 * 1024
    max_connections: int = 1000
    limits: Limits = Limits()
    timeouts: Timeouts = Timeouts()
    logging: Logging = Logging()
    metrics: Metrics = Metrics()
    ledger_url: str | None = "sqlite:///var/usage.sqlite3"  # None: no ledger
    ledger_spool: str | None = None  # None: beside the SQLite file, or var/ for PostgreSQL
    ledger: Ledger = Ledger()

    @property
    def base_url(self) -> str:
        """Where clients reach this gateway: configured, else its own host and port."""
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def docs_url(self) -> str:
        """Where every `doc_url` points: the published page, else this gateway's copy."""
        return self.doc_base_url or f"{self.base_url}{DOCS_PATH}"

    def path(self, relative: str, base: Path) -> Path:
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else base / candidate


_ENV: dict[str, tuple[str, ...]] = {
    "GATEWAY_HOST": ("host",),
    "GATEWAY_PORT": ("port",),
    "GATEWAY_CATALOG": ("catalog",),
    "GATEWAY_KEYS": ("keys",),
    "GATEWAY_REDIS_URL": ("redis_url",),
    "GATEWAY_CORS_ALLOW_ORIGINS": ("cors_allow_origins",),
    "GATEWAY_DOC_BASE_URL": ("doc_base_url",),
    "GATEWAY_MAX_BODY_BYTES": ("max_body_bytes",),
    "GATEWAY_RPM": ("limits", "requests_per_minute"),
    "GATEWAY_TPM": ("limits", "tokens_per_minute"),
    "GATEWAY_UPSTREAM_TIMEOUT_S": ("timeouts", "upstream_s"),
    "GATEWAY_CONNECT_TIMEOUT_S": ("timeouts", "connect_s"),
    "GATEWAY_HEALTH_INTERVAL_S": ("timeouts", "health_interval_s"),
    "GATEWAY_PUBLIC_BASE_URL": ("public_base_url",),
    "GATEWAY_HEADER_TIMEOUT_S": ("timeouts", "header_read_s"),
    "GATEWAY_BODY_TIMEOUT_S": ("timeouts", "body_read_s"),
    "GATEWAY_DRAIN_S": ("timeouts", "drain_s"),
    "GATEWAY_REDIS_TIMEOUT_S": ("timeouts", "redis_s"),
    "GATEWAY_MAX_CONNECTIONS": ("max_connections",),
    "GATEWAY_MAX_INFLIGHT_BODY_BYTES": ("max_inflight_body_bytes",),
    "GATEWAY_LOG_LEVEL": ("logging", "level"),
    "GATEWAY_LOG_FORMAT": ("logging", "format"),
    "GATEWAY_ACCESS_LOG": ("logging", "access"),
    "GATEWAY_ACCESS_LOG_LEVEL": ("logging", "access_level"),
    "GATEWAY_METRICS_HOST": ("metrics", "host"),
    "GATEWAY_METRICS_PORT": ("metrics", "port"),
    "GATEWAY_LEDGER_URL": ("ledger_url",),
    "GATEWAY_LEDGER_SPOOL": ("ledger_spool",),
    "GATEWAY_LEDGER_BUFFER_RECORDS": ("ledger", "buffer_records"),
    "GATEWAY_LEDGER_FLUSH_INTERVAL_S": ("ledger", "flush_interval_s"),
    "GATEWAY_LEDGER_SHUTDOWN_S": ("ledger", "shutdown_s"),
}

_SWITCHED_OFF = ("", "none", "null", "off")


def config_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("GATEWAY_CONFIG") or DEFAULT_CONFIG)


def load_config(path: Path, environ: Mapping[str, str] = os.environ) -> Config:
    """The file's settings with the environment's overrides applied, checked."""
    data = _read_yaml(path)
    for variable, where in _ENV.items():
        if variable in environ:
            _override(data, where, _env_value(variable, environ[variable]))
    try:
        config = msgspec.convert(data, Config, strict=False)
    except msgspec.ValidationError as error:
        raise ConfigError(path, f"{error} (after environment overrides)") from None
    _check(config, path)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml(path, "configuration file")
    if not isinstance(data, dict):
        raise ConfigError(path, "expected a mapping of settings at the top level")
    return data


def _env_value(variable: str, raw: str) -> Any:
    if variable == "GATEWAY_CORS_ALLOW_ORIGINS":
        return [origin.strip() for origin in raw.split(",") if origin.strip()]
    if variable in ("GATEWAY_REDIS_URL", "GATEWAY_LEDGER_URL") and not raw.strip():
        return None
    if variable == "GATEWAY_METRICS_PORT" and raw.strip().lower() in _SWITCHED_OFF:
        return None
    return raw


def _override(data: dict[str, Any], where: tuple[str, ...], value: Any) -> None:
    target = data
    for key in where[:-1]:
        target = target.setdefault(key, {})
    target[where[-1]] = value


def _check(config: Config, path: Path) -> None:
    if not 0 < config.port < 65536:
        raise ConfigError(path, f"port must be 1..65535, got {config.port}")
    if config.max_body_bytes < 1:
        raise ConfigError(path, "max_body_bytes must be positive")
    if config.max_inflight_body_bytes < config.max_body_bytes:
        raise ConfigError(path, "max_inflight_body_bytes must be at least max_body_bytes")
    if config.max_connections < 1:
        raise ConfigError(path, "max_connections must be positive")
    _check_timeouts(config.timeouts, path)
    _check_metrics(config, path)
    _check_ledger(config, path)
    for name in ("level", "access_level"):
        if getattr(config.logging, name).upper() not in _LOG_LEVELS:
            levels = ", ".join(_LOG_LEVELS).lower()
            raise ConfigError(path, f"logging.{name} must be one of {levels}")
    try:
        logging.Formatter(config.logging.format)  # checks the %-style fields
    except ValueError as error:
        raise ConfigError(path, f"logging.format: {error}") from None
    urls = {"public_base_url": config.public_base_url, "doc_base_url": config.doc_base_url}
    for name, url in urls.items():
        if url is not None and not url.startswith(("http://", "https://")):
            raise ConfigError(path, f"{name} must be an absolute http(s) URL, got {url!r}")
    if config.limits.requests_per_minute < 1 or config.limits.tokens_per_minute < 1:
        raise ConfigError(path, "limits must be positive")
    if "*" in config.cors_allow_origins:
        raise ConfigError(path, "cors_allow_origins must list origins; '*' is not allowed")
    if config.redis_url is not None and not config.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError(
            path,
            f"redis_url must start with redis://, rediss:// or unix://, got {config.redis_url!r}",
        )


def _check_ledger(config: Config, path: Path) -> None:
    if config.ledger_url is not None:
        try:
            parse_ledger_url(config.ledger_url, path.parent)
        except ValueError as error:
            raise ConfigError(path, str(error)) from None
    for name in Ledger.__struct_fields__:
        if getattr(config.ledger, name) <= 0:
            raise ConfigError(path, f"ledger.{name} must be positive")


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check_metrics(config: Config, path: Path) -> None:
    port = config.metrics.port
    if port is None:
        return
    if not 0 < port < 65536:
        raise ConfigError(path, f"metrics.port must be 1..65535 or null (off), got {port}")
    if port == config.port:
        raise ConfigError(
            path,
            f"metrics.port must differ from port ({port}): metrics are never served to API clients",
        )
    if not config.metrics.host.strip():
        raise ConfigError(path, "metrics.host must name an interface, e.g. 127.0.0.1")


def _check_timeouts(timeouts: Timeouts, path: Path) -> None:
    for name in Timeouts.__struct_fields__:
        if getattr(timeouts, name) <= 0:
            raise ConfigError(path, f"timeouts.{name} must be positive")
