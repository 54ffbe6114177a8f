"""Every code example on the compatibility page, taken from the generated page and run.

The Python examples run as scripts against a real gateway and engine; each
example request body is sent to the running gateway, which must answer exactly
the status and body the page shows. A change that breaks an example breaks here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import httpx
import pytest
from test_compatibility_page import PAGE_HTML, PAGE_MD  # tests/ is on sys.path, as for mypy

from generator.emit_docs import EXAMPLE_DOC_BASE_URL

StartGateway = Callable[[Mapping[str, str]], AbstractContextManager[str]]
SCRIPT_TIMEOUT_S = 120.0
# The per-minute limit of the gateway that makes the batching example meet 429s.
TIGHT_RPM = 30

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_REQUEST = re.compile(
    r"Request body sent to (POST|GET) (\S+):\n\n```text\n(.*?)\n```\n\n"
    r"Response (\d+):\n\n```json\n(.*?)\n```",
    re.DOTALL,
)


@dataclass(frozen=True)
class ErrorExample:
    method: str
    path: str
    body: str
    status: int
    response: str


def page() -> str:
    return PAGE_MD.read_text(encoding="utf-8")


def fenced_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the Markdown page."""
    return [(language, code.removesuffix("\n")) for language, code in _FENCE.findall(page())]


def python_examples() -> list[str]:
    return [code for language, code in fenced_blocks() if language == "python"]


def error_examples() -> list[ErrorExample]:
    return [
        ErrorExample(method, path, body, int(status), response)
        for method, path, body, status, response in _REQUEST.findall(page())
    ]


def batching_example() -> str:
    section = page().split('<a id="batching"></a>', 1)[1].split("\n## ", 2)[1]
    (code,) = re.findall(r"```python\n(.*?)\n```", section, re.DOTALL)
    return str(code)


def run_script(code: str, directory: Path, environment: Mapping[str, str]) -> str:
    """Run `code` as a script with only `environment` set for the SDK; its stdout."""
    script = directory / "example.py"
    script.write_text(code, encoding="utf-8")
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "GATEWAY_"))}
    done = subprocess.run(
        [sys.executable, str(script)],
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def sdk_environment(gateway_url: str, key: str, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": f"{gateway_url}/v1",
        "OPENAI_API_KEY": key,
        "OPENAI_MODEL": "chat-full",
        **extra,
    }


def answers_and_retries(stdout: str) -> tuple[int, int]:
    found = re.search(r"^(\d+) answers, (\d+) retries$", stdout, re.MULTILINE)
    assert found is not None, stdout
    return int(found[1]), int(found[2])


# ---------------------------------------------------------------- what the page holds


def test_every_fenced_block_of_the_page_is_an_example_these_tests_run() -> None:
    """A new kind of code block on the page cannot slip past the runs below."""
    blocks = fenced_blocks()
    languages = [language for language, _ in blocks]
    assert set(languages) == {"python", "text", "json"}
    assert languages.count("python") == len(python_examples()) >= 1
    assert languages.count("text") == languages.count("json") == len(error_examples()) >= 9


def test_html_page_shows_the_same_python_examples() -> None:
    html = PAGE_HTML.read_text(encoding="utf-8")
    shown = re.findall(r'<pre><code class="language-python">(.*?)</code></pre>', html, re.DOTALL)
    assert [unescape(code) for code in shown] == python_examples()


# ---------------------------------------------------------------- running them


@pytest.mark.e2e
@pytest.mark.parametrize("index", range(len(python_examples())))
def test_python_example_of_the_page_runs_against_a_real_gateway(
    index: int, gateway_url: str, local_key: str, tmp_path: Path
) -> None:
    stdout = run_script(python_examples()[index], tmp_path, sdk_environment(gateway_url, local_key))
    assert stdout.strip()


@pytest.mark.e2e
def test_batching_example_answers_every_prompt(
    gateway_url: str, local_key: str, tmp_path: Path
) -> None:
    environment = sdk_environment(gateway_url, local_key, PROMPTS="40")
    stdout = run_script(batching_example(), tmp_path, environment)
    assert answers_and_retries(stdout) == (40, 0)
    assert stdout.count("'Summarise item") == 40


@pytest.fixture(scope="module")
def tight_gateway(start_gateway: StartGateway) -> Iterator[str]:
    """A gateway whose keys without a limit of their own get TIGHT_RPM requests per minute."""
    with start_gateway({"GATEWAY_RPM": str(TIGHT_RPM)}) as url:
        yield url


@pytest.mark.e2e
def test_batching_example_waits_out_429s_over_the_key_limit_and_finishes(
    tight_gateway: str, local_key: str, tmp_path: Path
) -> None:
    """More prompts than the key's budget: some get a 429, the SDK waits and retries them."""
    prompts = TIGHT_RPM + 2  # plus the example's one sizing request: 3 over the budget
    environment = sdk_environment(tight_gateway, local_key, PROMPTS=str(prompts))
    answers, retries = answers_and_retries(run_script(batching_example(), tmp_path, environment))
    assert answers == prompts
    assert retries >= 1


@pytest.mark.e2e
@pytest.mark.parametrize("example", error_examples(), ids=lambda x: x.body[:40])
def test_example_error_body_is_what_the_running_gateway_answers(
    example: ErrorExample, gateway_url: str, local_key: str
) -> None:
    answer = httpx.request(
        example.method,
        f"{gateway_url}{example.path}",
        content=example.body.encode(),
        headers={"Authorization": f"Bearer {local_key}", "Content-Type": "application/json"},
        timeout=10,
    )
    shown = json.loads(example.response)
    base = f"{gateway_url}/docs/compatibility"
    shown["error"]["doc_url"] = shown["error"]["doc_url"].replace(EXAMPLE_DOC_BASE_URL, base)
    assert (answer.status_code, answer.json()) == (example.status, shown)
