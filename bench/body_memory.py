"""Memory of large request bodies: one gateway process, peak RSS (VmHWM) from /proc.

Run as `python bench/body_memory.py` (or `make bench-memory`). Starts the
gateway (`python -m gateway.serve` with the embedded configuration and the
reference engine on free ports), then sends one 10 MB chat body, and then
eight 30 MiB bodies at once. Prints each answer and the process's peak RSS.
With `max_inflight_body_bytes` (128 MiB) some of the eight are refused (a
503, or a reset when the gateway closes the connection before the client has
finished sending) rather than all held at once.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from soak import wait_http  # bench/ is the script's directory, on sys.path

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-local-dev-0000000000000000000000000000"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def memory_mib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) // 1024
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def post(url: str, size: int) -> str:
    head, tail = b'{"model": "reference-chat", "messages": [{"role": "user", "content": "', b'"}]}'
    body = head + b"x" * (size - len(head) - len(tail)) + tail
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return str(answer.status)
    except urllib.error.HTTPError as error:
        return str(error.code)
    except OSError as error:
        return type(error).__name__


def main() -> int:
    gateway_port, engine_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="body-memory-") as directory:
        config = Path(directory) / "config"
        shutil.copytree(ROOT / "config", config)
        catalog = config / "catalog.yaml"
        catalog.write_text(
            catalog.read_text().replace("127.0.0.1:8001", f"127.0.0.1:{engine_port}")
        )
        environment = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "GATEWAY_CONFIG": str(config / "gateway.yaml"),
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_METRICS_PORT": str(free_port()),
            "GATEWAY_LOG_LEVEL": "warning",
            "GATEWAY_RPM": "100000",
            "GATEWAY_TPM": "1000000000",
        }
        command = [sys.executable, "-m", "gateway.serve", "--with-reference-engine"]
        command += ["--engine-port", str(engine_port)]
        gateway = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            base = f"http://127.0.0.1:{gateway_port}"
            wait_http(f"{base}/v1/models")
            url = f"{base}/v1/chat/completions"
            post(url, 1000)
            before = memory_mib(gateway.pid, "VmRSS")
            status = post(url, 10_000_000)
            peak = memory_mib(gateway.pid, "VmHWM")
            print(f"one 10 MB body: {status}; RSS {before} MiB, peak {peak} MiB (+{peak - before})")
            with ThreadPoolExecutor(8) as pool:
                answers = sorted(pool.map(lambda _: post(url, 30 * 1024 * 1024), range(8)))
            peak = memory_mib(gateway.pid, "VmHWM")
            print(f"eight 30 MiB bodies at once: {', '.join(answers)}; peak {peak} MiB")
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
