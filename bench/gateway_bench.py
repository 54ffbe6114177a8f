"""Benchmark: what the gateway adds in front of an engine, against the engine alone.

Run as `python bench/gateway_bench.py` (or `make bench-gateway`); add
`--markdown` to print the table as Markdown for the README. This is a
benchmark, not a test: it exits 0 whether or not the targets are met, and
non-zero only when it could not measure (a server did not start, a request
failed, the load generator reported errors).

Two targets are measured side by side in one run, on loopback:

  mock alone      the bundled reference engine, `python -m reference_engine`
                  (a Starlette app under uvicorn + uvloop + httptools)
  gateway + mock  `python -m gateway.serve`, as deployed (uvicorn, uvloop, the
                  guarded httptools protocol, one worker, no access log) whose
                  catalog points at that same mock; rate limits set high enough
                  never to throttle

Each gets the same small non-streaming POST /v1/chat/completions (same body,
same `Authorization` header; the engine ignores the header) from the same
load generators, in processes of their own:

  latency     1 connection, a sequential keep-alive client (this process, raw
              socket, garbage collector off): `--warmup` requests, then
              `--requests` timed one by one with `time.perf_counter_ns`,
              send to last byte of the body. Median and p99 (nearest rank).
  throughput  `--connections` concurrent keep-alive connections for
              `--duration` seconds after a 1 s warm-up; requests/s. The load
              generator is `wrk` (Debian's `apt-get install wrk`; one thread,
              a Lua script sets the body and headers) when it is on PATH,
              else an asyncio + uvloop raw-HTTP client in a separate process.
              Any socket error or non-200 answer aborts the benchmark. The
              CPU time the target's processes (the mock; the gateway and
              its ledger writer process, without the mock) spent per
              request is read from /proc.

Method: both servers run the whole time; rounds alternate which target goes
first (mock, gateway / gateway, mock / ...), so machine noise hits both alike.
Reported values are medians over rounds; the added latency and the throughput
share are medians of the per-round paired values (gateway minus mock, gateway
over mock). Before timing, each target must answer 200 with a completion, and
the gateway's answer must carry its own usage fields (proof it was not
bypassed).

The targets (issue 11): added median latency <= 0.3 ms (the ratio to the
mock's own latency is printed too); gateway throughput at 32 connections >=
50% of the mock alone, i.e. the gateway's CPU per request <= 2x the mock's
(that ratio is printed too: on a shared machine it moves less than the
throughput does). On a small machine the load generator,
the gateway and the mock share the same cores (the output says how many), so
the gateway's throughput share is also bounded by the mock's CPU use that it
must leave room for.

Everything is bounded: server start-up, each latency run and each load run
have time limits; both servers are stopped on the way out (SIGTERM included),
and on Linux they also get SIGTERM should this process be killed outright.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final, cast

ROOT: Final = Path(__file__).resolve().parent.parent
HOST: Final = "127.0.0.1"
PATH: Final = "/v1/chat/completions"
API_KEY: Final = "sk-local-dev-0000000000000000000000000000"
MODEL: Final = "reference-chat"

TARGET_ADDED_MEDIAN_MS: Final = 0.3
TARGET_THROUGHPUT_SHARE: Final = 0.50
TARGET_CPU_RATIO: Final = 2.0

MOCK: Final = "mock alone"
GATEWAY: Final = "gateway + mock"

STARTUP_TIMEOUT_S: Final = 30.0
REQUEST_TIMEOUT_S: Final = 5.0
LATENCY_RUN_TIMEOUT_S: Final = 120.0
THROUGHPUT_WARMUP_S: Final = 1.0
STOP_TIMEOUT_S: Final = 5.0
MAX_HEADER_BYTES: Final = 64 * 1024
PR_SET_PDEATHSIG: Final = 1  # prctl(2)

BODY: Final = json.dumps(
    {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Say hello to the gateway benchmark in a few words."},
        ],
        "max_tokens": 16,
    },
    separators=(",", ":"),
).encode()


def raw_request(
    method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 keep-alive request, as bytes on the wire (`headers`: more of them)."""
    more = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {HOST}\r\n"
        f"Authorization: Bearer {API_KEY}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{more}"
        "\r\n"
    )
    return head.encode() + body


CHAT_REQUEST: Final = raw_request("POST", PATH, BODY)


# ---- a minimal HTTP/1.1 response reader (Content-Length bodies only) ----------


