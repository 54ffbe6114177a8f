"""`make serve`: the gateway on localhost with the embedded defaults.

Starts the bundled reference engine (the upstream of the example catalog) as a
child process, then the gateway under uvicorn; stopping the gateway stops the
engine. With GATEWAY_CONFIG pointing elsewhere, only the gateway starts
unless --with-reference-engine is given.

This is the production entry point too: it runs uvicorn with the gateway's
guarded protocol (header deadline, connection cap: gateway.http.guard), its
one log handler (gateway.logs), and a shutdown bounded by `timeouts.drain_s`
(gateway.http.drain). `--workers N` (N > 1) needs `redis_url`: in-memory limits
are per process and would admit N times each limit. Prometheus metrics, unless
`metrics.port` is null, are served by this process on their own port, summed
over the workers (gateway.ops.metrics.exposure).
"""

from __future__ import annotations

import argparse
import math
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from gateway.app import create_app
from gateway.config import DEFAULT_CONFIG, Config, config_path, load_config
from gateway.config_errors import ConfigError
from gateway.logs import dict_config
from gateway.ops.metrics import directory as metrics_dir

if TYPE_CHECKING:
    from gateway.ops.metrics.exposure import MetricsListener

LOCAL_KEY_HINT = "sk-local-dev-0000000000000000000000000000 (see config/keys.yaml)"


def _start_reference_engine(port: int) -> subprocess.Popen[bytes]:
    engine = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reference_engine",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return engine
        except OSError:
            time.sleep(0.1)
    engine.terminate()
    raise SystemExit(f"the reference engine did not start on port {port} within 20 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.serve")
    parser.add_argument("--with-reference-engine", action="store_true")
    parser.add_argument("--engine-port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    path = config_path()
    run_dir: Path | None = None
    try:
        config = load_config(path)
        _check_workers(config, path, args.workers)
        if config.metrics.enabled:  # before create_app imports prometheus_client
            run_dir = metrics_dir.fresh_multiprocess_dir()
        create_app(path)  # fail fast on a bad catalog or keys file, before anything starts
        listener = _start_metrics(config, path, run_dir)
    except ConfigError as error:
        if run_dir is not None:
            metrics_dir.remove_multiprocess_dir(run_dir)
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    embedded = Path(path).resolve() == DEFAULT_CONFIG.resolve()
    engine = (
        _start_reference_engine(args.engine_port)
        if embedded or args.with_reference_engine
        else None
    )
    key = LOCAL_KEY_HINT if embedded else "(from your keys file)"
    print(f"gateway on http://{config.host}:{config.port}/v1  key: {key}")
    # uvicorn re-raises SIGTERM once its shutdown is done; with the default handler the
    # process would die there and leave the reference engine running.
    signal.signal(signal.SIGTERM, _exit)
    try:
        uvicorn.run(
            "gateway.app:create_app",
            factory=True,
            host=config.host,
            port=config.port,
            workers=args.workers,
            loop="uvloop",
            http="gateway.http.guard:GuardedHttpToolsProtocol",
            access_log=False,
            # uvicorn's X-Forwarded-* rewrite of the client address and scheme: nothing here
            # reads the client address, and the public origin is the configuration's
            # (gateway.http.public_origin), so it was a layer per request for nothing.
            proxy_headers=False,
            log_config=dict_config(
                config.logging.level,
                config.logging.format,
                config.logging.access,
                config.logging.access_level,
            ),
            # The drain ends open work after drain_s; this is only the backstop.
            timeout_graceful_shutdown=math.ceil(config.timeouts.drain_s) + 2,
            # Connections over the cap are refused by the protocol; let the kernel queue
            # a burst of new ones meanwhile.
            backlog=2048,
        )
    finally:
        if listener is not None:
            listener.stop()
        if run_dir is not None:
            metrics_dir.remove_multiprocess_dir(run_dir)
        if engine is not None:
            engine.terminate()
            engine.wait(timeout=10)
    return 0


def _start_metrics(config: Config, path: Path, run_dir: Path | None) -> MetricsListener | None:
    """The one metrics listener of this run (None when off); a port it cannot bind is a
    configuration error, like the API's."""
    if run_dir is None or config.metrics.port is None:
        return None
    # Imported here: it imports prometheus_client, which must come after run_dir is set.
    from gateway.ops.metrics.exposure import MetricsListener

    where = f"{config.metrics.host}:{config.metrics.port}"
    listener = MetricsListener(config.metrics.host, config.metrics.port, run_dir)
    try:
        listener.start()
    except OSError as error:
        raise ConfigError(path, f"metrics listener on {where}: {error.strerror or error}") from None
    print(f"metrics on http://{where}/metrics")
    return listener


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _check_workers(config: Config, path: Path, workers: int) -> None:
    if workers < 1:
        raise ConfigError(path, f"--workers must be at least 1, got {workers}")
    if workers > 1 and not config.redis_url:
        raise ConfigError(
            path,
            f"--workers {workers} needs redis_url (GATEWAY_REDIS_URL): rate limits kept in "
            f"memory are per worker process and would admit {workers} times each limit",
        )


if __name__ == "__main__":
    sys.exit(main())
