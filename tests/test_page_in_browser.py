"""The compatibility page as a browser renders it: headless Chromium, served by the gateway.

Needs Debian's `chromium` (`apt-get install -y chromium`; `make system-deps` installs it).
Without it the test is skipped locally, and fails when the CI variable is set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from test_catalog_page import CatalogTable  # tests/ is on sys.path, as for mypy
from test_compatibility_page import (
    PAGE_HTML,
    RenderedPage,
    emitted_anchors,
)
from test_page_links import Links, dangling

from generator.links import DOC_PAGES

BROWSER_S = 60.0


@pytest.fixture(scope="module")
def browser() -> str:
    """Chromium's path; checked before anything is started."""
    found = shutil.which("chromium")
    if found:
        return found
    if "CI" in os.environ:
        pytest.fail("chromium is missing, and CI must run this test: apt-get install chromium")
    pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and everything it started there."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # helpers that outlived their parent
    process.wait(timeout=5)


@pytest.fixture(scope="module")
def page_url(gateway_url: str) -> str:
    """The page as a running gateway serves it, where every error's doc_url points."""
    return f"{gateway_url}/docs/compatibility"


def chromium_command(browser: str, profile: Path, *arguments: str) -> list[str]:
    """Headless Chromium as this closed network needs it, with a fresh profile."""
    return [
        browser,
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"),
        *("--disable-quic", "--no-first-run", "--disable-background-networking"),
        *("--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"),
        *arguments,
    ]


def dump_dom(browser: str, url: str, profile: Path) -> str:
    """The DOM Chromium builds for `url`, serialised after the page loaded."""
    command = chromium_command(browser, profile, "--dump-dom", url)
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
def dom(browser: str, page_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    profile = tmp_path_factory.mktemp("chromium_profile")
    return dump_dom(browser, page_url, profile)


@pytest.fixture(scope="module")
def rendered(dom: str) -> RenderedPage:
    return RenderedPage(dom)


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


@pytest.mark.e2e
def test_doc_url_of_a_real_error_resolves_to_an_element_of_the_rendered_page(
    rendered: RenderedPage, page_url: str, local_key: str
) -> None:
    """A 400 from the running gateway links to this page, at an id Chromium rendered."""
    answer = httpx.post(
        page_url.replace("/docs/compatibility", "/v1/chat/completions"),
        json={"model": "chat-full", "messages": [{"role": "user", "content": 5}]},
        headers={"Authorization": f"Bearer {local_key}"},
        timeout=10,
    )
    assert answer.status_code == 400
    base, _, anchor = answer.json()["error"]["doc_url"].partition("#")
    assert base == page_url
    assert anchor == "chat-completions-messages"
    assert anchor in rendered.ids


@pytest.mark.e2e
def test_every_link_of_the_rendered_page_leads_to_an_element_or_a_docs_page(dom: str) -> None:
    """No cross-reference of the page, as Chromium built it, points at a missing anchor."""
    page = Links(dom)
    assert {"#batching", "#model-catalog", "#errors", "/docs/catalog"} <= set(page.hrefs)
    assert dangling(page.hrefs, page.ids) == []


@pytest.mark.e2e
@pytest.mark.parametrize("path", DOC_PAGES)
def test_docs_page_linked_from_the_page_renders_the_live_catalog(
    path: str,
    browser: str,
    gateway_url: str,
    page_url: str,
    rendered: RenderedPage,
    catalog_models: dict[str, str],
    tmp_path: Path,
) -> None:
    """/docs/catalog as Chromium renders it: every model, and its link back lands too."""
    catalog = dump_dom(browser, f"{gateway_url}{path}", tmp_path / "profile")
    table = CatalogTable(catalog)
    assert sorted(table.rows) == sorted(catalog_models)
    base, _, anchor = table.hrefs[0].partition("#")
    assert (base, anchor) == (page_url, "model-discovery")
    assert anchor in rendered.ids