class HttpError(Exception):
    pass


def parse_head(head: bytes) -> tuple[int, int]:
    """Status and Content-Length of a response head (without its blank line)."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpError(f"not an HTTP/1.x response: {lines[0]!r}")
    length: int | None = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise HttpError("chunked responses are not expected here")
    if length is None:
        raise HttpError("response without Content-Length")
    return int(parts[1]), length


def split_response(buffer: bytearray) -> tuple[int, bytes] | None:
    """Remove one complete response from the front of `buffer`: (status, body)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEADER_BYTES:
            raise HttpError("response head too large")
        return None
    status, length = parse_head(bytes(buffer[:end]))
    total = end + 4 + length
    if len(buffer) < total:
        return None
    body = bytes(buffer[end + 4 : total])
    del buffer[:total]
    return status, body


class Connection:
    """A blocking keep-alive connection: one request at a time."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection((HOST, port), timeout=REQUEST_TIMEOUT_S)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()

    def request(self, raw: bytes) -> tuple[int, bytes]:
        self._sock.sendall(raw)
        while True:
            response = split_response(self._buffer)
            if response is not None:
                return response
            chunk = self._sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed by the server")
            self._buffer += chunk

    def close(self) -> None:
        self._sock.close()


# ---- the servers ---------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM it should this benchmark die, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_server(
    name: str, argv: list[str], port: int, env: dict[str, str], workdir: Path, cwd: Path = ROOT
) -> Server:
    """`argv` started in `cwd`, which `python -m` puts first on sys.path (compare_trees)."""
    log = workdir / f"{name.split()[0]}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
    return Server(name, port, process, log)


def wait_ready(server: Server, probe: bytes) -> None:
    """Until `probe` answers 200 on the server's port; bounded by STARTUP_TIMEOUT_S."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            connection = Connection(server.port)
            try:
                status, _ = connection.request(probe)
            finally:
                connection.close()
            if status == 200:
                return
            last = f"HTTP {status}"
        except (OSError, HttpError) as error:
            last = str(error)
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {STARTUP_TIMEOUT_S:.0f} s ({last})")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(STOP_TIMEOUT_S)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # Fields 14 and 15 of stat(5), counted after the ")" that ends the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (Linux /proc), parents first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    tree, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        tree.append(current)
        queue.extend(children.get(current, []))
    return tree


def tree_cpu_seconds(pids: Sequence[int]) -> float | None:
    """The CPU time of `pids` together (a server and the processes it started: the
    gateway's ledger writer runs in a child process of its own)."""
    readings = [cpu_seconds(pid) for pid in pids]
    known = [r for r in readings if r is not None]
    return sum(known) if known else None


def write_gateway_config(
    workdir: Path, engine_port: int, more_models: Mapping[str, int] | None = None
) -> Path:
    """config/gateway.yaml's shape, a catalog of MODEL on the mock, the repo's keys.

    `more_models` (model id -> port) adds a model on an engine of its own each.
    """
    models = {MODEL: engine_port, **(more_models or {})}
    engines = "".join(
        f"  engine{i}:\n    base_url: http://{HOST}:{port}/v1\n"
        for i, port in enumerate(models.values())
    )
    entries = "".join(
        f"  - id: {model}\n"
        "    category: text\n"
        f"    engine: engine{i}\n"
        f"    upstream_model: {model}\n"
        "    capabilities: [tool_use, structured_output, prompt_caching]\n"
        for i, model in enumerate(models)
    )
    catalog = workdir / "catalog.yaml"
    catalog.write_text(f"engines:\n{engines}models:\n{entries}")
    config = workdir / "gateway.yaml"
    config.write_text(
        f"host: {HOST}\n"
        "port: 8080\n"
        "catalog: catalog.yaml\n"
        f"keys: {ROOT / 'config' / 'keys.yaml'}\n"
        "redis_url: null\n"
        "cors_allow_origins: []\n"
        "doc_base_url: null\n"
        "limits:\n"
        "  requests_per_minute: 100000000\n"
        "  tokens_per_minute: 1000000000000\n"
        "timeouts:\n"
        "  connect_s: 2\n"
        "  upstream_s: 120\n"
        "  health_interval_s: 5\n"
    )
    return config


