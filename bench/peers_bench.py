"""Benchmark: this gateway side by side with its peers, in front of the same engine.

Run as `python bench/peers_bench.py` (or `make bench-peers`); add `--markdown`
for the README table. Optional: not in CI, not in `make test`. Like
`bench/gateway_bench.py`, whose servers, latency loop, wrk load and /proc CPU
reading it imports, it exits 0 whatever the figures, and non-zero only when it
could not measure (the engine or this gateway did not start, a target did not
answer its first request with the engine's completion, wrk reported errors on
the engine or this gateway). A peer's wrk errors (timeouts, resets) are counted
and reported with its figures.

Four targets run side by side on loopback, all in front of one reference
engine (`python -m reference_engine`):

  engine alone     the engine itself
  this gateway     `python -m gateway.serve`, as deployed (gateway_bench's setup)
  LiteLLM proxy    `litellm --config`, one `openai/` model whose `api_base` is the
                   engine, its master key, no database, one worker
  Portkey gateway  `node build/start-server.js --headless`, routed per request
                   by `x-portkey-provider: openai` and `x-portkey-custom-host`

The peers are installed by this command into a scratch place, `bench/.peers/`
(cached between runs; pinned versions below): LiteLLM with pip into a virtualenv
of its own (never the project's), Portkey with npm. A peer that cannot be
installed (no network) or does not start is reported as such and the others are
measured.

Every target gets the same body; the headers each needs are set per target (in
the raw request and in wrk's Lua script). Before timing, each target must answer
200 with the engine's own completion text (proof it reached the engine). The load
is gateway_bench's: 1-connection latency (median, p99) and wrk at
`--connections` for throughput, in rounds that alternate the order, medians over
rounds; added latency and the share of the engine's throughput are medians of
per-round paired values. CPU per request sums the target's front process and its
descendants (a peer may run several). Before the rounds, one off-spec body
(`"temperature": "hot"`) goes to each target: its status, and whether it reached
the engine (the engine lists what it received at GET /debug/received); then each
target gets a few seconds of untimed load (Node's JIT), and before every run the
bench waits until the target answers again (LiteLLM goes on with the requests wrk
left unanswered when it stopped).

Everything is bounded in time (installs, start-up, each run) and every process
started here is stopped on the way out.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from gateway_bench import (  # bench/ is the script's directory, on sys.path
    API_KEY,
    BODY,
    GATEWAY,
    HOST,
    MOCK,
    MODEL,
    PATH,
    REQUEST_TIMEOUT_S,
    ROOT,
    THROUGHPUT_WARMUP_S,
    Connection,
    HttpError,
    LoadGenerator,
    Samples,
    Server,
    Settings,
    child_env,
    descendants,
    exit_on_sigterm,
    free_port,
    measure_latency,
    positive_float,
    positive_int,
    raw_request,
    running_servers,
    start_server,
    stop_server,
    tree_cpu_seconds,
    wait_ready,
)

LITELLM_VERSION: Final = "1.108.7"
PORTKEY_VERSION: Final = "1.15.2"
SCRATCH: Final = ROOT / "bench" / ".peers"
PIP_TIMEOUT_S: Final = 900.0
NPM_TIMEOUT_S: Final = 300.0
# LiteLLM's proxy takes ~10 s to start on an idle 2-core machine: up to 3 of
# gateway_bench's start-up bounds on a busy one.
LITELLM_STARTUP_BOUNDS: Final = 3

ENGINE: Final = "engine alone"
THIS_GATEWAY: Final = "this gateway"
LITELLM: Final = "LiteLLM proxy"
PORTKEY: Final = "Portkey gateway"


class InstallError(Exception):
    pass


# ---- installing the peers into the scratch place ------------------------------


def run_step(argv: Sequence[str | Path], timeout: float, cwd: Path | None = None) -> str:
    """One install step, bounded; its stdout, or InstallError with its output's tail."""
    try:
        done = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InstallError(str(error)) from error
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).splitlines()
        tail = "\n".join([line for line in lines if not line.startswith("WARNING:")][-5:])
        raise InstallError(f"{Path(str(argv[0])).name} exited {done.returncode}:\n{tail}")
    return done.stdout.strip()


