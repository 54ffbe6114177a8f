"""The forwarded endpoints' lean ASGI path (gateway.http.lean) answers as Starlette did.

The app is the one `build_app` wires, through Starlette's TestClient; one extra
route raises, through Starlette's exception handlers, the same refusal the lean
path answers itself, so the two answers can be compared byte for byte.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import Response

from gateway.app import build_app
from gateway.catalog import Catalog, IndexedCatalog
from gateway.config import Config
from gateway.http.auth import KeyRecord, KeyStore, hash_key
from gateway.http.lean import lean_routes
from generated.routes import build_routes

with warnings.catch_warnings(action="ignore", category=StarletteDeprecationWarning):
    # starlette 1.10 warns on import when only httpx (not httpx2) is installed.
    from starlette.testclient import TestClient

KEY = "sk-test-lean-path-0000000000000000000000"
FORWARDED = {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"}


async def unauthenticated(request: Request) -> Response:
    request.app.state.gateway.keys.authenticate(None)  # raises the 401 ApiError
    raise AssertionError("authenticate(None) returned")


def app() -> Starlette:
    config = Config(catalog="c.yaml", keys="k.yaml", public_base_url="http://gateway.test")
    record = KeyRecord(id="k", rpm=1000, tpm=1_000_000)
    built = build_app(
        config, IndexedCatalog(Catalog(engines={}, models=[])), KeyStore({hash_key(KEY): record})
    )
    built.add_route("/v1/starlette-401", unauthenticated, methods=["POST"])
    return built


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app(), raise_server_exceptions=False) as c:
        yield c


def test_exactly_the_forwarded_post_endpoints_of_the_generated_routes_take_the_lean_path(
    client: TestClient,
) -> None:
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    assert set(lean_routes(build_routes(gateway))) == FORWARDED


@pytest.mark.parametrize("path", sorted(FORWARDED))
def test_a_lean_refusal_has_the_bytes_and_header_order_starlette_answered_with(
    client: TestClient, path: str
) -> None:
    lean = client.post(path, content=b"{}")
    through_starlette = client.post("/v1/starlette-401", content=b"{}")

    def head(response: object) -> list[tuple[str, str]]:
        return [(k, v) for k, v in response.headers.items() if k != "x-request-id"]  # type: ignore[attr-defined]

    assert lean.status_code == through_starlette.status_code == 401
    assert lean.content == through_starlette.content
    assert head(lean) == head(through_starlette)
    assert lean.headers["x-request-id"].startswith("req_")


def test_other_methods_on_a_forwarded_path_still_go_through_the_router(
    client: TestClient,
) -> None:
    listing = client.get("/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"})
    deleted = client.delete("/v1/embeddings", headers={"authorization": f"Bearer {KEY}"})
    assert listing.status_code == 404
    assert "Completions are not stored" in listing.json()["error"]["message"]
    assert deleted.status_code == 404
    assert deleted.json()["error"]["message"] == "Invalid URL (DELETE /v1/embeddings)"