def start_engine(workdir: Path, name: str, *options: str) -> Server:
    """A reference engine (`options`: its command line, e.g. --stream-delay), ready."""
    port = free_port()
    argv = [sys.executable, "-m", "reference_engine", "--host", HOST, "--port", str(port)]
    engine = start_server(name, [*argv, *options], port, child_env({}), workdir)
    try:
        wait_ready(engine, raw_request("GET", "/health"))
    except BaseException:
        stop_server(engine)
        raise
    return engine


def start_gateway(workdir: Path, config: Path, ledger: str = "sqlite") -> Server:
    """`python -m gateway.serve` on `config`, ready; `ledger` "off" runs it without one."""
    port = free_port()
    gateway = start_server(
        GATEWAY,
        # As deployed: uvicorn with the guarded protocol (header deadline,
        # connection cap), uvloop, no access log; host and port from the config.
        [sys.executable, "-m", "gateway.serve"],
        port,
        child_env(
            {
                "GATEWAY_CONFIG": str(config),
                "GATEWAY_HOST": HOST,
                "GATEWAY_PORT": str(port),
                # Metrics on a free port; an empty GATEWAY_METRICS_PORT measures them off.
                "GATEWAY_METRICS_PORT": os.environ.get("GATEWAY_METRICS_PORT", str(free_port())),
                "GATEWAY_LOG_LEVEL": "warning",
                "GATEWAY_RPM": "100000000",
                "GATEWAY_TPM": "1000000000000",
                # The default: a SQLite usage ledger in the work dir; "" turns it off.
                "GATEWAY_LEDGER_URL": "" if ledger == "off" else "sqlite:///usage.sqlite3",
            }
        ),
        workdir,
    )
    try:
        wait_ready(gateway, raw_request("GET", "/v1/models"))
    except BaseException:
        stop_server(gateway)
        raise
    return gateway


@contextmanager
def running_servers(workdir: Path, ledger: str = "sqlite") -> Iterator[dict[str, Server]]:
    """The mock and the gateway in front of it, both ready; both stopped on exit."""
    servers: list[Server] = []
    try:
        mock = start_engine(workdir, MOCK)
        servers.append(mock)
        gateway = start_gateway(workdir, write_gateway_config(workdir, mock.port), ledger)
        servers.append(gateway)
        yield {MOCK: mock, GATEWAY: gateway}
    finally:
        for server in reversed(servers):
            stop_server(server)


def check_answers(servers: dict[str, Server]) -> None:
    """Each target answers the benchmark's request with a 200 completion."""
    for name, server in servers.items():
        connection = Connection(server.port)
        try:
            status, body = connection.request(CHAT_REQUEST)
        finally:
            connection.close()
        if status != 200:
            raise RuntimeError(f"{name} answered HTTP {status}: {body[:300]!r}")
        payload: Any = json.loads(body)
        if not isinstance(payload, dict) or not payload.get("choices"):
            raise RuntimeError(f"{name} answered without choices: {body[:300]!r}")
        usage = payload.get("usage") or {}
        if name == GATEWAY and "cache_read_input_tokens" not in usage:
            raise RuntimeError(f"{name}: answer lacks the gateway's usage fields: {body[:300]!r}")


# ---- latency at 1 connection ---------------------------------------------------


@dataclass(frozen=True)
class Latency:
    median_us: float
    p99_us: float


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def measure_latency(
    port: int, warmup: int, requests: int, request: bytes = CHAT_REQUEST
) -> Latency:
    connection = Connection(port)
    samples: list[int] = []
    try:
        for _ in range(warmup):
            status, _ = connection.request(request)
            if status != 200:
                raise HttpError(f"HTTP {status} during warm-up")
        gc.collect()
        gc.disable()
        try:
            clock = time.perf_counter_ns
            deadline = clock() + LATENCY_RUN_TIMEOUT_S * 1_000_000_000
            for _ in range(requests):
                start = clock()
                status, _ = connection.request(request)
                samples.append(clock() - start)
                if status != 200:
                    raise HttpError(f"HTTP {status}")
                if start > deadline:
                    raise HttpError(f"latency run longer than {LATENCY_RUN_TIMEOUT_S:.0f} s")
        finally:
            gc.enable()
    finally:
        connection.close()
    ordered = sorted(s / 1000 for s in samples)
    return Latency(statistics.median(ordered), percentile(ordered, 0.99))


# ---- throughput at N connections -------------------------------------------------

