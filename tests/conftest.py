"""Fixtures of the end-to-end tests: real processes on free loopback ports.

The e2e tests (`@pytest.mark.e2e`) start the bundled reference engine, the
gateway (`python -m gateway.serve`: uvicorn as deployed) and redis-server as
child processes, each on a free port and logging to a file under pytest's
tmp_path. Every start waits at most
`READY_TIMEOUT_S` and every process is terminated (then killed) in `finally`.
When a test fails, the tail of every running process's log is added to its
report.

The gateway runs with a test configuration written into a temporary directory:
its own catalog pointing at the engine fixtures (one model per capability mix,
one per failure-injection model name, one on a second engine that stalls
between streamed chunks, one on an engine port nothing listens on) and its own
keys file (the local development key plus small-limit keys).

Nothing here is imported by the test modules: everything they need is a fixture.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from gateway.http.auth import hash_key

REPO_ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 4000
# Between streamed chunks: long enough to disconnect mid-stream, short enough for speed.
ENGINE_STREAM_DELAY_S = 0.02
# How long the engine's ref-slow model waits (it stops early when the gateway gives up).
ENGINE_SLOW_S = 10.0

LOCAL_KEY = "sk-local-dev-0000000000000000000000000000"
TINY_KEY = "sk-e2e-tiny-1111111111111111111111111111"  # 1 request per minute
RETRY_KEY = "sk-e2e-retry-222222222222222222222222222"  # 40 rpm: one more every 1.5 s
SHARED_KEY = "sk-e2e-shared-33333333333333333333333333"  # 20 rpm, for the Redis test
TINY_RPM = 1
RETRY_RPM = 40
SHARED_RPM = 20

# Catalog model id -> (category, upstream model name, capabilities). Upstream names
# differ from the ids so that a forwarded `model` is visibly the catalog's mapping.
ENGINE_MODELS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "chat-full": ("text", "upstream-full", ("tool_use", "structured_output", "prompt_caching")),
    "chat-plain": ("text", "upstream-plain", ()),
    "vision-model": ("multimodal", "upstream-vision", ("vision",)),
    "embed-model": ("embeddings", "upstream-embed", ()),
    "fail-500": ("text", "ref-error-500", ()),
    "fail-400": ("text", "ref-error-400", ()),
    "fail-garbage": ("text", "ref-garbage", ()),
    "fail-slow": ("text", "ref-slow", ()),
    "fail-disconnect": ("text", "ref-disconnect", ()),
}
OFFLINE_MODEL = "offline-model"  # on an engine whose port nothing listens on
STALLING_MODEL = "chat-stalling"  # on an engine that waits STALL_S between streamed chunks
STALL_S = 5.0

StartGateway = Callable[[Mapping[str, str]], AbstractContextManager[str]]
StartRedis = Callable[[int], AbstractContextManager[str]]
StartServer = Callable[..., AbstractContextManager["Server"]]


@dataclass
class Server:
    """One child process: its name, base URL, process handle and log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError as error:
            return f"(log unreadable: {error})"


_RUNNING: list[Server] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed e2e test's report shows the logs of the processes it ran against."""
    report = yield
    if report.failed and item.get_closest_marker("e2e") is not None:
        for server in _RUNNING:
            report.sections.append((f"{server.name} log ({server.log})", server.log_tail()))
    return report


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers_http(url: str) -> bool:
    """Whether anything answers HTTP at `url` (any status: the server is up)."""
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return False
    return True


def answers_redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def child_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without GATEWAY_* settings, plus `overrides`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {**environment, **overrides}