def install_litellm(scratch: Path) -> tuple[Path, str]:
    """LiteLLM's proxy in a virtualenv of its own: (its `litellm` command, its version)."""
    venv = scratch / f"litellm-{LITELLM_VERSION}"
    marker = venv / ".installed"
    if not marker.exists():
        shutil.rmtree(venv, ignore_errors=True)
        print(f"installing litellm[proxy]=={LITELLM_VERSION} into {venv}", file=sys.stderr)
        run_step([sys.executable, "-m", "venv", venv], 120)
        python = venv / "bin" / "python"
        pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        run_step([python, *pip, f"litellm[proxy]=={LITELLM_VERSION}"], PIP_TIMEOUT_S)
        marker.touch()
    version = run_step(
        [
            venv / "bin" / "python",
            "-c",
            "import importlib.metadata as m; print(m.version('litellm'))",
        ],
        60,
    )
    return venv / "bin" / "litellm", version


def install_portkey(scratch: Path) -> tuple[Path, str]:
    """Portkey's gateway from npm: (its start-server.js, "version on node X")."""
    prefix = scratch / f"portkey-{PORTKEY_VERSION}"
    package = prefix / "node_modules" / "@portkey-ai" / "gateway"
    marker = prefix / ".installed"
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        raise InstallError("node and npm are not on PATH (apt-get install -y nodejs npm)")
    if not marker.exists():
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir(parents=True)
        print(f"installing @portkey-ai/gateway@{PORTKEY_VERSION} into {prefix}", file=sys.stderr)
        npm = ["npm", "install", "--no-package-lock", "--no-audit", "--no-fund"]
        run_step(
            [*npm, "--loglevel=error", f"@portkey-ai/gateway@{PORTKEY_VERSION}"],
            NPM_TIMEOUT_S,
            prefix,
        )
        marker.touch()
    version = json.loads((package / "package.json").read_text())["version"]
    node_version = run_step([node, "--version"], 30)
    return package / "build" / "start-server.js", f"{version} (node {node_version})"


# ---- the targets ---------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    version: str
    server: Server
    headers: dict[str, str] = field(default_factory=dict)

    def request(self, body: bytes = BODY) -> bytes:
        return raw_request("POST", PATH, body, self.headers)


