"""End to end: how a real gateway process answers engine failures, bad bodies, bad
configuration and browser origins."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

pytestmark = pytest.mark.e2e

JSON = dict[str, Any]
StartGateway = Callable[[Mapping[str, str]], AbstractContextManager[str]]
REPO_ROOT = Path(__file__).resolve().parents[1]
UPSTREAM_TIMEOUT_S = 1.0
ALLOWED_ORIGIN = "http://app.example"
STREAM_WORDS = 80  # with the engine's 20 ms between chunks: a stream of about 1.7 s


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def words(count: int) -> str:
    return " ".join(f"w{i}" for i in range(count))


@pytest.fixture(scope="module")
def tuned_gateway_url(start_gateway: StartGateway) -> Iterator[str]:
    """A gateway with a 1 s upstream timeout and one allowed browser origin, set by env."""
    overrides = {
        "GATEWAY_UPSTREAM_TIMEOUT_S": str(UPSTREAM_TIMEOUT_S),
        "GATEWAY_CORS_ALLOW_ORIGINS": f"{ALLOWED_ORIGIN}, http://admin.example",
    }
    with start_gateway(overrides) as url:
        yield url


@pytest.fixture
def client(gateway_url: str, local_key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=local_key, max_retries=0) as sdk:
        yield sdk


def engine_stats(engine_url: str) -> JSON:
    stats: JSON = httpx.get(f"{engine_url}/debug/stats", timeout=5).json()
    return stats


def post(gateway_url: str, key: str, content: bytes) -> httpx.Response:
    return httpx.post(
        f"{gateway_url}/v1/chat/completions",
        content=content,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=10,
    )


def assert_server_error(error: openai.APIStatusError, status: int, gateway_url: str) -> str:
    assert isinstance(error, openai.InternalServerError)
    assert error.status_code == status
    assert error.type == "server_error"
    assert isinstance(error.body, dict)
    assert error.body["doc_url"].startswith(f"{gateway_url}/docs/compatibility#")
    message: str = error.body["message"]
    return message


# ---------------------------------------------------------------- engine failures


@pytest.mark.parametrize(
    ("model", "stream", "status", "wording"),
    [
        ("fail-500", False, 502, "failed (HTTP 500)"),
        ("fail-500", True, 502, "failed (HTTP 500)"),
        ("fail-garbage", False, 502, "returned an invalid response"),
        ("fail-disconnect", False, 502, "returned an invalid response"),
        ("offline-model", False, 503, "is unavailable"),
        ("offline-model", True, 503, "is unavailable"),
    ],
)
def test_engine_failure_is_a_server_error_status(
    client: openai.OpenAI, gateway_url: str, model: str, stream: bool, status: int, wording: str
) -> None:
    # Streamed garbage and disconnects start with a 200: see the mid-stream error test.
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model=model, messages=user("x"), stream=stream)
    message = assert_server_error(raised.value, status, gateway_url)
    assert f"'{model}'" in message and wording in message


@pytest.mark.parametrize("model", ["fail-garbage", "fail-disconnect"])
def test_engine_failing_after_a_200_stream_start_ends_in_an_error_event(
    client: openai.OpenAI, gateway_url: str, model: str
) -> None:
    stream = client.chat.completions.create(model=model, messages=user("x"), stream=True)
    with stream, pytest.raises(openai.APIError) as raised:
        list(stream)
    assert "returned an invalid response" in raised.value.message
    assert isinstance(raised.value.body, dict) and raised.value.body["type"] == "server_error"
    assert raised.value.body["doc_url"].startswith(f"{gateway_url}/docs/compatibility#")


def test_slow_engine_is_504_after_the_upstream_timeout(
    tuned_gateway_url: str, local_key: str
) -> None:
    with openai.OpenAI(
        base_url=f"{tuned_gateway_url}/v1", api_key=local_key, max_retries=0
    ) as client:
        for stream in (False, True):
            started = time.monotonic()
            with pytest.raises(openai.InternalServerError) as raised:
                client.chat.completions.create(model="fail-slow", messages=user("x"), stream=stream)
            elapsed = time.monotonic() - started
            message = assert_server_error(raised.value, 504, tuned_gateway_url)
            assert "timed out" in message
            assert UPSTREAM_TIMEOUT_S - 0.1 <= elapsed < UPSTREAM_TIMEOUT_S + 3


def test_steady_stream_longer_than_the_upstream_timeout_completes(
    tuned_gateway_url: str, local_key: str
) -> None:
    """The upstream timeout bounds each wait for the engine, not a whole generation."""
    with openai.OpenAI(
        base_url=f"{tuned_gateway_url}/v1", api_key=local_key, max_retries=0
    ) as client:
        started = time.monotonic()
        stream = client.chat.completions.create(
            model="chat-plain", messages=user(words(STREAM_WORDS)), stream=True
        )
        with stream:
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        elapsed = time.monotonic() - started
    assert elapsed > UPSTREAM_TIMEOUT_S
    assert text == f"Echo: {words(STREAM_WORDS)}"


def test_engine_stalling_mid_stream_ends_the_stream_with_a_timed_out_error_event(
    tuned_gateway_url: str, local_key: str
) -> None:
    with openai.OpenAI(
        base_url=f"{tuned_gateway_url}/v1", api_key=local_key, max_retries=0
    ) as client:
        started = time.monotonic()
        stream = client.chat.completions.create(
            model="chat-stalling", messages=user("stall"), stream=True
        )
        received: list[str] = []
        with stream, pytest.raises(openai.APIError) as raised:
            for chunk in stream:
                received += [c.delta.role or "" for c in chunk.choices]
        elapsed = time.monotonic() - started
    assert received == ["assistant"]  # the first chunk came, then the engine went quiet
    assert "'chat-stalling' timed out" in raised.value.message
    assert UPSTREAM_TIMEOUT_S - 0.1 <= elapsed < UPSTREAM_TIMEOUT_S + 3


def test_engine_400_passes_through_with_message_and_param(
    client: openai.OpenAI, gateway_url: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="fail-400", messages=user("x"))
    assert raised.value.param == "temperature"
    assert isinstance(raised.value.body, dict)
    assert raised.value.body["message"] == "engine says no"
    assert raised.value.body["doc_url"].startswith(f"{gateway_url}/docs/compatibility#")


def test_client_leaving_mid_stream_cancels_the_engines_stream(
    gateway_url: str, local_key: str, e2e_engine_url: str
) -> None:
    before = engine_stats(e2e_engine_url)
    body = {"model": "chat-plain", "messages": user(words(200)), "stream": True}
    headers = {"Authorization": f"Bearer {local_key}"}
    with (
        httpx.Client(timeout=10) as http,
        http.stream(
            "POST", f"{gateway_url}/v1/chat/completions", json=body, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        lines = (line for line in response.iter_lines() if line.startswith("data: "))
        assert '"role":"assistant"' in next(lines)
        next(lines)
    # Leaving the block closes the socket 2 chunks into a ~4 s stream.
    deadline = time.monotonic() + 5
    while engine_stats(e2e_engine_url)["streams_cancelled"] == before["streams_cancelled"]:
        assert time.monotonic() < deadline, "the engine's stream outlived the client"
        time.sleep(0.05)
    after = engine_stats(e2e_engine_url)
    assert after["streams_started"] == before["streams_started"] + 1
    assert after["streams_cancelled"] == before["streams_cancelled"] + 1
    assert after["streams_completed"] == before["streams_completed"]


# ---------------------------------------------------------------- bad bodies


BAD_BODIES = {
    "not JSON": b"{this is not json",
    "not an object": b'[{"model": "chat-plain"}]',
    "nested 10,000 deep": b'{"model": "chat-plain", "messages": '
    + b"[" * 10_000
    + b"]" * 10_000
    + b"}",
    "nested objects 10,000 deep": b'{"metadata": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001,
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_body_is_400_and_the_gateway_keeps_serving(
    gateway_url: str, local_key: str, gateway_process: subprocess.Popen[bytes], name: str
) -> None:
    response = post(gateway_url, local_key, BAD_BODIES[name])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["doc_url"].startswith(f"{gateway_url}/docs/compatibility#")
    assert gateway_process.poll() is None
    healthy = post(
        gateway_url,
        local_key,
        b'{"model": "chat-plain", "messages": [{"role": "user", "content": "still here"}]}',
    )
    assert healthy.status_code == 200


# ---------------------------------------------------------------- bad configuration


def run_serve(environment: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway.serve"],
        cwd=REPO_ROOT,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def assert_clear_config_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("configuration error: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_serve_with_a_catalog_naming_an_unknown_engine_exits_with_a_clear_message(
    tmp_path: Path, gateway_config: Path
) -> None:
    catalog = yaml.safe_load((gateway_config.parent / "catalog.yaml").read_text())
    catalog["models"][0]["engine"] = "no-such-engine"
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    config = yaml.safe_load(gateway_config.read_text())
    config["catalog"] = str(tmp_path / "catalog.yaml")
    config["keys"] = str(gateway_config.parent / "keys.yaml")
    (tmp_path / "gateway.yaml").write_text(yaml.safe_dump(config))
    result = run_serve({"GATEWAY_CONFIG": str(tmp_path / "gateway.yaml")})
    assert_clear_config_error(result, "catalog.yaml", "'no-such-engine'", "engines: ")


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("GATEWAY_PORT", "notanumber", "port"),
        ("GATEWAY_PORT", "70000", "port must be 1..65535"),
        ("GATEWAY_UPSTREAM_TIMEOUT_S", "soon", "upstream_s"),
        ("GATEWAY_REDIS_URL", "localhost:6379", "redis_url must start with"),
        ("GATEWAY_CORS_ALLOW_ORIGINS", "*", "'*' is not allowed"),
    ],
)
def test_serve_with_a_bad_environment_override_exits_with_a_clear_message(
    gateway_config: Path, variable: str, value: str, fragment: str
) -> None:
    result = run_serve({"GATEWAY_CONFIG": str(gateway_config), variable: value})
    assert_clear_config_error(result, str(gateway_config), fragment)


def test_serve_with_a_missing_config_file_exits_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    result = run_serve({"GATEWAY_CONFIG": str(missing)})
    assert_clear_config_error(result, str(missing), "cannot read")


# ---------------------------------------------------------------- CORS


def test_no_browser_origin_is_allowed_by_default(gateway_url: str, local_key: str) -> None:
    response = httpx.get(
        f"{gateway_url}/v1/models",
        headers={"Authorization": f"Bearer {local_key}", "Origin": ALLOWED_ORIGIN},
        timeout=10,
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(
        f"{gateway_url}/v1/chat/completions",
        headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_allowlisted_origin_gets_cors_headers_and_others_do_not(
    tuned_gateway_url: str, local_key: str
) -> None:
    def models(origin: str) -> httpx.Response:
        return httpx.get(
            f"{tuned_gateway_url}/v1/models",
            headers={"Authorization": f"Bearer {local_key}", "Origin": origin},
            timeout=10,
        )

    allowed = models(ALLOWED_ORIGIN)
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "retry-after" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in models("http://evil.example").headers
    preflight = httpx.options(
        f"{tuned_gateway_url}/v1/chat/completions",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]


# ---------------------------------------------------------------- body size and model category


def test_body_over_the_size_limit_is_a_413_and_the_gateway_keeps_serving(
    start_gateway: StartGateway, local_key: str
) -> None:
    with start_gateway({"GATEWAY_MAX_BODY_BYTES": "4096"}) as url:
        big = b'{"model": "chat-full", "messages": [{"role": "user", "content": "'
        response = post(url, local_key, big + b"x" * 10_000 + b'"}]}')
        assert response.status_code == 413
        assert response.json()["error"]["message"].startswith("Request body too large")
        small = b'{"model": "chat-full", "messages": [{"role": "user", "content": "hi"}]}'
        assert post(url, local_key, small).status_code == 200


def test_model_of_a_category_the_endpoint_does_not_serve_is_a_404_naming_model(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.NotFoundError) as failure:
        client.chat.completions.create(model="embed-model", messages=user("hi"))
    assert failure.value.param == "model"
    assert isinstance(failure.value.body, dict)
    assert failure.value.body["message"].startswith(
        "Model 'embed-model' (category embeddings) is not served on POST /v1/chat/completions."
    )