WRK_SCRIPT: Final = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
{more}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT %d %d %d %d %d %d %d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class LoadGenerator:
    """wrk when installed, else this file's asyncio client in a child process.

    `headers` (more request headers) need wrk: the fallback client sends CHAT_REQUEST.
    """

    def __init__(
        self, workdir: Path, prefer: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.prefer = prefer
        self.wrk = shutil.which("wrk") if prefer in ("auto", "wrk") else None
        if (prefer == "wrk" or headers) and self.wrk is None:
            raise RuntimeError("wrk is not on PATH (apt-get install -y wrk)")
        more = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
        self.script = workdir / "post.lua"
        self.script.write_text(WRK_SCRIPT.format(body=BODY.decode(), key=API_KEY, more=more))

    def describe(self) -> str:
        if self.wrk is not None:
            return f"wrk ({wrk_version(self.wrk)}, 1 thread, Lua script for body and headers)"
        reason = "--client python" if self.prefer == "python" else "wrk not on PATH"
        return f"asyncio + uvloop raw-HTTP client in a separate process ({reason})"

    def run(self, port: int, connections: int, seconds: float) -> LoadResult:
        timeout = seconds + 30
        if self.wrk is not None:
            argv = [
                self.wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={REQUEST_TIMEOUT_S:.0f}s",
                "-s",
                str(self.script),
                f"http://{HOST}:{port}{PATH}",
            ]
        else:
            argv = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--load-worker",
                "--port",
                str(port),
                "--connections",
                str(connections),
                "--duration",
                str(seconds),
            ]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=child_env({})
        )
        for line in done.stdout.splitlines():
            if line.startswith("WRK_RESULT "):
                requests, micros, *errors = (int(v) for v in line.split()[1:])
                return LoadResult(requests, micros / 1e6, sum(errors))
        raise RuntimeError(
            f"load generator failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )


def wrk_version(path: str) -> str:
    out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10, check=False)
    words = (out.stdout or out.stderr).split()
    return " ".join(words[:2]) if words else "wrk"


class _LoadProtocol(asyncio.Protocol):
    """One keep-alive connection sending the request again as each answer completes."""

    def __init__(self, finished: asyncio.Future[None], tally: list[int]) -> None:
        self._stop_at = 0.0
        self._finished = finished
        self._tally = tally  # [completed, errors]
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def start(self, stop_at: float) -> None:
        assert self._transport is not None
        self._stop_at = stop_at
        self._transport.write(CHAT_REQUEST)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        try:
            response = split_response(self._buffer)
        except HttpError:
            self._tally[1] += 1
            self._transport.close()
            return
        if response is None:
            return
        self._tally[0 if response[0] == 200 else 1] += 1
        if time.monotonic() < self._stop_at:
            self._transport.write(CHAT_REQUEST)
        else:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.monotonic() < self._stop_at:
            self._tally[1] += 1  # the server closed a connection mid-run
        if not self._finished.done():
            self._finished.set_result(None)


async def _load(port: int, connections: int, seconds: float) -> tuple[int, float, int]:
    loop = asyncio.get_running_loop()
    tally = [0, 0]
    protocols: list[_LoadProtocol] = []
    finished: list[asyncio.Future[None]] = []
    for _ in range(connections):
        future: asyncio.Future[None] = loop.create_future()
        finished.append(future)
        _, protocol = await asyncio.wait_for(
            loop.create_connection(partial(_LoadProtocol, future, tally), HOST, port),
            REQUEST_TIMEOUT_S,
        )
        protocols.append(protocol)
    start = time.monotonic()
    for protocol in protocols:
        protocol.start(start + seconds)
    await asyncio.wait_for(asyncio.gather(*finished), seconds + REQUEST_TIMEOUT_S)
    return tally[0], time.monotonic() - start, tally[1]