def project_version() -> str:
    """This repo's commit (and `-dirty` for uncommitted changes): what is measured."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "this checkout"
    return f"commit {described.stdout.strip()}"


def write_litellm_config(workdir: Path, engine_port: int) -> Path:
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: http://{HOST}:{engine_port}/v1\n"
        "      api_key: sk-the-engine-does-not-check\n"
        "general_settings:\n"
        # The same key as the bench's Authorization header, so one header serves all.
        f"  master_key: {API_KEY}\n"
    )
    return config


def start_litellm(workdir: Path, engine_port: int, scratch: Path) -> Target:
    command, version = install_litellm(scratch)
    port = free_port()
    argv = [str(command), "--config", str(write_litellm_config(workdir, engine_port))]
    argv += ["--host", HOST, "--port", str(port), "--num_workers", "1"]
    # The bundled model-cost map instead of a download at start-up; no database.
    env = child_env({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"})
    env.pop("DATABASE_URL", None)
    server = start_server(LITELLM, argv, port, env, workdir)
    ready(server, raw_request("GET", "/health/liveliness"), LITELLM_STARTUP_BOUNDS)
    return Target(LITELLM, version, server)


def start_portkey(workdir: Path, engine_port: int, scratch: Path) -> Target:
    script, version = install_portkey(scratch)
    port = free_port()
    argv = [shutil.which("node") or "node", str(script), f"--port={port}", "--headless"]
    server = start_server(PORTKEY, argv, port, child_env({"NODE_ENV": "production"}), workdir)
    ready(server, raw_request("GET", "/"))
    headers = {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"http://{HOST}:{engine_port}/v1",
    }
    return Target(PORTKEY, version, server, headers)


def ready(server: Server, probe: bytes, bounds: int = 1) -> None:
    """wait_ready (again while the server is alive, up to `bounds` times); stopping the
    server when it never gets there."""
    try:
        for bound in range(1, bounds + 1):
            try:
                wait_ready(server, probe)
                return
            except RuntimeError:
                if bound == bounds or server.process.poll() is not None:
                    raise
    except BaseException:
        stop_tree(server)
        raise


def stop_tree(server: Server) -> None:
    """stop_server, then SIGTERM whatever the server left running below it."""
    below = descendants(server.process.pid)[1:]
    stop_server(server)
    for pid in below:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@contextmanager
def running_targets(workdir: Path, scratch: Path, peers: Sequence[str]) -> Iterator[list[Target]]:
    """The engine and this gateway (gateway_bench's), then each peer that starts."""
    with ExitStack() as stack:
        servers = stack.enter_context(running_servers(workdir))
        engine = servers[MOCK]
        targets = [
            Target(ENGINE, "reference_engine (this repo)", engine),
            Target(THIS_GATEWAY, project_version(), servers[GATEWAY]),
        ]
        starters: dict[str, Callable[[Path, int, Path], Target]] = {
            LITELLM: start_litellm,
            PORTKEY: start_portkey,
        }
        for name in peers:
            try:
                target = starters[name](workdir, engine.port, scratch)
            except (InstallError, RuntimeError, OSError) as error:
                print(f"{name}: not measured: {error}", file=sys.stderr)
                continue
            stack.callback(stop_tree, target.server)
            print(f"{name}: {target.version}", file=sys.stderr)
            targets.append(target)
        yield targets


# ---- proof of the hop, and the off-spec body -----------------------------------


def ask(target: Target, raw: bytes) -> tuple[int, bytes]:
    connection = Connection(target.server.port)
    try:
        return connection.request(raw)
    finally:
        connection.close()


def answer_text(body: bytes) -> str | None:
    try:
        payload: Any = json.loads(body)
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None


def check_answers(targets: Sequence[Target]) -> None:
    """Each target answers 200 with the engine's own completion text."""
    expected: str | None = None
    for target in targets:
        status, body = ask(target, target.request())
        text = answer_text(body) if status == 200 else None
        if text is None:
            raise RuntimeError(f"{target.name} answered HTTP {status}: {body[:300]!r}")
        expected = expected or text  # the engine comes first
        if text != expected:
            raise RuntimeError(f"{target.name} answered {text!r}, not the engine's {expected!r}")


@dataclass(frozen=True)
class OffSpec:
    status: int
    reached_engine: bool
    message: str


def off_spec_body(marker: str) -> bytes:
    body = json.loads(BODY)
    body["temperature"] = "hot"
    body["messages"][-1]["content"] = marker
    return json.dumps(body, separators=(",", ":")).encode()


def engine_received(engine: Server, marker: str) -> bool:
    """Whether the engine's last requests (GET /debug/received) include `marker`."""
    connection = Connection(engine.port)
    try:
        status, body = connection.request(raw_request("GET", "/debug/received"))
    finally:
        connection.close()
    if status != 200:
        raise RuntimeError(f"GET /debug/received answered HTTP {status}")
    entries: Any = json.loads(body)
    return any(marker.encode() in base64.b64decode(e["body_base64"]) for e in entries)


def error_message(body: bytes) -> str:
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return body[:120].decode(errors="replace")
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:120]
    if isinstance(payload, dict) and "choices" in payload:
        return "a completion"
    return json.dumps(payload)[:120]