@contextmanager
def running(
    name: str,
    command: Sequence[str],
    url: str,
    log: Path,
    ready: Callable[[], bool],
    environment: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Start `command`, wait until `ready()` (at most READY_TIMEOUT_S), always stop it."""
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            list(command),
            cwd=REPO_ROOT,
            env=child_environment(environment or {}),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, url, process, log)
    _RUNNING.append(server)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{name} not ready within {READY_TIMEOUT_S} s:\n{server.log_tail()}")
            time.sleep(0.05)
        yield server
    finally:
        _RUNNING.remove(server)
        stop(process)


def gateway_command(*args: str) -> list[str]:
    """The production entry point (uvicorn with the guarded protocol, logging, drain)."""
    return [sys.executable, "-m", "gateway.serve", *args]


def gateway_environment(config: Path, port: int, overrides: Mapping[str, str]) -> dict[str, str]:
    """Where the gateway listens comes from its configuration, like its public base URL."""
    listen = {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}
    return {"GATEWAY_CONFIG": str(config), **listen, **overrides}


def write_gateway_config(
    directory: Path, engine_url: str, stalling_url: str, offline_url: str
) -> Path:
    """gateway.yaml, catalog.yaml and keys.yaml for the e2e gateways; the config's path."""
    models = [
        {
            "id": model_id,
            "category": category,
            "engine": "reference",
            "upstream_model": upstream,
            "capabilities": list(capabilities),
        }
        for model_id, (category, upstream, capabilities) in ENGINE_MODELS.items()
    ]
    models += [
        {"id": OFFLINE_MODEL, "category": "text", "engine": "offline", "upstream_model": "gone"},
        {"id": STALLING_MODEL, "category": "text", "engine": "stalling", "upstream_model": "s"},
    ]
    catalog = {
        "engines": {
            "reference": {"base_url": f"{engine_url}/v1"},
            "stalling": {"base_url": f"{stalling_url}/v1"},
            "offline": {"base_url": f"{offline_url}/v1"},
        },
        "models": models,
    }
    keys = {
        "keys": [
            {"id": "local-dev", "sha256": hash_key(LOCAL_KEY)},
            {"id": "tiny", "sha256": hash_key(TINY_KEY), "requests_per_minute": TINY_RPM},
            {"id": "retry", "sha256": hash_key(RETRY_KEY), "requests_per_minute": RETRY_RPM},
            {"id": "shared", "sha256": hash_key(SHARED_KEY), "requests_per_minute": SHARED_RPM},
        ]
    }
    config = {
        "catalog": "catalog.yaml",
        "keys": "keys.yaml",
        "limits": {"requests_per_minute": 100_000, "tokens_per_minute": 100_000_000},
        "timeouts": {"connect_s": 1, "upstream_s": 30, "health_interval_s": 5},
        # Off: many test gateways run at once; the metrics tests give theirs a free port.
        "metrics": {"port": None},
    }
    (directory / "catalog.yaml").write_text(yaml.safe_dump(catalog, sort_keys=False))
    (directory / "keys.yaml").write_text(yaml.safe_dump(keys, sort_keys=False))
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---------------------------------------------------------------- fixtures: keys


@pytest.fixture(scope="session")
def local_key() -> str:
    return LOCAL_KEY


@pytest.fixture(scope="session")
def tiny_key() -> str:
    """A key allowed one request per minute: its second request is a 429."""
    return TINY_KEY


@pytest.fixture(scope="session")
def retry_key() -> tuple[str, int]:
    """A key and its requests per minute, small enough that a refusal waits about 1.5 s."""
    return RETRY_KEY, RETRY_RPM


@pytest.fixture(scope="session")
def shared_key() -> tuple[str, int]:
    """A key and its requests per minute, for the limit shared through Redis."""
    return SHARED_KEY, SHARED_RPM


@pytest.fixture(scope="session")
def catalog_models() -> dict[str, str]:
    """Catalog model id -> category, of every model the test catalog lists."""
    categories = {model_id: spec[0] for model_id, spec in ENGINE_MODELS.items()}
    return {**categories, OFFLINE_MODEL: "text", STALLING_MODEL: "text"}


# ---------------------------------------------------------------- fixtures: processes


@contextmanager
def reference_engine(
    name: str, stream_delay_s: float, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The bundled reference engine serving any model name; yields its base URL (no /v1)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *(sys.executable, "-m", "reference_engine", "--host", "127.0.0.1"),
        *("--port", str(port), "--stream-delay", str(stream_delay_s)),
        *("--slow", str(ENGINE_SLOW_S)),
    ]
    log = tmp_path_factory.mktemp("engine") / "engine.log"
    with running(name, command, url, log, lambda: answers_http(f"{url}/health")):
        yield url


@pytest.fixture(scope="session")
def e2e_engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The engine of every catalog model but two: 20 ms between streamed chunks."""
    with reference_engine("reference engine", ENGINE_STREAM_DELAY_S, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
def stalling_engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The engine of STALLING_MODEL: STALL_S between streamed chunks."""
    with reference_engine("stalling engine", STALL_S, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
def gateway_config(
    tmp_path_factory: pytest.TempPathFactory, e2e_engine_url: str, stalling_engine_url: str
) -> Path:
    offline_url = f"http://127.0.0.1:{free_port()}"  # bound then released: nothing listens
    directory = tmp_path_factory.mktemp("config")
    return write_gateway_config(directory, e2e_engine_url, stalling_engine_url, offline_url)


@pytest.fixture(scope="session")
def start_gateway_server(
    tmp_path_factory: pytest.TempPathFactory, gateway_config: Path
) -> StartServer:
    """Start another gateway on the test config, with GATEWAY_* overrides (and arguments of
    `gateway.serve`); yields its Server (URL, process, log), to signal it or read its log."""

    @contextmanager
    def start(overrides: Mapping[str, str], *args: str) -> Iterator[Server]:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = tmp_path_factory.mktemp("gateway") / "gateway.log"
        environment = gateway_environment(gateway_config, port, overrides)
        ready = lambda: answers_http(f"{url}/v1/models")  # noqa: E731 - a 401 means up
        command = gateway_command(*args)
        with running(f"gateway :{port}", command, url, log, ready, environment) as server:
            yield server

    return start


@pytest.fixture(scope="session")
def start_gateway(start_gateway_server: StartServer) -> StartGateway:
    """Start another gateway on the test config, with GATEWAY_* overrides; yields its URL."""

    @contextmanager
    def start(overrides: Mapping[str, str]) -> Iterator[str]:
        with start_gateway_server(overrides) as server:
            yield server.url

    return start


@pytest.fixture(scope="session")
def _gateway(tmp_path_factory: pytest.TempPathFactory, gateway_config: Path) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("gateway") / "gateway.log"
    environment = gateway_environment(gateway_config, port, {})
    ready = lambda: answers_http(f"{url}/v1/models")  # noqa: E731 - a 401 means up
    with running("gateway", gateway_command(), url, log, ready, environment) as server:
        yield server


@pytest.fixture(scope="session")
def gateway_url(_gateway: Server) -> str:
    """The base URL (no /v1) of the session's gateway, with the test config as is."""
    return _gateway.url


@pytest.fixture(scope="session")
def gateway_process(_gateway: Server) -> subprocess.Popen[bytes]:
    return _gateway.process


@dataclass
class ObservedGateway:
    """tests/observed_gateway.py running: its Server and the file its observer writes."""

    server: Server
    record: Path


@pytest.fixture(scope="module")
def observed_gateway(
    tmp_path_factory: pytest.TempPathFactory, gateway_config: Path
) -> Iterator[ObservedGateway]:
    """A gateway process on the test config whose observer appends each outcome as JSON."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    directory = tmp_path_factory.mktemp("observed")
    record = directory / "outcomes.jsonl"
    record.touch()
    command = [sys.executable, "tests/observed_gateway.py", str(gateway_config), str(port)]
    ready = lambda: answers_http(f"{url}/v1/models")  # noqa: E731 - a 401 means up
    log = directory / "gateway.log"
    with running("observed gateway", [*command, str(record)], url, log, ready) as server:
        yield ObservedGateway(server, record)


@pytest.fixture
def gateway_client(gateway_url: str) -> Iterator[openai.OpenAI]:
    """The official client, changed only in base_url and api_key."""
    with openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=LOCAL_KEY) as client:
        yield client


@pytest.fixture(scope="session")
def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server not installed (Debian package: redis-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def start_redis_server(
    tmp_path_factory: pytest.TempPathFactory, redis_server_binary: str
) -> Callable[[int], AbstractContextManager[Server]]:
    """Start a throw-away redis-server (no persistence) on `port`; yields its Server
    (`url` is its redis:// URL), for tests that pause it with SIGSTOP."""

    @contextmanager
    def start(port: int) -> Iterator[Server]:
        command = [
            *(redis_server_binary, "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no"),
        ]
        log = tmp_path_factory.mktemp("redis") / "redis.log"
        url = f"redis://127.0.0.1:{port}/0"
        with running(f"redis :{port}", command, url, log, lambda: answers_redis_ping(port)) as s:
            yield s

    return start


@pytest.fixture(scope="session")
def start_redis(start_redis_server: Callable[[int], AbstractContextManager[Server]]) -> StartRedis:
    """Start a throw-away redis-server (no persistence) on `port`; yields its redis:// URL."""

    @contextmanager
    def start(port: int) -> Iterator[str]:
        with start_redis_server(port) as server:
            yield server.url

    return start


@pytest.fixture(scope="session")
def unused_port() -> Callable[[], int]:
    """A loopback port that was free a moment ago."""
    return free_port


# ---------------------------------------------------------------- fixtures: PostgreSQL

POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


@dataclass
class Postgres:
    """A throw-away PostgreSQL cluster on a loopback port (trust auth), which a test may
    stop and start again on the same port and data directory."""

    port: int
    data: Path
    bin: Path
    log: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        wait = ("-w", "-t", str(int(READY_TIMEOUT_S)))
        self._ctl("start", *wait, "-l", str(self.log), "-o", options)

    def stop(self) -> None:
        self._ctl("stop", "-w", "-m", "fast", "-t", str(int(STOP_TIMEOUT_S)))

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        run_as_postgres(command, timeout=READY_TIMEOUT_S + STOP_TIMEOUT_S)


def run_as_postgres(command: Sequence[str], timeout: float) -> None:
    """PostgreSQL refuses to run as root: as root, run it as the postgres user."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, timeout=timeout, capture_output=True)


def postgres_bin() -> Path | None:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(Path(p) for p in glob.glob(POSTGRES_BIN_GLOB) if Path(p, "initdb").exists())
    return max(found, key=lambda p: int(p.parent.name), default=None) if found else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One cluster for the session, in a temporary directory owned by postgres (pytest's
    tmp_path is not readable by that user); removed afterwards."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        message = "PostgreSQL not installed (Debian package: postgresql)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        data = root / "data"
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        run_as_postgres([*initdb, "--no-sync", "-E", "UTF8"], timeout=60)
        server = Postgres(free_port(), data, bin_dir, root / "postgres.log")
        server.start()
        try:
            yield server
        finally:
            if server.running():
                server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_database(postgres: Postgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database of the session's cluster for one test; its URL."""
    import psycopg

    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres.url(name)
    if not postgres.running():
        postgres.start()
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
