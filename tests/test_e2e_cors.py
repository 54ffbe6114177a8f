"""End to end: CORS headers as a browser sees them, for allowed and other origins."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager

import httpx
import pytest

pytestmark = pytest.mark.e2e

StartGateway = Callable[[Mapping[str, str]], AbstractContextManager[str]]
ALLOWED = "http://app.example"
# What the openai JavaScript SDK's requests carry (its preflight asks for them all).
SDK_HEADERS = (
    "authorization, content-type, openai-beta, x-stainless-arch, x-stainless-lang, "
    "x-stainless-os, x-stainless-package-version, x-stainless-retry-count, "
    "x-stainless-runtime, x-stainless-runtime-version, x-stainless-timeout"
)


@pytest.fixture(scope="module")
def cors_gateway(start_gateway: StartGateway) -> Iterator[str]:
    with start_gateway({"GATEWAY_CORS_ALLOW_ORIGINS": ALLOWED}) as url:
        yield url


def preflight(url: str, origin: str, headers: str = SDK_HEADERS) -> httpx.Response:
    request_headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": headers,
    }
    return httpx.options(f"{url}/v1/chat/completions", headers=request_headers, timeout=10)


def cors_headers(response: httpx.Response) -> list[str]:
    return [name for name in response.headers if name.lower().startswith("access-control-")]


def test_preflight_of_the_js_sdks_headers_from_an_allowed_origin_passes(
    cors_gateway: str,
) -> None:
    answer = preflight(cors_gateway, ALLOWED)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    allowed = {h.strip() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert allowed == {h.strip() for h in SDK_HEADERS.split(",")}


def test_preflight_of_the_client_request_id_header_passes(cors_gateway: str) -> None:
    answer = preflight(cors_gateway, ALLOWED, "authorization, x-client-request-id")
    assert answer.status_code == 200
    assert "x-client-request-id" in answer.headers["access-control-allow-headers"]


def test_preflight_of_an_unknown_header_is_a_400_envelope(cors_gateway: str) -> None:
    answer = preflight(cors_gateway, ALLOWED, "authorization, x-custom-thing")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "CORS request refused: header(s) x-custom-thing not allowed."
    )


def test_a_disallowed_origin_gets_no_access_control_header_at_all(
    cors_gateway: str, local_key: str
) -> None:
    refused = preflight(cors_gateway, "http://evil.example")
    assert refused.status_code == 400
    assert cors_headers(refused) == []
    assert refused.json()["error"]["type"] == "invalid_request_error"
    answered = httpx.get(
        f"{cors_gateway}/v1/models",
        headers={"Origin": "http://evil.example", "Authorization": f"Bearer {local_key}"},
        timeout=10,
    )
    assert answered.status_code == 200
    assert cors_headers(answered) == []


def test_allowed_origin_may_read_rate_limit_retry_and_request_id_headers(
    cors_gateway: str, local_key: str
) -> None:
    answer = httpx.get(
        f"{cors_gateway}/v1/models",
        headers={"Origin": ALLOWED, "Authorization": f"Bearer {local_key}"},
        timeout=10,
    )
    exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
    ratelimit = {name for name in answer.headers if name.startswith("x-ratelimit-")}
    assert len(ratelimit) == 6
    assert ratelimit | {"retry-after", "retry-after-ms", "x-request-id"} <= exposed