def probe_off_spec(targets: Sequence[Target]) -> dict[str, OffSpec]:
    engine = targets[0].server
    results: dict[str, OffSpec] = {}
    for target in targets:
        marker = f"off-spec probe {uuid.uuid4().hex}"
        status, body = ask(target, target.request(off_spec_body(marker)))
        reached = engine_received(engine, marker)
        results[target.name] = OffSpec(status, reached, error_message(body))
    return results


# ---- the rounds ----------------------------------------------------------------


# The engine and this gateway must answer every request; a peer's wrk errors (timeouts
# past REQUEST_TIMEOUT_S, resets, non-2xx) are part of what is measured and reported.
MUST_NOT_FAIL: Final = (ENGINE, THIS_GATEWAY)


def check_errors(target: Target, errors: int, during: str) -> None:
    if errors and target.name in MUST_NOT_FAIL:
        raise RuntimeError(f"{target.name}: {errors} load-generator errors during {during}")


SETTLE_TRIES: Final = 6


def settle(target: Target) -> None:
    """Until one request is answered: a server that goes on with the requests wrk left
    unanswered when it stopped (LiteLLM does) must not start the next run still busy."""
    for _ in range(SETTLE_TRIES):
        try:
            status, body = ask(target, target.request())
        except (OSError, HttpError):
            continue  # bounded: each try times out after REQUEST_TIMEOUT_S
        if status != 200:
            raise RuntimeError(f"{target.name} answered HTTP {status} after a run: {body[:200]!r}")
        return
    raise RuntimeError(f"{target.name}: no answer within {SETTLE_TRIES} tries after a run")


def warm_up(targets: Sequence[Target], loads: dict[str, LoadGenerator], seconds: float) -> None:
    """Untimed load on each target once: Node's JIT and Python's caches settle first."""
    for target in targets:
        result = loads[target.name].run(target.server.port, 8, seconds)
        check_errors(target, result.errors, "the warm-up")
        settle(target)


def run_rounds(
    targets: Sequence[Target], loads: dict[str, LoadGenerator], settings: Settings, quiet: bool
) -> tuple[dict[str, Samples], dict[str, int]]:
    """Per target: the samples of each round, and the wrk errors summed over the rounds."""
    samples = {t.name: Samples() for t in targets}
    errors = dict.fromkeys(samples, 0)
    for index in range(settings.rounds):
        order = targets if index % 2 == 0 else targets[::-1]
        for target in order:
            port, load = target.server.port, loads[target.name]
            latency = measure_latency(port, settings.warmup, settings.requests, target.request())
            load.run(port, settings.connections, THROUGHPUT_WARMUP_S)
            settle(target)
            pids = descendants(target.server.process.pid)
            cpu_before = tree_cpu_seconds(pids)
            result = load.run(port, settings.connections, settings.duration)
            cpu_after = tree_cpu_seconds(pids)
            settle(target)
            check_errors(target, result.errors, "a timed run")
            errors[target.name] += result.errors
            s = samples[target.name]
            s.median_us.append(latency.median_us)
            s.p99_us.append(latency.p99_us)
            s.rps.append(result.rps)
            if cpu_before is not None and cpu_after is not None and result.requests:
                s.cpu_us.append((cpu_after - cpu_before) / result.requests * 1e6)
            if not quiet:
                print(
                    f"  round {index + 1}/{settings.rounds} {target.name:<16} median "
                    f"{latency.median_us / 1000:.3f} ms  p99 {latency.p99_us / 1000:.3f} ms  "
                    f"{result.rps:,.0f} req/s  {result.errors} errors  ({len(pids)} process(es))",
                    file=sys.stderr,
                    flush=True,
                )
    return samples, errors


# ---- report --------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str
    version: str
    median_ms: float
    added_ms: float
    p99_ms: float
    rps: float
    share: float
    cpu_us: float | None
    cpu_ratio: float | None  # cpu_us over the engine's own: the figure noise moves least
    errors: int
    off_spec: OffSpec


