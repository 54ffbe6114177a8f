"""How the app answers errors, driven through its real middleware stack and routes.

The app is the one `build_app` wires (exception handlers, routes, lifespan),
with one extra route that raises; requests go through Starlette's TestClient,
which runs the same ASGI stack as uvicorn (ServerErrorMiddleware outermost,
then ExceptionMiddleware, then the router). Errors must come out in OpenAI's
envelope, never with internals.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException, StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import Response

from gateway.app import build_app
from gateway.catalog import Catalog, IndexedCatalog
from gateway.config import Config
from gateway.errors import ApiError
from gateway.http.auth import KeyRecord, KeyStore, hash_key

with warnings.catch_warnings(action="ignore", category=StarletteDeprecationWarning):
    # starlette 1.10 warns on import when only httpx (not httpx2) is installed, and
    # pytest turns warnings into errors; the TestClient works the same with either.
    from starlette.testclient import TestClient

KEY = "sk-test-app-errors-000000000000000000000"
SECRET = "KeyError('sk-live-do-not-leak') at /srv/gateway/http/handlers.py line 42"
CRASH_MESSAGE = "The server had an error while processing your request. Sorry about that!"
DOCS = "http://gateway.test/docs/compatibility"


async def crashing(request: Request) -> Response:
    raise RuntimeError(SECRET)


async def conflicting(request: Request) -> Response:
    raise HTTPException(409, "Already in progress.", headers={"retry-after": "7"})


async def refusing(request: Request) -> Response:
    raise ApiError(
        429, "Slow down.", type="requests", code="rate_limit_exceeded", headers={"retry-after": "3"}
    )


def app() -> Starlette:
    config = Config(catalog="c.yaml", keys="k.yaml", public_base_url="http://gateway.test")
    record = KeyRecord(id="k", rpm=1000, tpm=1_000_000)
    built = build_app(
        config, IndexedCatalog(Catalog(engines={}, models=[])), KeyStore({hash_key(KEY): record})
    )
    built.add_route("/v1/crash", crashing, methods=["POST"])
    built.add_route("/v1/refuse", refusing, methods=["POST"])
    built.add_route("/v1/conflict", conflicting, methods=["POST"])
    return built


@pytest.fixture
def client() -> Iterator[TestClient]:
    # Should a crash reach ServerErrorMiddleware it is re-raised after the 500 is sent
    # (for the server to log); the client must show the 500 the API user gets instead.
    # An unauthenticated Host header: doc_url must come from public_base_url, not from it.
    with TestClient(app(), base_url="http://evil.example", raise_server_exceptions=False) as c:
        yield c


def test_route_that_crashes_answers_a_500_envelope_without_internals_and_logs_it(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="gateway"):
        response = client.post("/v1/crash", content=b"{}")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": CRASH_MESSAGE,
            "type": "server_error",
            "param": None,
            "code": None,
            "doc_url": f"{DOCS}#errors",
        }
    }
    assert SECRET not in response.text
    logged = [
        r for r in caplog.records if r.name.startswith("gateway") and r.levelno >= logging.ERROR
    ]
    assert len(logged) == 1 and SECRET in caplog.text  # the operator still sees what happened


def test_crash_inside_a_generated_route_is_the_same_500(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(header: str | None) -> KeyRecord:
        raise KeyError(SECRET)

    monkeypatch.setattr(client.app.state.gateway.keys, "authenticate", broken)  # type: ignore[attr-defined]
    response = client.post("/v1/chat/completions", content=b"{}")
    assert response.status_code == 500
    assert response.json()["error"]["message"] == CRASH_MESSAGE
    assert SECRET not in response.text


def test_api_error_raised_by_a_route_keeps_its_status_headers_and_words(
    client: TestClient,
) -> None:
    response = client.post("/v1/refuse")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"] == {
        "message": "Slow down.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
        "doc_url": f"{DOCS}#errors",
    }


def test_path_no_route_serves_is_openais_invalid_url_404(client: TestClient) -> None:
    response = client.post("/v1/no-such-thing", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["message"] == "Invalid URL (POST /v1/no-such-thing)"
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)


def test_wrong_method_on_a_served_path_is_invalid_url_404_keeping_allow(
    client: TestClient,
) -> None:
    # api.openai.com answers a method its path does not serve as it answers an unknown
    # path; the router's Allow header stays, for whoever reads headers.
    response = client.put("/v1/embeddings", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (PUT /v1/embeddings)"
    assert response.headers["allow"] == "POST"


def test_other_http_exception_keeps_its_status_headers_and_detail(client: TestClient) -> None:
    response = client.post("/v1/conflict")
    assert response.status_code == 409
    assert response.headers["retry-after"] == "7"
    error = response.json()["error"]
    assert (error["message"], error["type"]) == ("Already in progress.", "invalid_request_error")