def load_worker(port: int, connections: int, seconds: float) -> None:
    """`--load-worker`: the fallback load generator; prints wrk's result line."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a gateway dependency
        runner = asyncio.run
    requests, elapsed, errors = runner(_load(port, connections, seconds))
    print(f"WRK_RESULT {requests} {round(elapsed * 1e6)} {errors} 0 0 0 0")


# ---- the rounds ----------------------------------------------------------------


@dataclass
class Samples:
    median_us: list[float] = field(default_factory=list)
    p99_us: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # the server's own CPU per request


@dataclass(frozen=True)
class Settings:
    rounds: int
    warmup: int
    requests: int
    connections: int
    duration: float
    load_average: float


def run_rounds(
    servers: dict[str, Server], load: LoadGenerator, settings: Settings, quiet: bool
) -> dict[str, Samples]:
    samples = {name: Samples() for name in servers}
    names = list(servers)
    for index in range(settings.rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            port = servers[name].port
            latency = measure_latency(port, settings.warmup, settings.requests)
            load.run(port, settings.connections, THROUGHPUT_WARMUP_S)
            pids = descendants(servers[name].process.pid)
            cpu_before = tree_cpu_seconds(pids)
            result = load.run(port, settings.connections, settings.duration)
            cpu_after = tree_cpu_seconds(pids)
            if result.errors:
                raise RuntimeError(f"{name}: {result.errors} load-generator errors")
            samples[name].median_us.append(latency.median_us)
            samples[name].p99_us.append(latency.p99_us)
            samples[name].rps.append(result.rps)
            cpu_us: float | None = None
            if cpu_before is not None and cpu_after is not None and result.requests:
                cpu_us = (cpu_after - cpu_before) / result.requests * 1e6
                samples[name].cpu_us.append(cpu_us)
            if not quiet:
                print(
                    f"  round {index + 1}/{settings.rounds} {name:<15} median "
                    f"{latency.median_us / 1000:.3f} ms  p99 {latency.p99_us / 1000:.3f} ms  "
                    f"{result.rps:,.0f} req/s  CPU/req {cpu_cell(cpu_us)}",
                    file=sys.stderr,
                    flush=True,
                )
    return samples


# ---- report --------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    median_ms: dict[str, float]
    p99_ms: dict[str, float]
    rps: dict[str, float]
    cpu_us: dict[str, float | None]
    added_ms: float
    added_range_ms: tuple[float, float]
    share: float
    share_range: tuple[float, float]

    @property
    def latency_ok(self) -> bool:
        return self.added_ms <= TARGET_ADDED_MEDIAN_MS

    @property
    def throughput_ok(self) -> bool:
        return self.share >= TARGET_THROUGHPUT_SHARE


def summarise(samples: dict[str, Samples]) -> Summary:
    mock, gateway = samples[MOCK], samples[GATEWAY]
    added = [(g - m) / 1000 for g, m in zip(gateway.median_us, mock.median_us, strict=True)]
    shares = [g / m for g, m in zip(gateway.rps, mock.rps, strict=True)]
    return Summary(
        median_ms={n: statistics.median(s.median_us) / 1000 for n, s in samples.items()},
        p99_ms={n: statistics.median(s.p99_us) / 1000 for n, s in samples.items()},
        rps={n: statistics.median(s.rps) for n, s in samples.items()},
        cpu_us={n: statistics.median(s.cpu_us) if s.cpu_us else None for n, s in samples.items()},
        added_ms=statistics.median(added),
        added_range_ms=(min(added), max(added)),
        share=statistics.median(shares),
        share_range=(min(shares), max(shares)),
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def environment_lines(load: LoadGenerator, settings: Settings) -> list[str]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: {cpus} CPUs, {platform.machine()}, Python {platform.python_version()}; "
        f"the load generator, the gateway and the mock all share these {cpus} CPUs",
        "servers: one uvicorn worker each (uvloop, httptools, no access log), on loopback",
        f"request: POST {PATH}, non-streaming, {len(BODY)}-byte body, keep-alive",
        f"latency: 1 connection, sequential, {settings.requests} timed requests after "
        f"{settings.warmup} warm-up, per round",
        f"throughput: {settings.connections} connections, {settings.duration:g} s after "
        f"{THROUGHPUT_WARMUP_S:g} s warm-up, per round; load generator: {load.describe()}",
        f"rounds: {settings.rounds}, order alternating; values are medians over rounds",
        f"load average (1 min) when the benchmark started: {settings.load_average:.2f}"
        " (anything else running on these CPUs counts as noise)",
    ]


def verdict_lines(summary: Summary, connections: int) -> list[str]:
    low, high = summary.added_range_ms
    share_low, share_high = summary.share_range
    return [
        f"added median latency (gateway - mock): {summary.added_ms:.3f} ms "
        f"(rounds {low:.3f}..{high:.3f}); target <= {TARGET_ADDED_MEDIAN_MS} ms: "
        f"{verdict(summary.latency_ok)}",
        f"gateway throughput at {connections} connections: {summary.share:.1%} of the mock "
        f"alone (rounds {share_low:.1%}..{share_high:.1%}); target >= "
        f"{TARGET_THROUGHPUT_SHARE:.0%}: {verdict(summary.throughput_ok)}",
        *ratio_lines(summary),
    ]


def ratio_lines(summary: Summary) -> list[str]:
    latency = summary.median_ms[GATEWAY] / summary.median_ms[MOCK]
    lines = [f"gateway latency at 1 connection: {latency:.1f}x the mock's own"]
    mock_cpu, gateway_cpu = summary.cpu_us[MOCK], summary.cpu_us[GATEWAY]
    if mock_cpu and gateway_cpu:
        ratio = gateway_cpu / mock_cpu
        lines.append(
            f"gateway CPU per request: {ratio:.1f}x the mock's; target <= {TARGET_CPU_RATIO:g}x: "
            f"{verdict(ratio <= TARGET_CPU_RATIO)}"
        )
    return lines


CPU_NOTE: Final = (
    "CPU/req: CPU time of the target's processes per request during the throughput runs "
    "(the mock alone; the gateway and its ledger writer process, without the mock behind it)"
)


def cpu_cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} us"


def render_text(summary: Summary, settings: Settings, load: LoadGenerator) -> str:
    header = (
        f"{'target':<16}{'median':>10}{'p99':>10}"
        f"{f'req/s @{settings.connections}':>14}{'CPU/req':>10}"
    )
    rows = [
        f"{name:<16}{summary.median_ms[name]:>7.3f} ms{summary.p99_ms[name]:>7.3f} ms"
        f"{summary.rps[name]:>14,.0f}{cpu_cell(summary.cpu_us[name]):>10}"
        for name in (MOCK, GATEWAY)
    ]
    lines = [
        "Gateway benchmark: the gateway in front of the mock engine vs the mock alone",
        *environment_lines(load, settings),
        CPU_NOTE,
        "",
        header,
        "-" * len(header),
        *rows,
        "",
        *verdict_lines(summary, settings.connections),
    ]
    return "\n".join(lines)


def render_markdown(summary: Summary, settings: Settings, load: LoadGenerator) -> str:
    c = settings.connections
    lines = [
        f"| target | median latency, 1 conn | p99 latency, 1 conn | req/s, {c} conns | CPU/req |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {name} | {summary.median_ms[name]:.3f} ms | {summary.p99_ms[name]:.3f} ms "
            f"| {summary.rps[name]:,.0f} | {cpu_cell(summary.cpu_us[name]).replace('us', 'µs')} |"
            for name in (MOCK, GATEWAY)
        ),
        "",
        *(f"- **{line}**" for line in verdict_lines(summary, c)),
        *(f"- {line}" for line in environment_lines(load, settings)),
        f"- {CPU_NOTE}",
    ]
    return "\n".join(lines)


# ---- command line --------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating rounds")
    parser.add_argument("--requests", type=positive_int, default=2000, help="timed, 1 conn")
    parser.add_argument("--warmup", type=positive_int, default=200, help="untimed, 1 conn")
    parser.add_argument("--connections", type=positive_int, default=32)
    parser.add_argument("--duration", type=positive_float, default=3.0, help="s per load run")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--quiet", action="store_true", help="no per-round progress")
    parser.add_argument(
        "--ledger", choices=("sqlite", "off"), default="sqlite", help="the gateway's usage ledger"
    )
    parser.add_argument("--load-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=positive_int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # unwinds through `finally`, which stops the servers


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.load_worker:
        load_worker(args.port, args.connections, args.duration)
        return 0
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        workdir = Path(tmp)
        load = LoadGenerator(workdir, args.client)
        # wrk takes whole seconds.
        duration = float(max(1, round(args.duration))) if load.wrk else args.duration
        settings = Settings(
            args.rounds, args.warmup, args.requests, args.connections, duration, os.getloadavg()[0]
        )
        try:
            with running_servers(workdir, args.ledger) as servers:
                check_answers(servers)
                samples = run_rounds(servers, load, settings, args.quiet)
        except (RuntimeError, OSError, HttpError, subprocess.TimeoutExpired) as error:
            print(f"gateway benchmark could not measure: {error}", file=sys.stderr)
            return 1
        summary = summarise(samples)
        render = render_markdown if args.markdown else render_text
        print(render(summary, settings, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