def summarise(
    targets: Sequence[Target],
    samples: dict[str, Samples],
    errors: dict[str, int],
    off_spec: dict[str, OffSpec],
) -> list[Row]:
    engine = samples[ENGINE]
    engine_cpu = statistics.median(engine.cpu_us) if engine.cpu_us else None
    rows = []
    for target in targets:
        s = samples[target.name]
        added = [(t - e) / 1000 for t, e in zip(s.median_us, engine.median_us, strict=True)]
        shares = [t / e for t, e in zip(s.rps, engine.rps, strict=True)]
        cpu = statistics.median(s.cpu_us) if s.cpu_us else None
        rows.append(
            Row(
                target.name,
                target.version,
                statistics.median(s.median_us) / 1000,
                statistics.median(added),
                statistics.median(s.p99_us) / 1000,
                statistics.median(s.rps),
                statistics.median(shares),
                cpu,
                cpu / engine_cpu if cpu is not None and engine_cpu else None,
                errors[target.name],
                off_spec[target.name],
            )
        )
    return rows


def off_spec_cell(row: Row) -> str:
    """What the target did with the off-spec body: its status, and whether it forwarded it."""
    result = row.off_spec
    if row.name == ENGINE:
        return f"{result.status} (the engine itself)"
    if not result.reached_engine:
        return f"{result.status} `{result.message}`, not forwarded"
    answer = "" if result.message == "a completion" else f" `{result.message}`"
    return f"{result.status}{answer}, forwarded to the engine as is"


def validates(row: Row) -> str:
    if row.name == ENGINE:
        return "-"
    return "no" if row.off_spec.reached_engine else "yes"


def cpu_cell(row: Row) -> str:
    if row.cpu_us is None:
        return "n/a"
    ratio = "" if row.cpu_ratio is None or row.name == ENGINE else f" ({row.cpu_ratio:.1f}x)"
    return f"{row.cpu_us:,.0f} µs{ratio}"


def environment_lines(load: LoadGenerator, settings: Settings, warmup_s: float) -> list[str]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: {cpus} CPUs, {platform.machine()}, Python {platform.python_version()}; "
        "wrk, the engine and the target share them",
        f"request: POST {PATH}, non-streaming, the same {len(BODY)}-byte body to every target",
        f"latency: 1 connection, {settings.requests} timed requests after {settings.warmup} "
        f"warm-up; throughput: {settings.connections} connections, {settings.duration:g} s "
        f"after {THROUGHPUT_WARMUP_S:g} s warm-up; load generator: {load.describe()}",
        f"before the rounds: {warmup_s:g} s of untimed wrk load (8 connections) on each target; "
        f"rounds: {settings.rounds}, order alternating; medians over rounds; added latency and "
        "% of the engine are medians of per-round pairs",
        f"load average (1 min) at the start: {settings.load_average:.2f} (anything else "
        "running on these CPUs counts as noise)",
        "CPU/req: user+system CPU of the target's process and its descendants during the "
        "throughput runs, per request (the engine's own CPU is not included), and its ratio "
        "to the engine's own CPU per request",
        f"wrk errors: summed over the timed runs (a request unanswered after "
        f"{REQUEST_TIMEOUT_S:g} s, a reset, a non-2xx answer); only peers may have any",
        'off-spec body: the same request with "temperature": "hot" (the engine itself '
        "accepts it); reached the engine = the engine's GET /debug/received lists it",
    ]


def added_cell(row: Row) -> str:
    return "-" if row.name == ENGINE else f"{row.added_ms:+.3f} ms"


