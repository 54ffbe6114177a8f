"""The official openai JavaScript SDK in headless Chromium, calling the gateway cross-origin.

The SDK comes from npm at the version pinned in `tests/browser/package.json`
(`make test` installs it); a loopback server in this process serves
`tests/browser/page.html` and the SDK's ES modules, and the page posts what the
SDK saw back to it. From an allowed origin the SDK's preflights (it sends
`X-Stainless-*` headers) pass and browser code reads the rate-limit and retry
headers; from any other origin the browser gets no CORS header and the SDK
reports a connection error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from test_page_in_browser import chromium_command, stop_group  # tests/ is on sys.path, as for mypy

pytestmark = pytest.mark.e2e

StartGateway = Callable[[Mapping[str, str]], AbstractContextManager[str]]
BROWSER_DIR = Path(__file__).resolve().parent / "browser"
SDK_DIR = BROWSER_DIR / "node_modules" / "openai"
BROWSER_S = 60.0


def _required(what: str, hint: str) -> None:
    if "CI" in os.environ:
        pytest.fail(f"{what} is missing, and CI must run this test: {hint}")
    pytest.skip(f"{what} is missing ({hint}); CI runs this test")


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        _required("chromium", "apt-get install chromium")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def sdk_dir() -> Path:
    if not (SDK_DIR / "index.mjs").is_file():
        _required("the openai npm package", "make browser-deps")
    return SDK_DIR


class PageServer(ThreadingHTTPServer):
    """Serves the page and the SDK's modules; keeps the result the page posts."""

    def __init__(self, sdk: Path) -> None:
        super().__init__(("127.0.0.1", 0), PageHandler)
        self.sdk = sdk
        self.result: dict[str, Any] | None = None
        self.posted = threading.Event()

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port


class PageHandler(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self.reply(200, "text/html", (BROWSER_DIR / "page.html").read_bytes())
            return
        target = (self.server.sdk / path.removeprefix("/openai/")).resolve()
        if not path.startswith("/openai/") or not target.is_relative_to(self.server.sdk):
            self.reply(404, "text/plain", b"not found")
        elif target.is_file():
            self.reply(200, "text/javascript", target.read_bytes())
        else:
            self.reply(404, "text/plain", b"not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.server.result = json.loads(self.rfile.read(length))
        self.server.posted.set()
        self.reply(204, "text/plain", b"")

    def reply(self, status: int, media_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reports what matters."""


@pytest.fixture(scope="module")
def page_server(sdk_dir: Path) -> Iterator[PageServer]:
    server = PageServer(sdk_dir.resolve())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser_gateway(start_gateway: StartGateway, page_server: PageServer) -> Iterator[str]:
    """A gateway that allows the page's origin, http://127.0.0.1:<port>, only."""
    origin = f"http://127.0.0.1:{page_server.port}"
    with start_gateway({"GATEWAY_CORS_ALLOW_ORIGINS": origin}) as url:
        yield url


def run_page(
    chromium: str, server: PageServer, page_origin: str, query: dict[str, str], profile: Path
) -> dict[str, Any]:
    """Load the page in headless Chromium; what the page posted to /result."""
    server.result = None
    server.posted.clear()
    command = chromium_command(chromium, profile, f"{page_origin}/?{urlencode(query)}")
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        posted = server.posted.wait(BROWSER_S)
    finally:
        stop_group(process)
    assert process.stderr is not None
    errors = process.stderr.read().decode(errors="replace")[-3000:]
    process.stderr.close()
    assert posted, f"the page posted no result within {BROWSER_S} s; chromium said:\n{errors}"
    assert server.result is not None
    return server.result


def test_official_js_sdk_in_chromium_calls_the_gateway_from_an_allowed_origin(
    chromium: str,
    page_server: PageServer,
    browser_gateway: str,
    local_key: str,
    tiny_key: str,
    tmp_path: Path,
) -> None:
    query = {"gateway": browser_gateway, "key": local_key, "tiny_key": tiny_key}
    origin = f"http://127.0.0.1:{page_server.port}"
    result = run_page(chromium, page_server, origin, query, tmp_path / "profile")
    assert result["ok"], result
    assert result["content"]
    assert result["streamed"]
    # Exposed to browser code: without Access-Control-Expose-Headers these read null.
    assert result["remaining"].isdigit()
    assert result["limit"].isdigit()
    assert result["reset"]
    assert result["bad_request"] == {
        "status": 400,
        "param": "messages[0].content",
        "name": "BadRequestError",
    }
    rate_limited = result["rate_limited"]
    assert rate_limited["status"] == 429
    assert rate_limited["retry_after_ms"].isdigit()
    assert rate_limited["retry_after"].isdigit()


def test_official_js_sdk_from_a_disallowed_origin_gets_a_connection_error(
    chromium: str,
    page_server: PageServer,
    browser_gateway: str,
    local_key: str,
    tmp_path: Path,
) -> None:
    """The same page from http://localhost:<port>, another origin: the browser blocks it."""
    query = {"gateway": browser_gateway, "key": local_key, "tiny_key": local_key}
    origin = f"http://localhost:{page_server.port}"
    result = run_page(chromium, page_server, origin, query, tmp_path / "profile")
    assert result["ok"] is False, result
    assert result["error"].startswith("APIConnectionError")
