"""The compatibility page as a browser renders it: headless Chromium, served over loopback HTTP.

Needs Debian's `chromium` (`apt-get install -y chromium`; `make system-deps` installs it).
Without it the test is skipped locally, and fails when the CI variable is set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_compatibility_page import (  # tests/ is on sys.path, as for mypy
    PAGE_HTML,
    RenderedPage,
    emitted_anchors,
)

from generator.regen import GENERATED

SERVER_START_S = 10.0
BROWSER_S = 60.0
PAGE_PATH = "/" + PAGE_HTML.relative_to(GENERATED).as_posix()


@pytest.fixture(scope="module")
def browser() -> str:
    """Chromium's path; checked before anything is started."""
    found = shutil.which("chromium")
    if found:
        return found
    if "CI" in os.environ:
        pytest.fail("chromium is missing, and CI must run this test: apt-get install chromium")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it started there."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # helpers that outlived their parent
    process.wait(timeout=5)


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"http.server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    pytest.fail(f"http.server did not serve {url} within {SERVER_START_S} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """generated/ served by `python -m http.server` on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("http_server") / "server.log"
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [*command, "--directory", str(GENERATED)],
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}{PAGE_PATH}"
            wait_until_serving(url, process, log)
            yield url
        finally:
            stop_group(process)


def dump_dom(browser: str, url: str, profile: Path) -> str:
    """The DOM Chromium builds for `url`, serialised after the page loaded."""
    command = [
        browser,
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"),
        *("--disable-quic", "--no-first-run", "--disable-background-networking"),
        *("--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"),
        *("--dump-dom", url),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=BROWSER_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not dump {url} within {BROWSER_S} s")
    finally:
        stop_group(process)
    assert process.returncode == 0, err.decode(errors="replace")[-4000:]
    return out.decode("utf-8")


@pytest.fixture(scope="module")
def rendered(browser: str, page_url: str, tmp_path_factory: pytest.TempPathFactory) -> RenderedPage:
    profile = tmp_path_factory.mktemp("chromium_profile")
    return RenderedPage(dump_dom(browser, page_url, profile))


@pytest.mark.e2e
def test_browser_renders_every_anchor_an_error_can_carry(rendered: RenderedPage) -> None:
    """Each `doc_url` anchor is an element id in the DOM Chromium built from the served page."""
    missing = sorted(emitted_anchors() - set(rendered.ids))
    assert missing == []


@pytest.mark.e2e
def test_browser_dom_keeps_every_id_of_the_file(rendered: RenderedPage) -> None:
    """Nothing in the markup makes the browser drop or reorder an anchored element."""
    in_file = RenderedPage(PAGE_HTML.read_text(encoding="utf-8")).ids
    assert rendered.ids == in_file


@pytest.mark.e2e
def test_browser_shows_the_page_text(rendered: RenderedPage) -> None:
    """The visible text survives parsing: the last example's error message is on the page."""
    assert "Invalid type for request body: expected an object" in rendered.text
    assert "Spec version we track" in rendered.text