def render_text(rows: Sequence[Row], connections: int, notes: Sequence[str]) -> str:
    header = (
        f"{'target':<17}{'median':>12}{'added':>12}{'p99':>12}{f'req/s @{connections}':>12}"
        f"{'% engine':>10}{'CPU/req (x engine)':>22}{'errors':>8}  validates"
    )
    lines = ["Peers benchmark: the same engine, the same load, through each target", ""]
    lines += [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.name:<17}{r.median_ms:>9.3f} ms{added_cell(r):>12}{r.p99_ms:>9.3f} ms"
            f"{r.rps:>12,.0f}{r.share:>10.1%}{cpu_cell(r):>22}{r.errors:>8}  "
            f"{validates(r)}"
        )
    lines += ["", "versions:"]
    lines += [f"  {r.name}: {r.version}" for r in rows]
    lines += ["off-spec body:"]
    lines += [f"  {r.name}: {off_spec_cell(r)}" for r in rows]
    lines += ["", *notes]
    return "\n".join(lines)


def render_markdown(rows: Sequence[Row], connections: int, notes: Sequence[str]) -> str:
    lines = [
        f"| target | version | median, 1 conn | added | p99, 1 conn | req/s, {connections} "
        "conns | % of engine | CPU/req (x engine) | wrk errors | validates "
        '| `"temperature": "hot"` |',
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.version} | {r.median_ms:.3f} ms | {added_cell(r)} "
            f"| {r.p99_ms:.3f} ms | {r.rps:,.0f} | {r.share:.1%} | {cpu_cell(r)} "
            f"| {r.errors} | {validates(r)} | {off_spec_cell(r)} |"
        )
    lines.append("")
    lines += [f"- {line}" for line in notes]
    return "\n".join(lines)


# ---- command line --------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--rounds", type=positive_int, default=3, help="alternating rounds")
    parser.add_argument("--requests", type=positive_int, default=300, help="timed, 1 conn")
    parser.add_argument("--warmup", type=positive_int, default=50, help="untimed, 1 conn")
    parser.add_argument("--connections", type=positive_int, default=32)
    parser.add_argument(
        "--warmup-s", type=positive_float, default=3.0, help="untimed load per target, once"
    )
    parser.add_argument("--duration", type=positive_float, default=5.0, help="s per load run")
    parser.add_argument(
        "--peers",
        default=f"{LITELLM},{PORTKEY}",
        help=f"comma-separated, of: {LITELLM}, {PORTKEY} (empty: none)",
    )
    parser.add_argument("--scratch", type=Path, default=SCRATCH, help="where peers are installed")
    parser.add_argument("--quiet", action="store_true", help="no per-round progress")
    return parser.parse_args(argv)


def chosen_peers(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in (LITELLM, PORTKEY)]
    if unknown:
        raise SystemExit(f"--peers: unknown {unknown}; known: {LITELLM}, {PORTKEY}")
    return names


def measure(args: argparse.Namespace, workdir: Path) -> tuple[list[Row], list[str]]:
    """Start the targets, prove and probe them, run the rounds: the rows and their notes."""
    settings = Settings(
        args.rounds,
        args.warmup,
        args.requests,
        args.connections,
        float(max(1, round(args.duration))),  # wrk takes whole seconds
        os.getloadavg()[0],
    )
    with running_targets(workdir, args.scratch, chosen_peers(args.peers)) as targets:
        loads = {}
        for target in targets:
            # One wrk script per target, with the headers that target needs.
            place = workdir / target.name.replace(" ", "-")
            place.mkdir()
            loads[target.name] = LoadGenerator(place, "wrk", target.headers)
        check_answers(targets)
        off_spec = probe_off_spec(targets)
        warm_up(targets, loads, args.warmup_s)
        samples, errors = run_rounds(targets, loads, settings, args.quiet)
    rows = summarise(targets, samples, errors, off_spec)
    return rows, environment_lines(loads[ENGINE], settings, args.warmup_s)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args.scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="peers-bench-") as tmp:
        try:
            rows, notes = measure(args, Path(tmp))
        except (RuntimeError, OSError, HttpError, subprocess.TimeoutExpired) as error:
            print(f"peers benchmark could not measure: {error}", file=sys.stderr)
            return 1
    render = render_markdown if args.markdown else render_text
    print(render(rows, args.connections, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
